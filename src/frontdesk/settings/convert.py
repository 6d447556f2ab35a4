"""Validated models → the engine's configuration (``frontdesk.domain.config`` dataclasses).

What needs the file system (an icon, a photo, a widget document next to the configuration) or the
running configuration (an agent's kept password hash) is checked here; plain passwords are hashed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from frontdesk.domain.config import (
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
from frontdesk.protocol.tenant import normalise_tenant
from frontdesk.settings.errors import ConfigError
from frontdesk.settings.references import document_problems
from frontdesk.settings.scenarios import ScenarioModel, action_of, step_args
from frontdesk.settings.tenant import AgentModel, DocumentModel, EntryModel, FormModel, QueueModel, TenantModel


class _Problems:
    """Collects the errors of one conversion; raises them together."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def raise_any(self) -> None:
        if self.found:
            raise ConfigError(self.found)


def contact_center(doc: DocumentModel, base_dir: Path, current: ContactCenterConfig | None,
                   default_tenant_at: str) -> ContactCenterConfig:
    problems = document_problems(doc, default_tenant_at)
    if problems:
        raise ConfigError(problems)
    collected = _Problems()
    tenants: dict[str, TenantConfig] = {}
    for i, model in enumerate(doc.tenants):
        name = normalise_tenant(model.name)
        running = current.tenants.get(name) if current else None
        tenants[name] = _tenant(model, name, f"tenants[{i}]", base_dir, running, collected)
    collected.raise_any()
    default = normalise_tenant(doc.default_tenant)
    return ContactCenterConfig(tenants=tenants, default_tenant=default or next(iter(tenants)))


def _tenant(t: TenantModel, name: str, at: str, base_dir: Path, running: TenantConfig | None,
            problems: _Problems) -> TenantConfig:
    return TenantConfig(
        name=name, aliases=tuple(normalise_tenant(a) for a in t.aliases),
        entries={e.app_id: _entry(e, f"{at}.entries[{i}]", base_dir, problems) for i, e in enumerate(t.entries)},
        queues={q.id: _queue(q) for q in t.queues},
        agents=tuple(_agent(a, f"{at}.agents[{i}]", base_dir, running, problems) for i, a in enumerate(t.agents)),
        max_stored_files=t.max_stored_files,
        hours={h.id: HoursConfig(h.id, h.timezone, h.week(), tuple(h.holidays)) for h in t.hours},
        forms={f.name: _form(f) for f in t.forms},
        scenarios={s.name: _scenario(s) for s in t.scenarios},
        agent_lost_grace_secs=t.agent_lost_grace_secs)


def _queue(q: QueueModel) -> QueueConfig:
    return QueueConfig(queue_id=q.id, name=q.name, skills=dict(q.skills), priority=q.priority,
                       max_wait_secs=q.max_wait_secs, overflow_queue=q.overflow, max_wait_message=q.max_wait_message,
                       offer_timeout_secs=q.offer_timeout_secs, default_handle_secs=q.default_handle_secs,
                       dispositions=tuple(q.dispositions))


def _form(f: FormModel) -> FormConfig:
    return FormConfig(name=f.name, title=f.title, fields=tuple(
        FormField(name=x.name, label=x.label, type=x.type, required=x.required, choices=tuple(x.choices))
        for x in f.fields))


def _scenario(s: ScenarioModel) -> ScenarioConfig:
    return ScenarioConfig(name=s.name, steps=tuple(
        Step(action=action_of(step), args=copy.deepcopy(step_args(step)), label=step.id) for step in s.steps))


def _entry(e: EntryModel, at: str, base_dir: Path, problems: _Problems) -> EntryConfig:
    widget: Any = copy.deepcopy(e.widget_configuration)
    if e.widget_configuration_file:
        try:
            widget = json.loads((base_dir / e.widget_configuration_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.found.append(f"{at}.widget_configuration_file: {exc}")
        else:
            if not isinstance(widget, dict):
                problems.found.append(f"{at}.widget_configuration_file: must hold a JSON object")
    return EntryConfig(
        app_id=e.app_id, name=e.name if e.name is not None else e.app_id, queue_id=e.queue, enabled=e.enabled,
        parameters=tuple((p.name, p.type) for p in e.parameters),
        widget_configuration=widget if isinstance(widget, dict) else default_widget_configuration(),
        ice_servers=tuple(s.model_dump(exclude_none=True) for s in e.ice_servers),
        welcome_message=e.welcome_message, bot_name=e.bot_name,
        inactivity_warning_secs=e.inactivity_warning_secs, inactivity_timeout_secs=e.inactivity_timeout_secs,
        inactivity_warning_msg=e.inactivity_warning_msg, inactivity_timeout_msg=e.inactivity_timeout_msg,
        unavailable_value=e.unavailable_value, push_enabled=e.push_enabled,
        chat_icon_path=_existing_file(e.chat_icon, f"{at}.chat_icon", base_dir, problems),
        scenario=e.scenario, survey=e.survey, hours=e.hours, allowed_origins=tuple(dict.fromkeys(e.allowed_origins)))


def _agent(a: AgentModel, at: str, base_dir: Path, running: TenantConfig | None, problems: _Problems) -> AgentConfig:
    password_hash = a.password_hash
    if a.password is None and password_hash is None and running is not None:
        # a document from the admin API: the running account keeps its password
        password_hash = next((x.password_hash for x in running.agents if x.username == a.username), None)
    if a.password is not None:
        password_hash = hash_password(a.password)
    if password_hash is None:
        problems.found.append(f"{at}.password: give exactly one of password or password_hash")
        password_hash = ""
    first = a.first_name if a.first_name is not None else a.username
    return AgentConfig(username=a.username, password_hash=password_hash, first_name=first, last_name=a.last_name,
                       display_name=a.display_name if a.display_name is not None else first,
                       max_chats=a.max_chats, photo_path=_existing_file(a.photo, f"{at}.photo", base_dir, problems),
                       auto_accept=a.auto_accept, skills=dict(a.skills), team=a.team, role=a.role)


def _existing_file(value: str, at: str, base_dir: Path, problems: _Problems) -> str:
    if not value:
        return ""
    path = (base_dir / value).resolve()
    if not path.is_file():
        problems.found.append(f"{at}: no such file '{value}'")
    return str(path)
