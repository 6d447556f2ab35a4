"""Settings: the server options and the contact-center configuration, from a TOML file or the
embedded demo. The file format is documented in docs/configuration.md."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontdesk.domain.config import (
    DEFAULT_INACTIVITY_TIMEOUT_MSG,
    DEFAULT_INACTIVITY_WARNING_MSG,
    PARAMETER_TYPES,
    AgentConfig,
    ContactCenterConfig,
    EntryConfig,
    QueueConfig,
    TenantConfig,
    default_widget_configuration,
)
from frontdesk.domain.ids import hash_password
from frontdesk.protocol.tenant import normalise_tenant

DEMO_TENANT = "demo.local"
DEMO_APP_ID = "demo"
DEMO_AGENT_USERNAME = "anna"
DEMO_AGENT_PASSWORD = "frontdesk-demo"  # noqa: S105 - the documented demo account
MAX_POLL_HOLD_SECS = 11.5  # the web widget aborts a poll after 13 s


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the offending field."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    poll_hold_secs: float = 10.0
    cookie_secure: bool = True
    sqlite_synchronous: str = "NORMAL"
    timers_enabled: bool = True
    contact_center: ContactCenterConfig = field(default_factory=lambda: demo_contact_center())
    is_demo: bool = True


def demo_contact_center() -> ContactCenterConfig:
    entry = EntryConfig(
        app_id=DEMO_APP_ID, name="Demo chat", queue_id="general",
        parameters=(("first_name", "FIRST_NAME"), ("last_name", "LAST_NAME"), ("email", "EMAIL")),
        welcome_message="Welcome to the frontdesk demo! An agent will be with you shortly.",
        bot_name="Frontdesk")
    agent = AgentConfig(username=DEMO_AGENT_USERNAME, password_hash=hash_password(DEMO_AGENT_PASSWORD),
                        first_name="Anna", last_name="Lee", display_name="Anna", max_chats=3)
    tenant = TenantConfig(name=DEMO_TENANT, aliases=("localhost", "127.0.0.1"), entries={entry.app_id: entry},
                          queues={"general": QueueConfig("general", "General")}, agents=(agent,))
    return ContactCenterConfig(tenants={tenant.name: tenant}, default_tenant=tenant.name)


class _Reader:
    """Typed access to a TOML table that reports the path of any bad field."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.data = data
        self.path = path
        self.seen: set[str] = set()

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self._at(key)}: required")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise ConfigError(f"{self._at(key)}: expected a number, got a boolean")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ConfigError(f"{self._at(key)}: expected {names}, got {type(value).__name__}")
        return value

    def tables(self, key: str) -> list[_Reader]:
        items = self.get(key, list, [])
        readers = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ConfigError(f"{self._at(key)}[{i}]: expected a table")
            readers.append(_Reader(item, f"{self._at(key)}[{i}]"))
        return readers

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self._at(unknown[0])}: unknown setting")


def load_settings(config_file: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from a TOML file (or the demo when ``config_file`` is None) plus CLI overrides."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if config_file is None:
        return Settings(**overrides)
    try:
        raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config_file}: {exc}") from None
    return parse_settings(raw, config_file.parent, overrides)


def parse_settings(raw: dict[str, Any], base_dir: Path, overrides: dict[str, Any] | None = None) -> Settings:
    root = _Reader(raw, "")
    server_table = root.get("server", dict, {})
    server = _Reader(server_table, "server")
    values: dict[str, Any] = {
        "host": server.get("host", str, "127.0.0.1"),
        "port": server.get("port", int, 8080),
        "data_dir": base_dir / server.get("data_dir", str, "data"),
        "poll_hold_secs": float(server.get("poll_hold_secs", (int, float), 10.0)),
        "cookie_secure": server.get("cookie_secure", bool, True),
        "sqlite_synchronous": server.get("sqlite_synchronous", str, "NORMAL").upper(),
    }
    default_tenant = normalise_tenant(server.get("default_tenant", str, ""))
    server.finish()
    if not 0 < values["poll_hold_secs"] <= MAX_POLL_HOLD_SECS:
        raise ConfigError(f"server.poll_hold_secs: must be above 0 and at most {MAX_POLL_HOLD_SECS}")
    if values["sqlite_synchronous"] not in ("NORMAL", "FULL"):
        raise ConfigError("server.sqlite_synchronous: must be NORMAL or FULL")
    if not 0 < values["port"] < 65536:
        raise ConfigError("server.port: must be between 1 and 65535")
    tenants: dict[str, TenantConfig] = {}
    for reader in root.tables("tenants"):
        tenant = _tenant(reader, base_dir)
        if tenant.name in tenants:
            raise ConfigError(f"{reader.path}.name: duplicate tenant '{tenant.name}'")
        tenants[tenant.name] = tenant
    root.finish()
    if not tenants:
        raise ConfigError("tenants: at least one tenant is required")
    if default_tenant and default_tenant not in tenants:
        raise ConfigError(f"server.default_tenant: unknown tenant '{default_tenant}'")
    config = ContactCenterConfig(tenants=tenants, default_tenant=default_tenant or next(iter(tenants)))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Settings(contact_center=config, is_demo=False, **values)


def _tenant(r: _Reader, base_dir: Path) -> TenantConfig:
    name = normalise_tenant(r.get("name", str, required=True))
    if not name:
        raise ConfigError(f"{r.path}.name: must be a host name")
    aliases = tuple(normalise_tenant(a) for a in r.get("aliases", list, []))
    max_files = r.get("max_stored_files", int, 1000)
    queues: dict[str, QueueConfig] = {}
    for q in r.tables("queues"):
        queue = QueueConfig(queue_id=q.get("id", str, required=True), name=q.get("name", str, ""))
        q.finish()
        if queue.queue_id in queues:
            raise ConfigError(f"{q.path}.id: duplicate queue '{queue.queue_id}'")
        queues[queue.queue_id] = queue
    entries: dict[str, EntryConfig] = {}
    for e in r.tables("entries"):
        entry = _entry(e, queues, base_dir)
        if entry.app_id in entries:
            raise ConfigError(f"{e.path}.app_id: duplicate entry '{entry.app_id}'")
        entries[entry.app_id] = entry
    agents: list[AgentConfig] = []
    for a in r.tables("agents"):
        agent = _agent(a, base_dir)
        if any(x.username == agent.username for x in agents):
            raise ConfigError(f"{a.path}.username: duplicate agent '{agent.username}'")
        agents.append(agent)
    r.finish()
    return TenantConfig(name=name, aliases=aliases, entries=entries, queues=queues, agents=tuple(agents),
                        max_stored_files=max_files)


def _entry(e: _Reader, queues: dict[str, QueueConfig], base_dir: Path) -> EntryConfig:
    app_id = e.get("app_id", str, required=True)
    queue_id = e.get("queue", str, required=True)
    if queue_id not in queues:
        raise ConfigError(f"{e.path}.queue: unknown queue '{queue_id}'")
    parameters = []
    for p in e.tables("parameters"):
        kind = p.get("type", str, "TEXT")
        if kind not in PARAMETER_TYPES:
            raise ConfigError(f"{p.path}.type: must be one of {', '.join(PARAMETER_TYPES)}")
        parameters.append((p.get("name", str, required=True), kind))
        p.finish()
    ice = []
    for s in e.tables("ice_servers"):
        server = {"url": s.get("url", str, required=True)}
        for key in ("username", "credential"):
            value = s.get(key, str, None)
            if value is not None:
                server[key] = value
        s.finish()
        ice.append(server)
    widget_file = e.get("widget_configuration_file", str, "")
    widget = default_widget_configuration()
    if widget_file:
        try:
            widget = json.loads((base_dir / widget_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{e.path}.widget_configuration_file: {exc}") from None
        if not isinstance(widget, dict):
            raise ConfigError(f"{e.path}.widget_configuration_file: must hold a JSON object")
    warning = e.get("inactivity_warning_secs", int, 120)
    timeout = e.get("inactivity_timeout_secs", int, 180)
    if timeout < 0 or warning < 0:
        raise ConfigError(f"{e.path}.inactivity_timeout_secs: must not be negative")
    if timeout and warning >= timeout:
        raise ConfigError(f"{e.path}.inactivity_warning_secs: must be below inactivity_timeout_secs")
    unavailable = e.get("unavailable_value", str, "notAvailable")
    if unavailable not in ("notAvailable", "unavailable"):
        raise ConfigError(f"{e.path}.unavailable_value: must be notAvailable or unavailable")
    icon = e.get("chat_icon", str, "")
    entry = EntryConfig(
        app_id=app_id, name=e.get("name", str, app_id), queue_id=queue_id, enabled=e.get("enabled", bool, True),
        parameters=tuple(parameters), widget_configuration=widget, ice_servers=tuple(ice),
        welcome_message=e.get("welcome_message", str, ""), bot_name=e.get("bot_name", str, "Assistant"),
        inactivity_warning_secs=warning, inactivity_timeout_secs=timeout,
        inactivity_warning_msg=e.get("inactivity_warning_msg", str, DEFAULT_INACTIVITY_WARNING_MSG),
        inactivity_timeout_msg=e.get("inactivity_timeout_msg", str, DEFAULT_INACTIVITY_TIMEOUT_MSG),
        unavailable_value=unavailable, push_enabled=e.get("push_enabled", bool, True),
        chat_icon_path=_existing_file(e, "chat_icon", icon, base_dir))
    e.finish()
    return entry


def _agent(a: _Reader, base_dir: Path) -> AgentConfig:
    username = a.get("username", str, required=True)
    password = a.get("password", str, None)
    password_hash = a.get("password_hash", str, None)
    if (password is None) == (password_hash is None):
        raise ConfigError(f"{a.path}.password: give exactly one of password or password_hash")
    if password_hash is not None and not password_hash.startswith("scrypt$"):
        raise ConfigError(f"{a.path}.password_hash: expected a scrypt$… hash (frontdesk hash-password)")
    first = a.get("first_name", str, username)
    last = a.get("last_name", str, "")
    max_chats = a.get("max_chats", int, 3)
    if not 1 <= max_chats <= 100:
        raise ConfigError(f"{a.path}.max_chats: must be between 1 and 100")
    photo = a.get("photo", str, "")
    agent = AgentConfig(username=username,
                        password_hash=password_hash if password_hash is not None else hash_password(str(password)),
                        first_name=first, last_name=last, display_name=a.get("display_name", str, first),
                        max_chats=max_chats, photo_path=_existing_file(a, "photo", photo, base_dir),
                        auto_accept=a.get("auto_accept", bool, False))
    a.finish()
    return agent


def _existing_file(r: _Reader, key: str, value: str, base_dir: Path) -> str:
    if not value:
        return ""
    path = (base_dir / value).resolve()
    if not path.is_file():
        raise ConfigError(f"{r.path}.{key}: no such file '{value}'")
    return str(path)
