"""The ICE servers answer of the 2026 web widget: a base64 string, not JSON.

The widget that sends ``sessionId`` on ``GET iceservers`` decrypts the body with the session id:
``base64(salt ‖ iv ‖ AES-256-GCM ciphertext with its 16-byte tag)``, where salt is 16 random bytes,
iv 12 random bytes, the key is PBKDF2-HMAC-SHA256 of the session id (UTF-8) with that salt,
65,536 iterations, 32 bytes, and the plaintext is a JSON array of RTCIceServer objects.

Deriving the key costs tens of milliseconds of CPU, so it runs in a worker thread, once per
session id: the (salt, key) pair of the most recent ``MAX_CACHED_KEYS`` session ids is kept and
each answer only encrypts, with a fresh IV.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

PBKDF2_ITERATIONS = 65_536
SALT_BYTES = 16
IV_BYTES = 12
KEY_BYTES = 32
MAX_CACHED_KEYS = 4096
MAX_SESSION_ID_CHARS = 256


def derive_key(session_id: str, salt: bytes) -> bytes:
    """PBKDF2-HMAC-SHA256 of the session id with the salt (slow on purpose: call it off the loop)."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=PBKDF2_ITERATIONS)
    return kdf.derive(session_id.encode("utf-8"))


def seal(plaintext: bytes, salt: bytes, key: bytes, iv: bytes) -> str:
    """``base64(salt ‖ iv ‖ AES-256-GCM(plaintext) ‖ tag)``."""
    return base64.b64encode(salt + iv + AESGCM(key).encrypt(iv, plaintext, None)).decode("ascii")


def rtc_ice_servers(servers: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The configured servers as RTCIceServer objects: ``urls`` (what browsers read) and ``url``
    (what older widget code converts), with ``username`` and ``credential`` when configured."""
    result = []
    for server in servers:
        item = {"urls": server["url"], "url": server["url"]}
        item.update({k: server[k] for k in ("username", "credential") if k in server})
        result.append(item)
    return result


class IceSealer:
    """Encrypts the ICE servers answer for a session id, deriving each session's key only once."""

    def __init__(self, max_keys: int = MAX_CACHED_KEYS) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()

    async def seal(self, session_id: str, servers: Iterable[Mapping[str, str]]) -> str:
        entry = self._keys.get(session_id)
        if entry is None:
            salt = os.urandom(SALT_BYTES)
            entry = (salt, await asyncio.to_thread(derive_key, session_id, salt))
            self._keys[session_id] = entry
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(session_id)
        salt, key = entry
        return seal(orjson.dumps(rtc_ice_servers(servers)), salt, key, os.urandom(IV_BYTES))
