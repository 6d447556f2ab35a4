"""The site origins an entry allows credentialed CORS from: ``scheme://host[:port]``.

The scheme is http or https; there is no path, query or fragment (not even a trailing ``/``). A
``*`` may stand only for a whole leading host label (``https://*.example.com``: any subdomain, not
example.com itself) or for the port (``http://localhost:*``). Host names are lower-cased.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from frontdesk.settings.errors import field_error

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ORIGIN = re.compile(
    rf"(?P<scheme>https?)://(?P<host>(?:\*\.)?{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::(?P<port>\*|\d{{1,5}}))?")

HINT = "scheme://host[:port] with scheme http or https and no path, e.g. https://www.example.com"


def _origin(text: str) -> str:
    origin = text.lower()
    match = _ORIGIN.fullmatch(origin)
    if match is None:
        if "*" in origin:
            raise field_error(f"'{text}': '*' may only be a whole leading host label (https://*.example.com) "
                              "or the port (http://localhost:*)")
        raise field_error(f"'{text}' is not an origin ({HINT})")
    port = match.group("port")
    if port and port != "*" and not 1 <= int(port) <= 65535:
        raise field_error(f"'{text}': the port must be between 1 and 65535")
    return origin


Origin = Annotated[str, AfterValidator(_origin), Field(description=HINT)]
