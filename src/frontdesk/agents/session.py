"""Browser sessions of the agent API: the cookies ``POST /session`` sets and the CSRF rule.

``fd_session`` carries the session's secret (HttpOnly: page scripts never see it); ``fd_csrf``
carries the session's CSRF token (readable by the page's scripts, derived from the secret by
``csrf_token_for``). Both are ``SameSite=Strict`` and ``Path=/``; ``Secure`` unless the server's
``cookie_secure`` is off (plain-HTTP development). A request authenticated by the cookie whose
method may change state must repeat the CSRF token in the ``X-CSRF-Token`` header.

``authentication`` (the credential) and ``agent_authentication`` (its agent) are the dependencies
every agent, supervisor, report and admin route uses: a bearer token (scripts, no CSRF) or else the
session cookie (browsers, CSRF on state-changing requests).
"""


import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import APIKeyCookie, HTTPBearer
from fastapi.security.base import SecurityBase

from frontdesk.domain.access import AccessService, Credential
from frontdesk.domain.errors import Forbidden
from frontdesk.domain.ids import csrf_token_for
from frontdesk.storage.records import AgentRecord

SESSION_COOKIE = "fd_session"
CSRF_COOKIE = "fd_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = "CSRF token missing or wrong"


def set_session_cookies(response: Response, session_token: str, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, session_token, path="/", secure=secure, httponly=True, samesite="strict")
    response.set_cookie(CSRF_COOKIE, csrf_token_for(session_token), path="/", secure=secure, httponly=False,
                        samesite="strict")


def clear_session_cookies(response: Response, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="strict")


def session_cookie(request: Request) -> str:
    return request.cookies.get(SESSION_COOKIE, "").strip()


def csrf_ok(request: Request, session_token: str) -> bool:
    """Whether a request authenticated by the session cookie may proceed: a safe method, or the
    ``X-CSRF-Token`` header equal to the session's CSRF token (the ``fd_csrf`` cookie's value)."""
    if request.method.upper() in SAFE_METHODS:
        return True
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(sent) and secrets.compare_digest(sent.encode(), csrf_token_for(session_token).encode())


BEARER_DESCRIPTION = "the token from POST /login (scripts; no CSRF header)"
COOKIE_SCHEME = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description="the browser session from POST /session; requests other than GET, "
                                         "HEAD and OPTIONS must carry the fd_csrf cookie's value in X-CSRF-Token")


async def credential_of(access: AccessService, request: Request) -> Credential:
    """The credential a request authenticates with (the rule of ``authentication``); ``HTTPException``
    401 or 403 when it does not."""
    credentials = await _BEARER_SCHEME(request)
    token = credentials.credentials.strip() if credentials else ""
    from_cookie = not token and request.headers.get("authorization") is None
    if from_cookie:
        token = session_cookie(request)
    if not token:
        raise HTTPException(401, "missing bearer token or session cookie", headers={"WWW-Authenticate": "Bearer"})
    try:
        credential = await access.authenticate(token)
    except Forbidden:
        raise HTTPException(401, "invalid or expired token or session",
                            headers={"WWW-Authenticate": "Bearer"}) from None
    if from_cookie and not csrf_ok(request, token):
        raise HTTPException(403, CSRF_REFUSED)
    return credential


_BEARER_SCHEME = HTTPBearer(auto_error=False, description=BEARER_DESCRIPTION)


class _Authentication(SecurityBase):
    """The authentication of a request as one FastAPI dependency that is itself a security scheme:
    FastAPI documents it as the ``HTTPBearer`` scheme (``document_cookie`` adds the cookie scheme
    beside it), and solves one dependency per request, not the three that a dependency on
    ``HTTPBearer`` and ``APIKeyCookie`` would cost."""

    def __init__(self, access: AccessService) -> None:
        self.model = HTTPBearerModel(description=BEARER_DESCRIPTION)
        self.scheme_name = "HTTPBearer"
        self.access = access


class CredentialDependency(_Authentication):
    async def __call__(self, request: Request) -> Credential:
        return await credential_of(self.access, request)


class AgentDependency(_Authentication):
    def __init__(self, access: AccessService, seen: Callable[[Request, Credential], None]) -> None:
        super().__init__(access)
        self.seen = seen

    async def __call__(self, request: Request) -> AgentRecord:
        credential = await credential_of(self.access, request)
        self.seen(request, credential)
        return credential.agent


def authentication(access: AccessService) -> Callable[..., Awaitable[Credential]]:
    """The FastAPI dependency that authenticates a request (401 when it cannot, 403 on a cookie
    request without the right CSRF header). A request with an ``Authorization`` header is judged by
    that header alone."""
    return CredentialDependency(access)


def agent_authentication(access: AccessService,
                         seen: Callable[[Request, Credential], None]) -> Callable[..., Awaitable[AgentRecord]]:
    """``authentication``'s rule as a dependency that answers the agent, after ``seen`` (which
    binds the log context): one dependency where a chain of two would cost FastAPI a level of
    solving on every request."""
    return AgentDependency(access, seen)


def document_cookie(document: dict[str, Any]) -> dict[str, Any]:
    """Add the session cookie scheme to an OpenAPI ``document`` beside every ``HTTPBearer``
    requirement (the dependencies above are documented as that scheme only): a browser may
    authenticate with the cookie wherever a script sends the bearer token."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    if "HTTPBearer" not in schemes:
        return document
    schemes[COOKIE_SCHEME.scheme_name] = jsonable_encoder(COOKIE_SCHEME.model, by_alias=True, exclude_none=True)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            security = operation.get("security", [])
            if {"HTTPBearer": []} in security and {COOKIE_SCHEME.scheme_name: []} not in security:
                security.insert(security.index({"HTTPBearer": []}) + 1, {COOKIE_SCHEME.scheme_name: []})
    return document
