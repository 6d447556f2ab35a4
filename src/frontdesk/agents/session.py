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
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

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


_BEARER = HTTPBearer(auto_error=False, description="the token from POST /login (scripts; no CSRF header)")
_COOKIE = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="the browser session from POST /session; requests other than GET, HEAD "
                                   "and OPTIONS must carry the fd_csrf cookie's value in X-CSRF-Token")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
SessionCookie = Annotated[str | None, Depends(_COOKIE)]


async def _credential(access: AccessService, request: Request,
                      credentials: HTTPAuthorizationCredentials | None) -> Credential:
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


def authentication(access: AccessService) -> Callable[..., Awaitable[Credential]]:
    """The FastAPI dependency that authenticates a request (401 when it cannot, 403 on a cookie
    request without the right CSRF header). A request with an ``Authorization`` header is judged by
    that header alone."""

    async def current_credential(request: Request, credentials: BearerCredentials,
                                 _session: SessionCookie) -> Credential:
        return await _credential(access, request, credentials)

    return current_credential


def agent_authentication(access: AccessService,
                         seen: Callable[[Request, Credential], None]) -> Callable[..., Awaitable[AgentRecord]]:
    """``authentication``'s rule as a dependency that answers the agent, after ``seen`` (which
    binds the log context): one dependency where a chain of two would cost FastAPI a level of
    solving on every request."""

    async def current_agent(request: Request, credentials: BearerCredentials, _session: SessionCookie) -> AgentRecord:
        credential = await _credential(access, request, credentials)
        seen(request, credential)
        return credential.agent

    return current_agent
