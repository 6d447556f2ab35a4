"""Identifier generation. Chat, file and token ids are unguessable: they are capabilities."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

# scrypt$<salt as hex>$<32-byte digest as hex>: what hash_password writes
_SCRYPT_HASH = re.compile(r"scrypt\$(?:[0-9a-f]{2}){1,64}\$[0-9a-f]{64}")


def new_chat_id() -> str:
    return str(uuid.uuid4())


def new_party_id() -> str:
    return str(uuid.uuid4())


def new_msg_id() -> str:
    # not a small integer: the web widget treats numeric ids below its own counter as old
    return uuid.uuid4().hex


def new_file_id() -> str:
    return secrets.token_urlsafe(24)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_visitor_cookie() -> str:
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a browser session: derived from the session's secret (which the page's
    scripts never see), so it cannot be forged without it and needs no storage of its own."""
    return hashlib.sha256(f"frontdesk-csrf:{session_token}".encode()).hexdigest()


def is_scrypt_hash(stored: str) -> bool:
    """Whether ``stored`` is a password hash ``verify_password`` can check (``scrypt$salt$digest``)."""
    return _SCRYPT_HASH.fullmatch(stored) is not None


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for anything that is not a scrypt hash. Takes
    tens of milliseconds of CPU: call it off the event loop."""
    if not is_scrypt_hash(stored):
        return False
    salt_hex = stored.split("$")[1]
    candidate = hash_password(password, bytes.fromhex(salt_hex))
    return secrets.compare_digest(candidate, stored)
