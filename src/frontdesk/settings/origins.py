"""The site origins an entry allows credentialed CORS from: ``scheme://host[:port]``.

The rule (and its strict wildcards) is ``frontdesk.protocol.origins``, shared with the server's
matching of ``Origin`` headers; this module only turns its verdict into a configuration error.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from frontdesk.protocol.origins import check_origin_pattern
from frontdesk.settings.errors import field_error

HINT = "scheme://host[:port] with scheme http or https and no path, e.g. https://www.example.com"


def _origin(text: str) -> str:
    try:
        return check_origin_pattern(text)
    except ValueError as exc:
        raise field_error(f"{text!r}: {exc}") from None


Origin = Annotated[str, AfterValidator(_origin), Field(description=HINT)]
