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


# each pattern with the marks (lower case) a text must hold for it to match: one of the first, all of the
# second. They are checked with ``in`` first, so that a text without any (a path with ``?tenantUrl=…``, an
# id, an address) skips the regexes. A mark lies within every match of its pattern; masking keeps the
# text around a match and puts ``***`` (no mark has a ``*``) in place of a part of it, so a mark that is
# not in the text as given is not in it after the earlier patterns' masks either.
_RULES: tuple[tuple[re.Pattern[str], str, tuple[str, ...], tuple[str, ...]], ...] = (
    (_QUERY_SECRET, r"\1" + MASK, ("token=", "ticket=", "password=", "session="), ()),
    (_URL_PASSWORD, r"\1" + MASK + "@", ("://",), ("@",)),
    (_AUTH_SCHEME, r"\1" + MASK, ("bearer", "basic", "token"), ()),
    (_HEADER_PAIR, r"\1" + MASK, ("authorization", "cookie"), ("(",)),
    (_HEADER, r"\1" + MASK, ("authorization", "cookie"), ()),
)
# one of these is in every text some pattern matches (the first marks of the rules, "token=" in "token")
_ANY_MARK = ("token", "ticket=", "password=", "session=", "://", "bearer", "basic", "authorization", "cookie")


def _may_hold_secret(text: str) -> bool:
    """Whether some pattern could match ``text`` (non-ASCII text: always, the patterns ignore case
    the Unicode way, where the Kelvin sign is a "k" and the long s an "s")."""
    if not text.isascii():
        return True
    return any(map(text.lower().__contains__, _ANY_MARK))


def redact_text(text: str) -> str:
    """``text`` with every credential it carries masked."""
    if not _may_hold_secret(text):
        return text  # the common case, cheaply
    if not text.isascii():
        return mask_every_pattern(text)
    lower = text.lower()
    for pattern, mask, any_of, all_of in _RULES:
        if any(map(lower.__contains__, any_of)) and all(map(lower.__contains__, all_of)):
            text = pattern.sub(mask, text)
    return text


def mask_every_pattern(text: str) -> str:
    """``redact_text`` without the marks: every pattern, in the same order (for non-ASCII text; and
    what the marks are tested against)."""
    for pattern, mask, _, _ in _RULES:
        text = pattern.sub(mask, text)
    return text


# field names seen that are not secret (up to a bound): a line whose names are all here needs no look at them
_PLAIN_KEYS: set[str] = set()
# values that are text, or hold no text a pattern could match
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _secret_key(key: str) -> bool:
    if key in _PLAIN_KEYS:
        return False
    secret = key.lower().replace("-", "_") in SECRET_FIELDS
    if not secret and len(_PLAIN_KEYS) < 4096:
        _PLAIN_KEYS.add(key)
    return secret


def _redact_value(key: str, value: Any) -> Any:
    if _secret_key(key):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value("", v) for v in value]
    return value


def redact_fields(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret fields by name and credentials inside text values.

    The common line — names known not to be secret, values text, numbers, booleans or None — is
    checked all at once: its text values joined by NUL (which no mark holds) are looked at for the marks,
    and only when one is there does each text value go through ``redact_text``."""
    if _PLAIN_KEYS.issuperset(event) and _PLAIN_TYPES.issuperset(map(type, event.values())):
        if _may_hold_secret("\0".join(filter(str.__instancecheck__, event.values()))):
            for key, value in event.items():
                if type(value) is str:
                    event[key] = redact_text(value)
        return event
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
