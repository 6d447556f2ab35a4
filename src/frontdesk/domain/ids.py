"""Identifier generation. Chat, file and token ids are unguessable: they are capabilities."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

# what hash_password produces: scheme, 16 bytes of salt and a 32-byte digest, in hex
_PASSWORD_HASH = re.compile(r"scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}")


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


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def is_password_hash(text: str) -> bool:
    """Whether ``text`` has the form ``hash_password`` gives (what a configuration may name)."""
    return _PASSWORD_HASH.fullmatch(text) is not None


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, _digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hash_password(password, bytes.fromhex(salt_hex))
    return secrets.compare_digest(candidate, stored)
