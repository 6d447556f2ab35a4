"""Browser sessions of the agent API: the cookies ``POST /session`` sets and the CSRF rule.

``fd_session`` carries the session's secret (HttpOnly: page scripts never see it); ``fd_csrf``
carries the session's CSRF token (readable by the page's scripts, derived from the secret by
``csrf_token_for``). Both are ``SameSite=Strict`` and ``Path=/``; ``Secure`` unless the server's
``cookie_secure`` is off (plain-HTTP development). A request authenticated by the cookie whose
method may change state must repeat the CSRF token in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import secrets

from fastapi import Request, Response

from frontdesk.domain.ids import csrf_token_for

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
