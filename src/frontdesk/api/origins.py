"""Which allowed-origin patterns apply to a customer API request, and the verdict on its Origin.

A request that names its entry (an ``Authorization`` header with a known ``appId``) is judged by
that entry's ``allowed_origins``. One that does not, such as a CORS preflight (it never carries
``Authorization`` or cookies) or a file download, is judged by the union of the tenant's entries:
such requests never reach the visitor cookie, so the union is the most a preflight can know.
"""

from __future__ import annotations

from starlette.datastructures import Headers, QueryParams
from starlette.types import Scope

from frontdesk.api.identity import find_tenant, query_params
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.protocol.auth import parse_authorization
from frontdesk.protocol.errors import ApiError
from frontdesk.protocol.origins import OriginVerdict, judge_origin


def applicable_origins(config: ContactCenterConfig, headers: Headers, query: QueryParams) -> tuple[str, ...]:
    tenant = find_tenant(config, headers, query)
    if tenant is None:
        return ()
    try:
        entry = tenant.entries.get(parse_authorization(headers.get("authorization")).app_id)
    except ApiError:
        entry = None
    if entry is not None:
        return entry.allowed_origins
    return tuple(p for e in tenant.entries.values() for p in e.allowed_origins)


def judge_request(config: ContactCenterConfig, scope: Scope, headers: Headers) -> OriginVerdict:
    """The verdict on an HTTP request's Origin (``ABSENT`` without one); ``headers`` are the scope's."""
    origin = headers.get("origin")
    if origin is None:
        return OriginVerdict.ABSENT
    patterns = applicable_origins(config, headers, query_params(scope))
    return judge_origin(origin, scope.get("scheme", "http"), headers.get("host"), patterns)
