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


def identify(config: ContactCenterConfig, request: Request,
             known_identities: IdentityCache) -> tuple[CustomerIdentity, str | None]:
    """The caller's identity, and a new visitor cookie to set when a WebChat browser has none.

    A page on a site the entry does not allow (``allowed_origins``) never reaches the visitor
    cookie: it is neither read nor set, so such a request acts like a cookie-less SDK client (the
    CORS middleware has already refused one that carried the cookie).

    The identity depends only on the configuration and on what the request says about itself (query
    string, scheme, ``Authorization``, ``Origin``, ``Host``, ``Cookie``), and a chat's requests all
    say the same: it is worked out once per distinct statement and configuration and kept in
    ``known_identities`` (the customer API's)."""
    said = _what_it_says(request.scope)
    known = known_identities.get(config, said) if said is not None else None
    if known is None:
        known = _identify(config, request)
        if said is not None:
            known_identities.put(config, said, known)
    identity, wants_cookie = known
    return identity, new_visitor_cookie() if wants_cookie else None


_SAID_HEADERS = {b"authorization": 0, b"origin": 1, b"host": 2, b"cookie": 3}


def _what_it_says(scope: Scope) -> bytes | None:
    """The parts of a request an identity is worked out from, as sent, in one bytes object (one
    pass over the headers; about 0.3 KiB kept per live session): the query string, the scheme, then
    each header's value, each part after its length (``-`` for an absent header), so that no two
    different requests make the same bytes. None (not remembered) for a request that sends one of
    the headers twice."""
    values: list[bytes | None] = [None, None, None, None]
    for name, value in scope["headers"]:
        slot = _SAID_HEADERS.get(name)
        if slot is not None:
            if values[slot] is not None:
                return None
            values[slot] = value
    parts = (bytes(scope.get("query_string", b"")), str(scope.get("scheme", "http")).encode(), *values)
    return b"".join(b"-" if part is None else b"%d:%b" % (len(part), part) for part in parts)


def _identify(config: ContactCenterConfig, request: Request) -> tuple[CustomerIdentity, bool]:
    """The identity, and whether the caller is a WebChat browser without a visitor cookie."""
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
    identity = CustomerIdentity(tenant=tenant, entry=entry, client_id=credentials.client_id,
                                visitor_cookie=cookie)
    return identity, uses_cookie and not cookie


class IdentityCache:
    """Identities worked out for one configuration, by what their requests said. A new
    configuration (a reload, an admin change) starts an empty cache; beyond ``MAX_KNOWN_IDENTITIES``
    the cache starts again empty. A request that is refused (an ``ApiError``) is not remembered."""

    def __init__(self) -> None:
        self._config: ContactCenterConfig | None = None
        self._known: dict[bytes, tuple[CustomerIdentity, bool]] = {}

    def get(self, config: ContactCenterConfig, said: bytes) -> tuple[CustomerIdentity, bool] | None:
        return self._known.get(said) if config is self._config else None

    def put(self, config: ContactCenterConfig, said: bytes, known: tuple[CustomerIdentity, bool]) -> None:
        if config is not self._config or len(self._known) >= MAX_KNOWN_IDENTITIES:
            self._config, self._known = config, {}
        self._known[said] = known


MAX_KNOWN_IDENTITIES = 50_000  # about one per live session (a chat's requests share one)


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
