"""The context every log line carries: request id, tenant, chat, party, agent.

Bound in ``contextvars`` (structlog's), so it follows a request through every await and stays
within its task: the access middleware starts each request with a fresh context and its id, the
routes bind the tenant, chat and agent they learn, the timers bind the chat of the timer they fire.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

CONTEXT_KEYS = ("request_id", "tenant", "chat", "party", "agent")
REQUEST_ID_HEADER = "x-request-id"
# an incoming X-Request-ID (nginx's $request_id) is kept when it looks like one; otherwise a new id
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def new_request_id(incoming: str | None = None) -> str:
    if incoming and _REQUEST_ID.match(incoming):
        return incoming
    return secrets.token_hex(8)  # 16 hex digits, as before; a fifth of uuid4()'s cost on every request


def start_request(request_id: str) -> None:
    """A request's context: nothing but its id (what an earlier request of the task bound is gone)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def bind(*, tenant: str = "", chat: str = "", party: str = "", agent: str = "") -> None:
    """Bind the given (non-empty) context to the rest of the current task."""
    values = {key: value for key, value in (("tenant", tenant), ("chat", chat), ("party", party), ("agent", agent))
              if value}
    if values:
        structlog.contextvars.bind_contextvars(**values)


@contextmanager
def bound(*, tenant: str = "", chat: str = "", party: str = "", agent: str = "") -> Iterator[None]:
    """The given context for the block only (a timer, a background pass)."""
    values = {key: value for key, value in (("tenant", tenant), ("chat", chat), ("party", party), ("agent", agent))
              if value}
    with structlog.contextvars.bound_contextvars(**values):
        yield


def current() -> dict[str, object]:
    """The context bound now (the access log reads it at the end of a request)."""
    return structlog.contextvars.get_contextvars()
