"""Reloading the contact-center configuration while the server runs (admin API, SIGHUP).

A new configuration is fully validated first (``frontdesk.settings``), then checked against the
chats that are still live: it may not remove a tenant, an entry, a queue or a scenario that a live
chat still uses. Only then is it swapped in as a whole (``LiveConfig.replace``); the next action of
every service reads it. Agent accounts are provisioned from it, and agents it no longer lists are
logged out (their chats go back to the queue), lose their tokens and can no longer log in.
Server settings (``[server]``) are read once at start: a reload validates them and ignores changes.

The applied configuration is stored in the database (``frontdesk.domain.applied_config``) with a
digest of the source it came over (the file's bytes, else the given configuration): every other
process follows it (``follow_applied_config``), and a start resumes it unless its own source
changed since — then the source wins and becomes the applied configuration
(``adopt_applied_config``).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol
from weakref import WeakKeyDictionary

import orjson

from frontdesk.domain import applied_config
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
    applied_version: int  # the version of the stored applied configuration this process runs

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


async def apply_config(frontdesk: Reloadable, new: ContactCenterConfig, source_digest: str | None = None, *,
                       source: str = "") -> None:
    """Swap in ``new`` (already validated by ``frontdesk.settings``), store it for every process
    (``source_digest``: of the file it came from; None: the file is as it was), or raise ConfigError
    and leave the running configuration untouched."""
    async with _lock(frontdesk.live):
        old = frontdesk.live.current
        # the check and the swap under the storage lock: no chat can start in between
        async with frontdesk.agents.journal.read() as tx:
            try:
                await _refuse_removals(tx, old, new)
            except ConfigError as exc:
                log.warning("configuration refused; the running configuration is kept", source=source or None,
                            error=str(exc))
                raise
            frontdesk.live.replace(new)
        frontdesk.settings = replace(frontdesk.settings, contact_center=new)
        await frontdesk.agents.provision()
        await _retire_removed_agents(frontdesk, old, new)
        record = await applied_config.store(frontdesk.agents.journal, contact_center_to_document(new, True),
                                            source_digest)
        frontdesk.applied_version = record.version
    log.info("configuration applied", source=source or None, tenants=len(new.tenants), version=record.version)


def source_digest(settings: Settings) -> str:
    """What the configuration a process was started with came from: the file's bytes, else the
    given configuration (the embedded demo) without its password hashes (salted anew every start)."""
    if settings.config_file is not None:
        try:
            return "file:" + hashlib.sha256(settings.config_file.read_bytes()).hexdigest()
        except OSError:
            pass
    return "config:" + applied_config.digest(contact_center_to_document(settings.contact_center))


def _base_dir(settings: Settings) -> Path:
    return settings.config_file.parent if settings.config_file is not None else Path.cwd()


def _run(frontdesk: Reloadable, config: ContactCenterConfig, version: int) -> None:
    frontdesk.live.replace(config)
    frontdesk.settings = replace(frontdesk.settings, contact_center=config)
    frontdesk.applied_version = version


async def adopt_applied_config(frontdesk: Reloadable) -> None:
    """At start (before agents are provisioned): run the stored applied configuration when this
    process's source is the one it was applied over; otherwise store this process's configuration
    as the applied one (a changed file wins, and the other processes follow it)."""
    journal = frontdesk.agents.journal
    source = source_digest(frontdesk.settings)
    async with _lock(frontdesk.live):
        record = await applied_config.stored(journal)
        if record is not None and record.file_digest == source:
            try:
                config = contact_center_from_document(orjson.loads(record.document), _base_dir(frontdesk.settings),
                                                      current=frontdesk.live.current)
            except (ConfigError, ValueError) as exc:
                log.error("the stored configuration (version %d) does not load: %s; the file's is applied",
                          record.version, exc)
            else:
                _run(frontdesk, config, record.version)
                log.info("configuration version %d from the database", record.version)
                return
        record = await applied_config.store(journal, contact_center_to_document(frontdesk.live.current, True),
                                            source)
        frontdesk.applied_version = record.version
    log.info("configuration stored as version %d", record.version)


async def follow_applied_config(frontdesk: Reloadable) -> bool:
    """Run a newer applied configuration stored by another process, if there is one; True when
    one was taken. (Its applier provisioned the accounts and logged out removed agents.)"""
    if await applied_config.stored_version(frontdesk.agents.journal) <= frontdesk.applied_version:
        return False  # the usual answer, from the version alone
    async with _lock(frontdesk.live):
        record = await applied_config.stored(frontdesk.agents.journal)
        if record is None or record.version <= frontdesk.applied_version:
            return False
        try:
            config = contact_center_from_document(orjson.loads(record.document), _base_dir(frontdesk.settings),
                                                  current=frontdesk.live.current)
        except (ConfigError, ValueError) as exc:
            frontdesk.applied_version = record.version  # not again for this version
            log.error("configuration version %d from another process does not load here; the running one is "
                      "kept: %s", record.version, exc)
            return False
        _run(frontdesk, config, record.version)
    log.info("configuration version %d applied by another process is running", record.version)
    return True


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


async def reload_from_file(frontdesk: Reloadable, source: str = "SIGHUP") -> None:
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
    await apply_config(frontdesk, config, source_digest(frontdesk.settings), source=f"{source}: {path}")


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
        await apply_config(self.frontdesk, config, source="admin API")
        return self.document()

    async def reload(self) -> dict[str, Any]:
        try:
            await reload_from_file(self.frontdesk, "admin API reload")
        except NoConfigFile as exc:
            raise Conflict(str(exc)) from None
        return self.document()
