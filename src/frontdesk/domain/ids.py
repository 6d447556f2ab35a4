"""Identifier generation. Chat, file and token ids are unguessable: they are capabilities."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

PASSWORD_COST = 14  # scrypt N = 2**14, r = 8: about 16 MiB and tens of milliseconds per hash
MIN_PASSWORD_COST, MAX_PASSWORD_COST = 4, PASSWORD_COST  # a stored hash can never make a login dearer
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


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a browser session: derived from the session's secret (which the page's
    scripts never see), so it cannot be forged without it and needs no storage of its own."""
    return hashlib.sha256(f"frontdesk-csrf:{session_token}".encode()).hexdigest()


def hash_password(password: str, salt: bytes | None = None, cost: int = PASSWORD_COST) -> str:
    """An scrypt hash with N = 2**cost. The default cost gives ``scrypt$<salt>$<digest>`` (what
    ``frontdesk hash-password`` prints and a configuration may name); another cost is written into
    the hash (``scrypt$<cost>$<salt>$<digest>``): a cheaper one is for tests only (a setting)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**cost, r=8, p=1, dklen=32)
    if cost == PASSWORD_COST:
        return f"scrypt${salt.hex()}${digest.hex()}"
    return f"scrypt${cost}${salt.hex()}${digest.hex()}"


def is_password_hash(text: str) -> bool:
    """Whether ``text`` has the form ``hash_password`` gives at the default cost (what a
    configuration may name)."""
    return _PASSWORD_HASH.fullmatch(text) is not None


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for anything that is not a hash of
    ``hash_password`` (never raises). Takes tens of milliseconds of CPU: call it off the event loop."""
    parts = stored.split("$")
    if len(parts) == 3:
        scheme, salt_hex, cost = parts[0], parts[1], PASSWORD_COST
    elif len(parts) == 4 and parts[1].isdigit() and MIN_PASSWORD_COST <= int(parts[1]) <= MAX_PASSWORD_COST:
        scheme, salt_hex, cost = parts[0], parts[2], int(parts[1])
    else:
        return False
    if scheme != "scrypt":
        return False
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    candidate = hash_password(password, salt, cost)
    return secrets.compare_digest(candidate, stored)
