"""Who is calling: tenant (``tenantUrl`` or Host), scenario entry (``appId``), client and cookie."""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.requests import Request

from frontdesk.domain.config import ContactCenterConfig, TenantConfig
from frontdesk.domain.customers import CustomerIdentity
from frontdesk.domain.ids import new_visitor_cookie
from frontdesk.protocol.auth import parse_authorization
from frontdesk.protocol.errors import ApiError, ErrorCode
from frontdesk.protocol.tenant import normalise_tenant

VISITOR_COOKIE = "fd_visitor"
VISITOR_COOKIE_MAX_AGE_SECS = 365 * 24 * 3600


def resolve_tenant(config: ContactCenterConfig, request: Request) -> TenantConfig:
    tenant_url = normalise_tenant(request.query_params.get("tenantUrl"))
    host = normalise_tenant(request.headers.get("host"))
    tenant = config.resolve_tenant(tenant_url, host)
    if tenant is None:
        raise ApiError(ErrorCode.BAD_TENANT_URL)
    return tenant


def identify(config: ContactCenterConfig, request: Request) -> tuple[CustomerIdentity, str | None]:
    """The caller's identity, and a new visitor cookie to set when a WebChat browser has none."""
    tenant = resolve_tenant(config, request)
    credentials = parse_authorization(request.headers.get("authorization"))
    entry = tenant.entries.get(credentials.app_id)
    if entry is None:
        raise ApiError(ErrorCode.BAD_APP_ID)
    # the identity carries only a cookie the browser presented: a chat is bound to a visitor cookie
    # only when the browser showed it holds one (see domain/customers.py)
    cookie = request.cookies.get(VISITOR_COOKIE, "") if credentials.is_webchat else ""
    new_cookie = new_visitor_cookie() if credentials.is_webchat and not cookie else None
    identity = CustomerIdentity(tenant=tenant, entry=entry, client_id=credentials.client_id,
                                visitor_cookie=cookie)
    return identity, new_cookie


def visitor_cookie_header(value: str, secure: bool) -> str:
    """Set-Cookie for the WebChat visitor: cross-site (the widget runs on the customer's site)."""
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
