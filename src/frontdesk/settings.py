"""Settings: the server options and the contact-center configuration, from a TOML file or the
embedded demo. The file format is documented in docs/configuration.md.

The contact-center part can also be given as a document (the JSON shape of the file without
``[server]``: ``{"default_tenant": …, "tenants": […]}``), which the admin API reads and writes:
``contact_center_from_document`` and ``contact_center_to_document``.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from frontdesk.domain.config import (
    DEFAULT_INACTIVITY_TIMEOUT_MSG,
    DEFAULT_INACTIVITY_WARNING_MSG,
    PARAMETER_TYPES,
    ROLES,
    AgentConfig,
    ContactCenterConfig,
    EntryConfig,
    FormConfig,
    FormField,
    HoursConfig,
    QueueConfig,
    ScenarioConfig,
    Step,
    TenantConfig,
    default_widget_configuration,
)
from frontdesk.domain.ids import hash_password
from frontdesk.protocol.origins import check_origin_pattern
from frontdesk.protocol.tenant import normalise_tenant

DEMO_TENANT = "demo.local"
DEMO_APP_ID = "demo"
DEMO_AGENT_USERNAME = "anna"
DEMO_AGENT_PASSWORD = "frontdesk-demo"  # noqa: S105 - the documented demo account
T = TypeVar("T")
MAX_POLL_HOLD_SECS = 11.5  # the web widget aborts a poll after 13 s
# the demo's own pages are same-origin; these let a page on a local dev server embed its widget
DEMO_ALLOWED_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*")

SKILL_LEVELS = (1, 10)
QUEUE_PRIORITIES = (-100, 100)
OFFER_TIMEOUT_SECS = (5, 3600)  # or 0: an offer never times out
HANDLE_SECS = (10, 86400)
AGENT_LOST_GRACE_SECS = (5, 3600)
FORM_TIMEOUT_SECS = (1, 86400)
EWT_ABOVE_SECS = (0, 86400)
DEFAULT_MAX_CONNECTIONS = 16_000  # 10,000+ held long polls, their keep-alive spares, agents' sockets
DEFAULT_HEADER_TIMEOUT_SECS = 10.0  # to deliver a request's headers
DEFAULT_KEEP_ALIVE_SECS = 30  # idle between requests; a held poll is not idle
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
MAX_CONNECTIONS = (1, 1_000_000)
HEADER_TIMEOUT_SECS = (0.1, 300)
KEEP_ALIVE_SECS = (1, 3600)
MAX_HEADER_BYTES = (1024, 1024 * 1024)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORM_FIELD_TYPES = ("text", "email", "phone", "number", "choice", "rating")
BUILTIN_FORMS = ("", "RequestLocation")  # what `form` and `leave_message` may name besides tenant forms
# the settings of each scenario action (the action's own key first)
STEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "say": ("say",),
    "form": ("form", "timeout_secs", "on_timeout"),
    "branch": ("branch", "otherwise"),
    "set_case": ("set_case",),
    "route": ("route", "priority", "skills", "if_no_agents", "if_closed", "on_ewt_above", "ewt_above_secs"),
    "leave_message": ("leave_message", "timeout_secs", "say_after"),
    "fail": ("fail",),
    "end": ("end",),
    "goto": ("goto",),
}
STEP_LABEL_SETTINGS = ("goto", "on_timeout", "otherwise", "if_no_agents", "if_closed", "on_ewt_above")
BRANCH_CONDITIONS = ("equals", "not_equals", "in", "above", "below", "present")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MINUTES_PER_DAY = 24 * 60


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
    # connection bounds (frontdesk.connections, docs/operations.md)
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout_secs: float = DEFAULT_HEADER_TIMEOUT_SECS
    keep_alive_secs: int = DEFAULT_KEEP_ALIVE_SECS
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    contact_center: ContactCenterConfig = field(default_factory=lambda: demo_contact_center())
    is_demo: bool = True
    config_file: Path | None = None  # the TOML file the settings came from (re-read by a reload)


def demo_contact_center() -> ContactCenterConfig:
    entry = EntryConfig(
        app_id=DEMO_APP_ID, name="Demo chat", queue_id="general",
        parameters=(("first_name", "FIRST_NAME"), ("last_name", "LAST_NAME"), ("email", "EMAIL")),
        welcome_message="Welcome to the frontdesk demo! An agent will be with you shortly.",
        bot_name="Frontdesk", allowed_origins=DEMO_ALLOWED_ORIGINS)
    # the only account, so an admin: she reaches the supervisor and admin features too
    agent = AgentConfig(username=DEMO_AGENT_USERNAME, password_hash=hash_password(DEMO_AGENT_PASSWORD),
                        first_name="Anna", last_name="Lee", display_name="Anna", max_chats=3,
                        skills={"general": 5}, role="admin")
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

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self._at(key)}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self._at(key)}: required")
            return default
        return _check_type(self.data[key], kind, self._at(key))

    def int_between(self, key: str, default: int, low: int, high: int, also: int | None = None) -> int:
        """An integer in [low, high] (or exactly ``also``)."""
        value: int = self.get(key, int, default)
        if not low <= value <= high and value != also:
            extra = f" (or {also})" if also is not None else ""
            raise self.error(key, f"must be between {low} and {high}{extra}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.get(key, list, [])
        return tuple(_check_type(item, str, f"{self._at(key)}[{i}]") for i, item in enumerate(items))

    def origins(self, key: str) -> tuple[str, ...]:
        """A list of allowed-origin patterns (``frontdesk.protocol.origins``), normalised."""
        patterns: list[str] = []
        for i, text in enumerate(self.strings(key)):
            try:
                pattern = check_origin_pattern(text)
            except ValueError as exc:
                raise ConfigError(f"{self._at(key)}[{i}]: {text!r}: {exc}") from None
            if pattern not in patterns:
                patterns.append(pattern)
        return tuple(patterns)

    def levels(self, key: str) -> dict[str, int]:
        """A table of skill name → level (1..10)."""
        table = self.get(key, dict, {})
        levels: dict[str, int] = {}
        for name, level in table.items():
            at = f"{self._at(key)}.{name}"
            if not name:
                raise ConfigError(f"{at}: a skill needs a name")
            if not SKILL_LEVELS[0] <= _check_type(level, int, at) <= SKILL_LEVELS[1]:
                raise ConfigError(f"{at}: a skill level must be between {SKILL_LEVELS[0]} and {SKILL_LEVELS[1]}")
            levels[name] = level
        return levels

    def table(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict, {}), self._at(key))

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


def _check_type(value: Any, kind: type | tuple[type, ...], at: str) -> Any:
    numeric = kind in (int, float, (int, float))
    if isinstance(value, bool) and numeric:
        raise ConfigError(f"{at}: expected a number, got a boolean")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{at}: expected {names}, got {type(value).__name__}")
    return value


# ---- reading ------------------------------------------------------------------------------------------


def load_settings(config_file: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from a TOML file (or the demo when ``config_file`` is None) plus CLI overrides."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if config_file is None:
        return Settings(**overrides)
    try:
        raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config_file}: {exc}") from None
    return replace(parse_settings(raw, config_file.parent, overrides), config_file=config_file)


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
        "max_connections": server.int_between("max_connections", DEFAULT_MAX_CONNECTIONS, *MAX_CONNECTIONS),
        "header_timeout_secs": float(server.get("header_timeout_secs", (int, float), DEFAULT_HEADER_TIMEOUT_SECS)),
        "keep_alive_secs": server.int_between("keep_alive_secs", DEFAULT_KEEP_ALIVE_SECS, *KEEP_ALIVE_SECS),
        "max_header_bytes": server.int_between("max_header_bytes", DEFAULT_MAX_HEADER_BYTES, *MAX_HEADER_BYTES),
    }
    default_tenant = server.get("default_tenant", str, "")
    server.finish()
    if not 0 < values["poll_hold_secs"] <= MAX_POLL_HOLD_SECS:
        raise ConfigError(f"server.poll_hold_secs: must be above 0 and at most {MAX_POLL_HOLD_SECS}")
    if not HEADER_TIMEOUT_SECS[0] <= values["header_timeout_secs"] <= HEADER_TIMEOUT_SECS[1]:
        raise ConfigError(f"server.header_timeout_secs: must be between {HEADER_TIMEOUT_SECS[0]} and "
                          f"{HEADER_TIMEOUT_SECS[1]}")
    if values["sqlite_synchronous"] not in ("NORMAL", "FULL"):
        raise ConfigError("server.sqlite_synchronous: must be NORMAL or FULL")
    if not 0 < values["port"] < 65536:
        raise ConfigError("server.port: must be between 1 and 65535")
    config = _contact_center(root, base_dir, default_tenant, "server.default_tenant", None)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Settings(contact_center=config, is_demo=False, **values)


def contact_center_from_document(doc: dict[str, Any], base_dir: Path, *,
                                 current: ContactCenterConfig | None = None) -> ContactCenterConfig:
    """The configuration a document describes (the JSON shape of the file's tenants), validated
    exactly like the file; relative paths are relative to ``base_dir``.

    An agent given neither ``password`` nor ``password_hash`` keeps the password hash it has in
    ``current`` (the running configuration): ``contact_center_to_document`` never emits hashes, so a
    document read from the admin API can be edited and written back as it is.
    """
    if not isinstance(doc, dict):
        raise ConfigError(f"document: expected an object, got {type(doc).__name__}")
    root = _Reader(doc, "")
    default_tenant = root.get("default_tenant", str, "")
    return _contact_center(root, base_dir, default_tenant, "default_tenant", current)


def _contact_center(root: _Reader, base_dir: Path, default_tenant: str, default_path: str,
                    current: ContactCenterConfig | None) -> ContactCenterConfig:
    default = normalise_tenant(default_tenant)
    tenants: dict[str, TenantConfig] = {}
    for reader in root.tables("tenants"):
        tenant = _tenant(reader, base_dir, current)
        if tenant.name in tenants:
            raise ConfigError(f"{reader.path}.name: duplicate tenant '{tenant.name}'")
        tenants[tenant.name] = tenant
    root.finish()
    if not tenants:
        raise ConfigError("tenants: at least one tenant is required")
    if default and default not in tenants:
        raise ConfigError(f"{default_path}: unknown tenant '{default}'")
    return ContactCenterConfig(tenants=tenants, default_tenant=default or next(iter(tenants)))


def _tenant(r: _Reader, base_dir: Path, current: ContactCenterConfig | None) -> TenantConfig:
    name = normalise_tenant(r.get("name", str, required=True))
    if not name:
        raise ConfigError(f"{r.path}.name: must be a host name")
    aliases = tuple(normalise_tenant(a) for a in r.strings("aliases"))
    max_files = r.get("max_stored_files", int, 1000)
    grace = r.int_between("agent_lost_grace_secs", 60, *AGENT_LOST_GRACE_SECS)
    queues = _queues(r)
    hours = _unique(r, "hours", _hours, lambda h: h.hours_id, "id", "hours")
    forms = _unique(r, "forms", _form, lambda f: f.name, "name", "form")
    scenarios = _unique(r, "scenarios", lambda s: _scenario(s, queues, forms), lambda s: s.name, "name", "scenario")
    entries = _unique(r, "entries", lambda e: _entry(e, queues, hours, scenarios, base_dir), lambda e: e.app_id,
                      "app_id", "entry")
    agents: list[AgentConfig] = []
    running = current.tenants.get(name) if current else None
    for a in r.tables("agents"):
        agent = _agent(a, base_dir, running)
        if any(x.username == agent.username for x in agents):
            raise ConfigError(f"{a.path}.username: duplicate agent '{agent.username}'")
        agents.append(agent)
    r.finish()
    return TenantConfig(name=name, aliases=aliases, entries=entries, queues=queues, agents=tuple(agents),
                        max_stored_files=max_files, hours=hours, forms=forms, scenarios=scenarios,
                        agent_lost_grace_secs=grace)


def _unique(r: _Reader, key: str, parse: Callable[[_Reader], T], name_of: Callable[[T], str], field: str,
            what: str) -> dict[str, T]:
    """The tables under ``key``, parsed and keyed by name; a repeated name is an error at its field."""
    items: dict[str, T] = {}
    for table in r.tables(key):
        item = parse(table)
        name = name_of(item)
        if name in items:
            raise ConfigError(f"{table.path}.{field}: duplicate {what} '{name}'")
        items[name] = item
    return items


def _queues(r: _Reader) -> dict[str, QueueConfig]:
    queues: dict[str, QueueConfig] = {}
    paths: dict[str, str] = {}
    defaults = QueueConfig("", "")
    for q in r.tables("queues"):
        queue_id = q.get("id", str, required=True)
        if not queue_id:
            raise q.error("id", "must not be empty")
        queue = QueueConfig(
            queue_id=queue_id, name=q.get("name", str, ""), skills=q.levels("skills"),
            priority=q.int_between("priority", 0, *QUEUE_PRIORITIES),
            max_wait_secs=q.int_between("max_wait_secs", 0, 0, 365 * 86400),
            overflow_queue=q.get("overflow", str, ""),
            max_wait_message=q.get("max_wait_message", str, defaults.max_wait_message),
            offer_timeout_secs=q.int_between("offer_timeout_secs", 30, *OFFER_TIMEOUT_SECS, also=0),
            default_handle_secs=q.int_between("default_handle_secs", 300, *HANDLE_SECS),
            dispositions=q.strings("dispositions"))
        q.finish()
        if queue.queue_id in queues:
            raise ConfigError(f"{q.path}.id: duplicate queue '{queue.queue_id}'")
        queues[queue.queue_id] = queue
        paths[queue.queue_id] = q.path
    for queue in queues.values():
        at = f"{paths[queue.queue_id]}.overflow"
        if not queue.overflow_queue:
            continue
        if queue.overflow_queue == queue.queue_id:
            raise ConfigError(f"{at}: a queue cannot overflow to itself")
        if queue.overflow_queue not in queues:
            raise ConfigError(f"{at}: unknown queue '{queue.overflow_queue}'")
        chain = [queue.queue_id]
        nxt = queue.overflow_queue
        while nxt:
            if nxt in chain:
                raise ConfigError(f"{at}: overflow loop {' → '.join([*chain, nxt])}")
            chain.append(nxt)
            nxt = queues[nxt].overflow_queue
    return queues


def _hours(h: _Reader) -> HoursConfig:
    hours_id = h.get("id", str, required=True)
    if not hours_id:
        raise h.error("id", "must not be empty")
    timezone = h.get("timezone", str, "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise h.error("timezone", f"unknown time zone '{timezone}'") from None
    weekly_reader = h.table("weekly")
    weekly = tuple(_day(weekly_reader, day) for day in WEEKDAYS)
    weekly_reader.finish()
    holidays = []
    for i, text in enumerate(h.strings("holidays")):
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError
            holidays.append(datetime.date.fromisoformat(text).isoformat())
        except ValueError:
            raise ConfigError(f"{h.path}.holidays[{i}]: expected a date YYYY-MM-DD, got '{text}'") from None
    h.finish()
    return HoursConfig(hours_id=hours_id, timezone=timezone, weekly=weekly, holidays=tuple(holidays))


def _day(weekly: _Reader, day: str) -> tuple[tuple[int, int], ...]:
    """One weekday: "closed", "24h" or "HH:MM-HH:MM" ranges separated by commas, in order."""
    text = weekly.get(day, str, "closed").strip()
    if text == "closed":
        return ()
    if text == "24h":
        return ((0, MINUTES_PER_DAY),)
    ranges: list[tuple[int, int]] = []
    for part in text.split(","):
        start_text, _, end_text = part.strip().partition("-")
        start, end = _minute(start_text.strip()), _minute(end_text.strip())
        if start is None or end is None or start == MINUTES_PER_DAY:
            raise weekly.error(day, f"expected 'HH:MM-HH:MM' ranges, '24h' or 'closed', got '{part.strip()}'")
        if start >= end:
            raise weekly.error(day, f"'{part.strip()}' must end after it starts")
        if ranges and start < ranges[-1][1]:
            raise weekly.error(day, "ranges must be in order and must not overlap")
        ranges.append((start, end))
    return tuple(ranges)


def _minute(text: str) -> int | None:
    if not _CLOCK.fullmatch(text):
        return None
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _form(f: _Reader) -> FormConfig:
    name = f.get("name", str, required=True)
    if name in BUILTIN_FORMS:
        raise f.error("name", f"'{name}' is reserved" if name else "must not be empty")
    fields: list[FormField] = []
    for r in f.tables("fields"):
        field_name = r.get("name", str, required=True)
        if not field_name:
            raise r.error("name", "must not be empty")
        if any(x.name == field_name for x in fields):
            raise r.error("name", f"duplicate field '{field_name}'")
        kind = r.get("type", str, "text")
        if kind not in FORM_FIELD_TYPES:
            raise r.error("type", f"must be one of {', '.join(FORM_FIELD_TYPES)}")
        choices = r.strings("choices")
        if kind == "choice" and not choices:
            raise r.error("choices", "a choice field needs choices")
        if kind != "choice" and choices:
            raise r.error("choices", "only a choice field has choices")
        fields.append(FormField(name=field_name, label=r.get("label", str, ""), type=kind,
                                required=r.get("required", bool, False), choices=choices))
        r.finish()
    form = FormConfig(name=name, title=f.get("title", str, ""), fields=tuple(fields))
    f.finish()
    return form


def _scenario(s: _Reader, queues: dict[str, QueueConfig], forms: dict[str, FormConfig]) -> ScenarioConfig:
    name = s.get("name", str, required=True)
    if not name:
        raise s.error("name", "must not be empty")
    steps: list[Step] = []
    labels: set[str] = set()
    references: list[tuple[str, str]] = []  # (field path, label)
    for step_reader in s.tables("steps"):
        step = _step(step_reader, queues, forms, references)
        if step.label:
            if step.label in labels:
                raise step_reader.error("id", f"duplicate step id '{step.label}'")
            labels.add(step.label)
        steps.append(step)
    s.finish()
    for at, label in references:
        if label not in labels:
            raise ConfigError(f"{at}: unknown step id '{label}'")
    return ScenarioConfig(name=name, steps=tuple(steps))


def _step(r: _Reader, queues: dict[str, QueueConfig], forms: dict[str, FormConfig],
          references: list[tuple[str, str]]) -> Step:
    actions = [key for key in r.data if key in STEP_SETTINGS]
    if len(actions) != 1:
        found = f"got {' and '.join(actions)}" if actions else "got none"
        raise ConfigError(f"{r.path}: a step needs exactly one action of {', '.join(STEP_SETTINGS)}; {found}")
    action = actions[0]
    label = r.get("id", str, "")
    if "id" in r.data and not label:
        raise r.error("id", "must not be empty")
    allowed = STEP_SETTINGS[action]
    for key in r.data:
        if key != "id" and key not in allowed:
            article = "an" if action[0] in "aeiou" else "a"
            raise r.error(key, f"not a setting of {article} {action} step (it takes {', '.join(allowed)})")

    def label_ref(key: str) -> None:
        value = r.get(key, str, None)
        if value is not None:
            references.append((r._at(key), value))

    def form_ref(key: str) -> None:
        value = r.get(key, str, required=True)
        if value not in forms and value not in BUILTIN_FORMS:
            raise r.error(key, f"unknown form '{value}'")

    if action in ("say", "set_case", "fail", "end"):
        r.get(action, str, required=True)
    elif action == "goto":
        label_ref("goto")
    elif action == "form":
        form_ref("form")
        r.int_between("timeout_secs", 300, *FORM_TIMEOUT_SECS)
        label_ref("on_timeout")
    elif action == "leave_message":
        form_ref("leave_message")
        r.int_between("timeout_secs", 300, *FORM_TIMEOUT_SECS)
        r.get("say_after", str, "")
    elif action == "branch":
        rules = r.tables("branch")
        if not rules:
            raise r.error("branch", "needs at least one rule")
        for rule in rules:
            _branch_rule(rule, references)
        label_ref("otherwise")
    elif action == "route":
        queue_id = r.get("route", str, required=True)
        if queue_id not in queues:
            raise r.error("route", f"unknown queue '{queue_id}'")
        r.int_between("priority", 0, *QUEUE_PRIORITIES)
        r.levels("skills")
        for key in ("if_no_agents", "if_closed", "on_ewt_above"):
            label_ref(key)
        if "on_ewt_above" in r.data:
            if "ewt_above_secs" not in r.data:
                raise r.error("ewt_above_secs", "required with on_ewt_above")
            r.int_between("ewt_above_secs", 0, *EWT_ABOVE_SECS)
        elif "ewt_above_secs" in r.data:
            raise r.error("ewt_above_secs", "only with on_ewt_above")
    r.finish()
    args = copy.deepcopy({k: v for k, v in r.data.items() if k != "id"})
    return Step(action=action, args=args, label=label)


def _branch_rule(rule: _Reader, references: list[tuple[str, str]]) -> None:
    rule.get("field", str, required=True)
    conditions = [key for key in BRANCH_CONDITIONS if key in rule.data]
    if len(conditions) != 1:
        raise ConfigError(f"{rule.path}: a rule needs exactly one of {', '.join(BRANCH_CONDITIONS)}")
    condition = conditions[0]
    if condition in ("equals", "not_equals"):
        rule.get(condition, (str, int, float, bool))
    elif condition == "in":
        values = rule.get("in", list)
        for i, value in enumerate(values):
            _check_type(value, (str, int, float), f"{rule.path}.in[{i}]")
    elif condition in ("above", "below"):
        rule.get(condition, (int, float))
    else:
        rule.get("present", bool)
    references.append((rule._at("goto"), rule.get("goto", str, required=True)))
    rule.finish()


def _entry(e: _Reader, queues: dict[str, QueueConfig], hours: dict[str, HoursConfig],
           scenarios: dict[str, ScenarioConfig], base_dir: Path) -> EntryConfig:
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
    widget = e.get("widget_configuration", dict, None)
    if widget is not None and widget_file:
        raise e.error("widget_configuration", "give widget_configuration or widget_configuration_file, not both")
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
    references = {}
    for key, known, what in (("scenario", scenarios, "scenario"), ("survey", scenarios, "scenario"),
                             ("hours", hours, "hours")):
        value = e.get(key, str, "")
        if value and value not in known:
            raise e.error(key, f"unknown {what} '{value}'")
        references[key] = value
    entry = EntryConfig(
        app_id=app_id, name=e.get("name", str, app_id), queue_id=queue_id, enabled=e.get("enabled", bool, True),
        parameters=tuple(parameters),
        widget_configuration=copy.deepcopy(widget) if widget is not None else default_widget_configuration(),
        ice_servers=tuple(ice),
        welcome_message=e.get("welcome_message", str, ""), bot_name=e.get("bot_name", str, "Assistant"),
        inactivity_warning_secs=warning, inactivity_timeout_secs=timeout,
        inactivity_warning_msg=e.get("inactivity_warning_msg", str, DEFAULT_INACTIVITY_WARNING_MSG),
        inactivity_timeout_msg=e.get("inactivity_timeout_msg", str, DEFAULT_INACTIVITY_TIMEOUT_MSG),
        unavailable_value=unavailable, push_enabled=e.get("push_enabled", bool, True),
        chat_icon_path=_existing_file(e, "chat_icon", icon, base_dir),
        allowed_origins=e.origins("allowed_origins"), **references)
    e.finish()
    return entry


def _agent(a: _Reader, base_dir: Path, running: TenantConfig | None) -> AgentConfig:
    username = a.get("username", str, required=True)
    password = a.get("password", str, None)
    password_hash = a.get("password_hash", str, None)
    if password is None and password_hash is None and running is not None:
        # a document from the admin API: the running account keeps its password
        password_hash = next((x.password_hash for x in running.agents if x.username == username), None)
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
    role = a.get("role", str, "agent")
    if role not in ROLES:
        raise a.error("role", f"must be one of {', '.join(ROLES)}")
    agent = AgentConfig(username=username,
                        password_hash=password_hash if password_hash is not None else hash_password(str(password)),
                        first_name=first, last_name=last, display_name=a.get("display_name", str, first),
                        max_chats=max_chats, photo_path=_existing_file(a, "photo", photo, base_dir),
                        auto_accept=a.get("auto_accept", bool, False), skills=a.levels("skills"),
                        team=a.get("team", str, ""), role=role)
    a.finish()
    return agent


def _existing_file(r: _Reader, key: str, value: str, base_dir: Path) -> str:
    if not value:
        return ""
    path = (base_dir / value).resolve()
    if not path.is_file():
        raise ConfigError(f"{r.path}.{key}: no such file '{value}'")
    return str(path)


# ---- writing ------------------------------------------------------------------------------------------


def contact_center_to_document(config: ContactCenterConfig) -> dict[str, Any]:
    """The document ``contact_center_from_document`` reads back into an equal configuration.

    Password hashes are never included (see ``contact_center_from_document``); file paths are
    absolute; an entry's widget configuration is inline (``widget_configuration``) when it is not
    the default.
    """
    return {"default_tenant": config.default_tenant,
            "tenants": [_tenant_document(t) for t in config.tenants.values()]}


def _tenant_document(t: TenantConfig) -> dict[str, Any]:
    return {
        "name": t.name,
        "aliases": list(t.aliases),
        "max_stored_files": t.max_stored_files,
        "agent_lost_grace_secs": t.agent_lost_grace_secs,
        "queues": [_queue_document(q) for q in t.queues.values()],
        "hours": [{"id": h.hours_id, "timezone": h.timezone,
                   "weekly": {day: format_day(ranges) for day, ranges in zip(WEEKDAYS, h.weekly, strict=True)},
                   "holidays": list(h.holidays)} for h in t.hours.values()],
        "forms": [{"name": f.name, "title": f.title,
                   "fields": [_field_document(x) for x in f.fields]} for f in t.forms.values()],
        "scenarios": [{"name": s.name, "steps": [_step_document(x) for x in s.steps]} for s in t.scenarios.values()],
        "entries": [_entry_document(e) for e in t.entries.values()],
        "agents": [_agent_document(a) for a in t.agents],
    }


def _queue_document(q: QueueConfig) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": q.queue_id, "name": q.name, "skills": dict(q.skills), "priority": q.priority,
                           "max_wait_secs": q.max_wait_secs}
    if q.overflow_queue:
        doc["overflow"] = q.overflow_queue
    doc.update({"max_wait_message": q.max_wait_message, "offer_timeout_secs": q.offer_timeout_secs,
                "default_handle_secs": q.default_handle_secs, "dispositions": list(q.dispositions)})
    return doc


def format_day(ranges: tuple[tuple[int, int], ...]) -> str:
    """A weekday's opening ranges as the file writes them ("closed", "24h", "09:00-17:00,…")."""
    if not ranges:
        return "closed"
    if ranges == ((0, MINUTES_PER_DAY),):
        return "24h"
    return ",".join(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}" for start, end in ranges)


def _field_document(f: FormField) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": f.name, "label": f.label, "type": f.type, "required": f.required}
    if f.choices:
        doc["choices"] = list(f.choices)
    return doc


def _step_document(step: Step) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": step.label} if step.label else {}
    doc.update(copy.deepcopy(step.args))
    return doc


def _entry_document(e: EntryConfig) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "app_id": e.app_id, "name": e.name, "queue": e.queue_id, "enabled": e.enabled,
        "unavailable_value": e.unavailable_value, "welcome_message": e.welcome_message, "bot_name": e.bot_name,
        "inactivity_warning_secs": e.inactivity_warning_secs, "inactivity_timeout_secs": e.inactivity_timeout_secs,
        "inactivity_warning_msg": e.inactivity_warning_msg, "inactivity_timeout_msg": e.inactivity_timeout_msg,
        "push_enabled": e.push_enabled, "scenario": e.scenario, "survey": e.survey, "hours": e.hours,
        "parameters": [{"name": name, "type": kind} for name, kind in e.parameters],
        "ice_servers": [dict(s) for s in e.ice_servers],
        "allowed_origins": list(e.allowed_origins),
    }
    if e.chat_icon_path:
        doc["chat_icon"] = e.chat_icon_path
    if e.widget_configuration != default_widget_configuration():
        doc["widget_configuration"] = copy.deepcopy(e.widget_configuration)
    return doc


def _agent_document(a: AgentConfig) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "username": a.username, "first_name": a.first_name, "last_name": a.last_name,
        "display_name": a.display_name, "max_chats": a.max_chats, "auto_accept": a.auto_accept,
        "skills": dict(a.skills), "team": a.team, "role": a.role,
    }
    if a.photo_path:
        doc["photo"] = a.photo_path
    return doc
