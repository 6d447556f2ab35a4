"""The admin API (``/agent/api/v1/admin``): read, validate and replace the running contact-center
configuration, or re-read the configuration file. Only agents whose role is ``admin`` may call it.

The document is the JSON shape of the configuration file without ``[server]``
(docs/configuration.md); the configuration logic itself is injected as a ``ConfigAdmin``.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import BaseModel

from frontdesk.storage.records import AgentRecord

ADMIN_ROLE = "admin"


class ConfigAdmin(Protocol):
    """Reads, checks and replaces the configuration. Errors: ``ValueError`` whose message names the
    field (400); ``frontdesk.domain.errors.Conflict`` when there is no file to re-read (409)."""

    def document(self) -> dict[str, Any]: ...

    async def validate(self, document: dict[str, Any]) -> None: ...

    async def apply(self, document: dict[str, Any]) -> dict[str, Any]: ...

    async def reload(self) -> dict[str, Any]: ...


class Valid(BaseModel):
    ok: bool = True


class AdminError(BaseModel):
    detail: str


def build_admin_router(admin: ConfigAdmin, current_agent: Callable[..., Awaitable[AgentRecord]]) -> APIRouter:
    """The admin routes; ``current_agent`` is the agent API's bearer-token dependency."""

    async def current_admin(agent: Annotated[AgentRecord, Depends(current_agent)]) -> AgentRecord:
        if agent.role != ADMIN_ROLE:
            raise HTTPException(403, "this needs an agent whose role is admin")
        return agent

    errors: dict[int | str, dict[str, Any]] = {code: {"model": AdminError} for code in (400, 401, 403, 409)}
    router = APIRouter(dependencies=[Depends(current_admin)], responses=errors, tags=["admin"])
    Document = Annotated[dict[str, Any], Body(description="the configuration document (docs/configuration.md)")]

    def bad(exc: ValueError) -> HTTPException:
        return HTTPException(400, str(exc))

    @router.get("/config")
    async def get_config() -> dict[str, Any]:
        """The running configuration (agents' password hashes are never included)."""
        return admin.document()

    @router.put("/config")
    async def put_config(document: Document) -> dict[str, Any]:
        """Validate and apply a new configuration; answers the configuration now running. An agent
        given neither ``password`` nor ``password_hash`` keeps its current password."""
        try:
            return await admin.apply(document)
        except ValueError as exc:
            raise bad(exc) from None

    @router.post("/config/validate", response_model=Valid)
    async def validate_config(document: Document) -> Valid:
        """Check a configuration as ``PUT /admin/config`` would, without applying it."""
        try:
            await admin.validate(document)
        except ValueError as exc:
            raise bad(exc) from None
        return Valid()

    @router.post("/reload")
    async def reload_file() -> dict[str, Any]:
        """Re-read the configuration file the server was started with (409 for the embedded demo)."""
        try:
            return await admin.reload()
        except ValueError as exc:
            raise bad(exc) from None

    return router
