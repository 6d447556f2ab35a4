"""Errors raised by domain actions. The HTTP layers map them to their wire codes."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal by the engine; the action changed nothing."""


class NotFound(DomainError):
    """The chat, file, agent, form or party does not exist for this caller."""


class Invalid(DomainError):
    """The request is well-formed but cannot apply (answered form, unknown file, …)."""


class Forbidden(DomainError):
    """The caller may not do this (bad credentials, a chat the agent does not hold)."""


class Conflict(DomainError):
    """The state changed under the caller (offer no longer open, chat already ended)."""


class Unavailable(DomainError):
    """The contact center cannot take the request now (entry closed or disabled)."""


class TooManyAttempts(DomainError):
    """Too many refused logins for an account or from an address; retry after ``retry_after_secs``."""

    def __init__(self, retry_after_secs: int) -> None:
        super().__init__(f"Too many login attempts; try again in {retry_after_secs} s")
        self.retry_after_secs = retry_after_secs
