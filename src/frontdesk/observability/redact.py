"""The one rule that keeps secrets out of log lines: tokens, WebSocket tickets, passwords,
``Authorization`` and cookies are never printed, whatever logs them (our code, uvicorn, a library).

``redact_text`` masks them inside text (URLs with ``?token=``/``?ticket=`` or a password,
``Bearer …``, ``Cookie:`` headers); ``redact_fields`` masks a structlog event's fields by name and its text
values; ``RedactingFilter`` does the same to a standard-library record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

MASK = "***"
# field names whose value is a secret, whatever it looks like
SECRET_FIELDS = frozenset({"token", "ticket", "password", "password_hash", "authorization", "cookie", "cookies",
                           "set_cookie", "secret", "credential", "session_cookie", "access_token"})
_QUERY_SECRET = re.compile(r"([?&;](?:token|ticket|access_token|password|session)=)[^&\s\"';]*", re.IGNORECASE)
# the password of a URL: postgresql://user:password@host, redis://:password@host
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"(\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
# a header as a library's debug line prints it: (b'cookie', b'…'), ('Authorization', '…')
_HEADER_PAIR = re.compile(r"(\(b?['\"](?:authorization|cookie|set-cookie|proxy-authorization)['\"],\s*b?['\"])"
                          r"[^'\"]*", re.IGNORECASE)
_HEADER = re.compile(r"((?:^|[\s\"'{,])(?:authorization|cookie|set-cookie)[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]*",
                     re.IGNORECASE)


def _may_hold_secret(text: str) -> bool:
    """Whether any pattern below could match ``text``: each needs a mark this checks for cheaply
    (``=``, whitespace, ``(``, ``://`` with ``@``, or a header name with ``:``). Ids, paths without
    a query and client addresses (``10.0.0.1:5000``) have none, so they skip the regexes."""
    if not text.isascii() or "=" in text or " " in text or "(" in text or not text.isprintable():
        return True  # (non-ASCII: the patterns ignore case the Unicode way; not printable: other spaces)
    if "@" in text and "://" in text:
        return True
    if ":" in text:
        lower = text.lower()
        return "cookie" in lower or "authorization" in lower
    return False


def redact_text(text: str) -> str:
    """``text`` with every credential it carries masked."""
    if not _may_hold_secret(text):
        return text  # nothing any pattern could match (the common case, cheaply)
    text = _QUERY_SECRET.sub(r"\1" + MASK, text)
    text = _URL_PASSWORD.sub(r"\1" + MASK + "@", text)
    text = _AUTH_SCHEME.sub(r"\1" + MASK, text)
    text = _HEADER_PAIR.sub(r"\1" + MASK, text)
    return _HEADER.sub(r"\1" + MASK, text)


def _redact_value(key: str, value: Any) -> Any:
    if key.lower().replace("-", "_") in SECRET_FIELDS:
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value("", v) for v in value]
    return value


def redact_fields(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret fields by name and credentials inside text values."""
    for key, value in event.items():
        event[key] = _redact_value(key, value)
    return event


class RedactingFilter(logging.Filter):
    """Masks credentials in a standard-library record's message and arguments (uvicorn's
    ``WebSocket /agent/api/v1/ws?ticket=…`` lines), for whichever handler prints it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
        return True
