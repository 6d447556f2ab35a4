"""Parsing of the ``MOBILE-API-140-327-PLAIN`` Authorization header.

Real clients send the parameters quoted (web widgets, spchat, Java SDK) or unquoted (Android,
iOS), in any order, with or without a space after the comma.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from frontdesk.protocol.errors import ApiError, ErrorCode

SCHEME = "MOBILE-API-140-327-PLAIN"
WEBCHAT_CLIENT_ID = "WebChat"

_PARAM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"([^"]*)"|([^,"]*?))\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Credentials:
    app_id: str
    client_id: str

    @property
    def is_webchat(self) -> bool:
        return self.client_id == WEBCHAT_CLIENT_ID


def parse_authorization(header: str | None) -> Credentials:
    """Return the appId and clientId of a header value, or raise the documented 2000–2004 error."""
    if header is None or not header.strip():
        raise ApiError(ErrorCode.NO_AUTH_HEADER)
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if scheme != SCHEME:
        raise ApiError(ErrorCode.AUTH_SCHEME)
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None or match.end() == pos:
            raise ApiError(ErrorCode.AUTH_FORMAT)
        name = match.group(1)
        params[name] = match.group(2) if match.group(2) is not None else (match.group(3) or "").strip()
        pos = match.end()
    if not params:
        raise ApiError(ErrorCode.AUTH_FORMAT)
    app_id = params.get("appId", "")
    client_id = params.get("clientId", "")
    if not app_id:
        raise ApiError(ErrorCode.AUTH_NO_APP_ID)
    if not client_id:
        raise ApiError(ErrorCode.AUTH_NO_CLIENT_ID)
    return Credentials(app_id=app_id, client_id=client_id)
