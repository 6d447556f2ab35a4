"""Who is calling: tenant (``tenantUrl`` or Host), scenario entry (``appId``), client and cookie."""

from __future__ import annotations

import functools
from http.cookies import SimpleCookie

from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.types import Scope

from frontdesk.domain.config import ContactCenterConfig, TenantConfig
from frontdesk.domain.customers import CustomerIdentity
from frontdesk.domain.ids import new_visitor_cookie
from frontdesk.protocol.auth import parse_authorization
from frontdesk.protocol.errors import ApiError, ErrorCode
from frontdesk.protocol.origins import OriginVerdict, judge_origin
from frontdesk.protocol.tenant import normalise_tenant

VISITOR_COOKIE = "fd_visitor"
VISITOR_COOKIE_MAX_AGE_SECS = 365 * 24 * 3600


def query_params(scope: Scope) -> QueryParams:
    """The request's query parameters, parsed once per distinct query string: a chat's polls all
    send the same one (``QueryParams`` is immutable, so one parse serves them all)."""
    return _parsed_query(bytes(scope.get("query_string", b"")))


@functools.lru_cache(maxsize=1024)
def _parsed_query(raw: bytes) -> QueryParams:
    return QueryParams(raw)


def find_tenant(config: ContactCenterConfig, headers: Headers, query: QueryParams) -> TenantConfig | None:
    """The tenant a request names by ``tenantUrl``, else by its Host, else the default."""
    tenant_url = normalise_tenant(query.get("tenantUrl"))
    if tenant_url:  # the Host is not consulted then
        return config.resolve_tenant(tenant_url, "")
    return config.resolve_tenant("", normalise_tenant(headers.get("host")))


def resolve_tenant(config: ContactCenterConfig, request: Request) -> TenantConfig:
    tenant = find_tenant(config, request.headers, query_params(request.scope))
    if tenant is None:
        raise ApiError(ErrorCode.BAD_TENANT_URL)
    return tenant


def identify(config: ContactCenterConfig, request: Request) -> tuple[CustomerIdentity, str | None]:
    """The caller's identity, and a new visitor cookie to set when a WebChat browser has none.

    A page on a site the entry does not allow (``allowed_origins``) never reaches the visitor
    cookie: it is neither read nor set, so such a request acts like a cookie-less SDK client (the
    CORS middleware has already refused one that carried the cookie)."""
    tenant = resolve_tenant(config, request)
    credentials = parse_authorization(request.headers.get("authorization"))
    entry = tenant.entries.get(credentials.app_id)
    if entry is None:
        raise ApiError(ErrorCode.BAD_APP_ID)
    headers = request.headers
    verdict = judge_origin(headers.get("origin"), request.scope.get("scheme", "http"), headers.get("host"),
                           entry.allowed_origins)
    uses_cookie = credentials.is_webchat and verdict is not OriginVerdict.FOREIGN
    # the identity carries only a cookie the browser presented: a chat is bound to a visitor cookie
    # only when the browser showed it holds one (see domain/customers.py)
    cookie = request.cookies.get(VISITOR_COOKIE, "") if uses_cookie else ""
    new_cookie = new_visitor_cookie() if uses_cookie and not cookie else None
    identity = CustomerIdentity(tenant=tenant, entry=entry, client_id=credentials.client_id,
                                visitor_cookie=cookie)
    return identity, new_cookie


def visitor_cookie_header(value: str, secure: bool) -> str:
    """Set-Cookie for the WebChat visitor: cross-site (the widget runs on the customer's site), so
    ``SameSite=None``; what keeps other sites from using it is the origin check (``allowed_origins``)."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[VISITOR_COOKIE] = value
    morsel = cookie[VISITOR_COOKIE]
    morsel["path"] = "/clientweb"
    morsel["max-age"] = str(VISITOR_COOKIE_MAX_AGE_SECS)
    morsel["httponly"] = True
    if secure:
        morsel["secure"] = True
        morsel["samesite"] = "None"
    else:
        morsel["samesite"] = "Lax"
    return morsel.OutputString()
