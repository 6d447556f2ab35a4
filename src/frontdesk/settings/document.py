"""The running configuration as a document (the JSON shape of the file's tenants, without
``[server]``), as the admin API writes it; ``frontdesk.settings.load.contact_center_from_document``
reads it back into an equal configuration."""

from __future__ import annotations

import copy
from typing import Any

from frontdesk.domain.config import (
    AgentConfig,
    ContactCenterConfig,
    EntryConfig,
    FormField,
    QueueConfig,
    Step,
    TenantConfig,
    default_widget_configuration,
)
from frontdesk.settings.hours import format_day
from frontdesk.settings.vocabulary import WEEKDAYS


def contact_center_to_document(config: ContactCenterConfig, password_hashes: bool = False) -> dict[str, Any]:
    """The document ``contact_center_from_document`` reads back into an equal configuration.

    Password hashes are included only with ``password_hashes`` (the copy stored in the database for
    the other processes; the admin API never shows them, see ``contact_center_from_document``); file
    paths are absolute; an entry's widget configuration is inline (``widget_configuration``) when it
    is not the default.
    """
    return {"default_tenant": config.default_tenant,
            "tenants": [_tenant_document(t, password_hashes) for t in config.tenants.values()]}


def _tenant_document(t: TenantConfig, password_hashes: bool) -> dict[str, Any]:
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
        "agents": [_agent_document(a, password_hashes) for a in t.agents],
    }


def _queue_document(q: QueueConfig) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": q.queue_id, "name": q.name, "skills": dict(q.skills), "priority": q.priority,
                           "max_wait_secs": q.max_wait_secs}
    if q.overflow_queue:
        doc["overflow"] = q.overflow_queue
    doc.update({"max_wait_message": q.max_wait_message, "offer_timeout_secs": q.offer_timeout_secs,
                "default_handle_secs": q.default_handle_secs, "dispositions": list(q.dispositions)})
    return doc


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


def _agent_document(a: AgentConfig, password_hash: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "username": a.username, "first_name": a.first_name, "last_name": a.last_name,
        "display_name": a.display_name, "max_chats": a.max_chats, "auto_accept": a.auto_accept,
        "skills": dict(a.skills), "team": a.team, "role": a.role,
    }
    if password_hash:
        doc["password_hash"] = a.password_hash
    if a.photo_path:
        doc["photo"] = a.photo_path
    return doc
