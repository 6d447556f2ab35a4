"""Reloading the contact-center configuration while the server runs (admin API, SIGHUP).

A new configuration is fully validated first (``frontdesk.settings``), then checked against the
chats that are still live: it may not remove a tenant, an entry, a queue or a scenario that a live
chat still uses. Only then is it swapped in as a whole (``LiveConfig.replace``); the next action of
every service reads it. Agent accounts are provisioned from it, and agents it no longer lists are
logged out (their chats go back to the queue), lose their tokens and can no longer log in.
Server settings (``[server]``) are read once at start: a reload validates them and ignores changes.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from frontdesk.domain.access import REMOVED_AGENT_PASSWORD_HASH, AccessService
from frontdesk.domain.agents import AgentService
from frontdesk.domain.config import ContactCenterConfig, LiveConfig
from frontdesk.domain.errors import Conflict
from frontdesk.observability.logs import get_logger
from frontdesk.settings import (
    ConfigError,
    Settings,
    contact_center_from_document,
    contact_center_to_document,
    load_settings,
)
from frontdesk.storage.interfaces import Transaction

log = get_logger(__name__)

# one reload at a time per running configuration (keyed weakly: nothing outlives its server)
_LOCKS: WeakKeyDictionary[LiveConfig, asyncio.Lock] = WeakKeyDictionary()


class NoConfigFile(ConfigError):
    """The server runs the embedded demo: there is no file to re-read."""


class Reloadable(Protocol):
    """What a reload needs of the running server (``frontdesk.app.Frontdesk`` has it)."""

    settings: Settings

    @property
    def live(self) -> LiveConfig: ...

    @property
    def agents(self) -> AgentService: ...

    @property
    def access(self) -> AccessService: ...


def _lock(live: LiveConfig) -> asyncio.Lock:
    lock = _LOCKS.get(live)
    if lock is None:
        lock = _LOCKS[live] = asyncio.Lock()
    return lock


async def _refuse_removals(tx: Transaction, old: ContactCenterConfig, new: ContactCenterConfig) -> None:
    """ConfigError naming the first tenant, entry, queue or scenario that ``new`` removes while a
    live (non-terminal) chat still uses it."""
    for name in old.tenants:
        active = await tx.sessions.list_active(name)
        if not active:
            continue
        tenant = new.tenants.get(name)
        if tenant is None:
            raise ConfigError(f"tenants: tenant '{name}' is removed but {_chats(len(active))} still live in it")
        checks: list[tuple[str, str, set[str]]] = [("entries", "entry", set(tenant.entries)),
                                                   ("queues", "queue", set(tenant.queues)),
                                                   ("scenarios", "scenario", set(tenant.scenarios))]
        for key, what, kept in checks:
            used: dict[str, int] = {}
            for session in active:
                if what == "entry":
                    item = session.app_id
                elif what == "queue":
                    item = session.queue_id
                else:
                    item = str(session.scenario.get("name", "") or "")
                if item:
                    used[item] = used.get(item, 0) + 1
            for item, count in used.items():
                if item not in kept:
                    raise ConfigError(f"tenants[name={name}].{key}: {what} '{item}' is removed but "
                                      f"{_chats(count)} still live in it")


def _chats(count: int) -> str:
    return f"{count} chat is" if count == 1 else f"{count} chats are"


async def check_config(frontdesk: Reloadable, new: ContactCenterConfig) -> None:
    """Raise ConfigError if ``new`` cannot replace the running configuration now."""
    async with frontdesk.agents.journal.read() as tx:
        await _refuse_removals(tx, frontdesk.live.current, new)


async def apply_config(frontdesk: Reloadable, new: ContactCenterConfig, source: str) -> None:
    """Swap in ``new`` (already validated by ``frontdesk.settings``), or raise ConfigError and
    leave the running configuration untouched. ``source`` says where it came from, for the log
    (the admin API's agent is in the log context)."""
    async with _lock(frontdesk.live):
        old = frontdesk.live.current
        # the check and the swap under the storage lock: no chat can start in between
        async with frontdesk.agents.journal.read() as tx:
            try:
                await _refuse_removals(tx, old, new)
            except ConfigError as exc:
                log.warning("configuration refused; the running configuration is kept", source=source,
                            error=str(exc))
                raise
            frontdesk.live.replace(new)
        frontdesk.settings = replace(frontdesk.settings, contact_center=new)
        await frontdesk.agents.provision()
        await _retire_removed_agents(frontdesk, old, new)
    log.info("configuration applied", source=source, tenants=len(new.tenants))


async def _retire_removed_agents(frontdesk: Reloadable, old: ContactCenterConfig, new: ContactCenterConfig) -> None:
    """Accounts the new configuration no longer lists: logged out (held and offered chats go back
    to the queue, credentials dropped, open WebSockets closed), password disabled (a later
    configuration may list them again)."""
    removed: list[str] = []
    async with frontdesk.agents.journal.read() as tx:
        for name in sorted(set(old.tenants) | set(new.tenants)):
            tenant = new.tenants.get(name)
            listed = {a.username for a in tenant.agents} if tenant else set()
            removed.extend(agent.agent_id for agent in await tx.agents.list_for_tenant(name)
                           if agent.username not in listed and agent.password_hash != REMOVED_AGENT_PASSWORD_HASH)
    for agent_id in removed:
        await frontdesk.access.retire(agent_id)


async def reload_from_file(frontdesk: Reloadable, source: str) -> None:
    """Re-read the configuration file the server was started with and apply its contact-center
    part. Its ``[server]`` table is validated but changes to it wait for a restart."""
    path = frontdesk.settings.config_file
    if path is None:
        raise NoConfigFile("the server runs the embedded demo: there is no configuration file to re-read")
    try:
        config = load_settings(path).contact_center
    except ConfigError as exc:
        log.warning("configuration refused; the running configuration is kept", source=source, file=str(path),
                    error=str(exc))
        raise
    await apply_config(frontdesk, config, f"{source}: {path}")


async def reload_on_signal(frontdesk: Reloadable) -> bool:
    """``reload_from_file`` for SIGHUP: logs the outcome, never raises (the server keeps running)."""
    try:
        await reload_from_file(frontdesk, "SIGHUP")
    except NoConfigFile as exc:
        log.warning("configuration not reloaded", source="SIGHUP", error=str(exc))
        return False
    except ConfigError:
        return False  # logged where it was refused
    except Exception:
        log.exception("configuration reload failed; the running configuration is kept", source="SIGHUP")
        return False
    return True


class ConfigAdmin:
    """The admin API's view of the configuration (``frontdesk.agents.admin_api.ConfigAdmin``).

    Every error is a ``ValueError`` (``ConfigError``) whose message names the field; re-reading the
    file when there is none is a ``Conflict``.
    """

    def __init__(self, frontdesk: Reloadable) -> None:
        self.frontdesk = frontdesk

    @property
    def base_dir(self) -> Path:
        """Relative paths in a document are relative to the configuration file (else the cwd)."""
        path = self.frontdesk.settings.config_file
        return path.parent if path is not None else Path.cwd()

    def document(self) -> dict[str, Any]:
        return contact_center_to_document(self.frontdesk.live.current)

    def parse(self, document: dict[str, Any]) -> ContactCenterConfig:
        return contact_center_from_document(document, self.base_dir, current=self.frontdesk.live.current)

    async def validate(self, document: dict[str, Any]) -> None:
        await check_config(self.frontdesk, self.parse(document))

    async def apply(self, document: dict[str, Any]) -> dict[str, Any]:
        try:
            config = self.parse(document)
        except ConfigError as exc:
            log.warning("configuration refused; the running configuration is kept", source="admin API",
                        error=str(exc))
            raise
        await apply_config(self.frontdesk, config, "admin API")
        return self.document()

    async def reload(self) -> dict[str, Any]:
        try:
            await reload_from_file(self.frontdesk, "admin API reload")
        except NoConfigFile as exc:
            raise Conflict(str(exc)) from None
        return self.document()
