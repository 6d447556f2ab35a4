"""What one table names of another, checked against the tenant once every table is valid on its own:
unique names, an entry's queue, scenario, survey and hours, overflows (no loops), and in scenarios
every step label, form, queue, branch field and template name.

Each check returns ``<field path>: <message>`` strings, in the order of the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from frontdesk.domain.scenario_values import TEMPLATE
from frontdesk.protocol.tenant import normalise_tenant
from frontdesk.settings.scenarios import BranchStep, FormStep, LeaveMessageStep, RouteStep, ScenarioModel, step_args
from frontdesk.settings.tenant import DocumentModel, QueueModel, TenantModel
from frontdesk.settings.vocabulary import (
    BUILTIN_FORMS,
    REQUEST_LOCATION_FIELDS,
    STEP_LABEL_SETTINGS,
    TEMPLATE_SETTINGS,
)

T = TypeVar("T")
FIELDS_HINT = "param.<name>, form.<form>.<field>, hours, client, case, ewt.<queue> or agents.<queue>"


def document_problems(doc: DocumentModel, default_tenant_at: str) -> list[str]:
    problems = _duplicates(doc.tenants, lambda t: normalise_tenant(t.name), "tenants", "name", "tenant")
    for i, tenant in enumerate(doc.tenants):
        problems += tenant_problems(tenant, f"tenants[{i}]")
    names = {normalise_tenant(t.name) for t in doc.tenants}
    default = normalise_tenant(doc.default_tenant)
    if default and default not in names:
        problems.append(f"{default_tenant_at}: unknown tenant '{default}'")
    return problems


def tenant_problems(t: TenantModel, at: str) -> list[str]:
    problems = []
    if not normalise_tenant(t.name):
        problems.append(f"{at}.name: must be a host name")
    problems += _duplicates(t.queues, lambda q: q.id, f"{at}.queues", "id", "queue")
    problems += _overflows(t.queues, f"{at}.queues")
    problems += _duplicates(t.hours, lambda h: h.id, f"{at}.hours", "id", "hours")
    problems += _duplicates(t.forms, lambda f: f.name, f"{at}.forms", "name", "form")
    problems += _duplicates(t.scenarios, lambda s: s.name, f"{at}.scenarios", "name", "scenario")
    for i, scenario in enumerate(t.scenarios):
        problems += _scenario(t, scenario, f"{at}.scenarios[{i}]")
    problems += _duplicates(t.entries, lambda e: e.app_id, f"{at}.entries", "app_id", "entry")
    queues, scenarios, hours = {q.id for q in t.queues}, {s.name for s in t.scenarios}, {h.id for h in t.hours}
    for i, entry in enumerate(t.entries):
        e = f"{at}.entries[{i}]"
        if entry.queue not in queues:
            problems.append(f"{e}.queue: unknown queue '{entry.queue}'")
        for key, value, known, what in (("scenario", entry.scenario, scenarios, "scenario"),
                                        ("survey", entry.survey, scenarios, "scenario"),
                                        ("hours", entry.hours, hours, "hours")):
            if value and value not in known:
                problems.append(f"{e}.{key}: unknown {what} '{value}'")
    problems += _duplicates(t.agents, lambda a: a.username, f"{at}.agents", "username", "agent")
    return problems


def _duplicates(items: Iterable[T], name_of: Callable[[T], str], at: str, key: str, what: str) -> list[str]:
    seen: set[str] = set()
    problems = []
    for i, item in enumerate(items):
        name = name_of(item)
        if name in seen:
            problems.append(f"{at}[{i}].{key}: duplicate {what} '{name}'")
        seen.add(name)
    return problems


def _overflows(queues: list[QueueModel], at: str) -> list[str]:
    by_id = {q.id: q for q in queues}
    problems = []
    for i, queue in enumerate(queues):
        here = f"{at}[{i}].overflow"
        if not queue.overflow:
            continue
        if queue.overflow == queue.id:
            problems.append(f"{here}: a queue cannot overflow to itself")
            continue
        if queue.overflow not in by_id:
            problems.append(f"{here}: unknown queue '{queue.overflow}'")
            continue
        chain, nxt = [queue.id], queue.overflow
        while nxt and nxt in by_id:
            if nxt in chain:
                problems.append(f"{here}: overflow loop {' → '.join([*chain, nxt])}")
                break
            chain.append(nxt)
            nxt = by_id[nxt].overflow
    return problems


def _scenario(t: TenantModel, scenario: ScenarioModel, at: str) -> list[str]:
    problems: list[str] = []
    labels: set[str] = set()
    for i, step in enumerate(scenario.steps):
        if step.id and step.id in labels:
            problems.append(f"{at}.steps[{i}].id: duplicate step id '{step.id}'")
        labels.add(step.id)
    labels.discard("")
    queues, forms = {q.id for q in t.queues}, {f.name for f in t.forms}
    for i, step in enumerate(scenario.steps):
        s = f"{at}.steps[{i}]"
        args = step_args(step)
        for key in STEP_LABEL_SETTINGS:
            label = args.get(key)
            if isinstance(label, str) and label not in labels:
                problems.append(f"{s}.{key}: unknown step id '{label}'")
        if isinstance(step, (FormStep, LeaveMessageStep)):
            key = "form" if isinstance(step, FormStep) else "leave_message"
            name = args[key]
            if name not in forms and name not in BUILTIN_FORMS:
                problems.append(f"{s}.{key}: unknown form '{name}'")
        if isinstance(step, RouteStep) and step.route not in queues:
            problems.append(f"{s}.route: unknown queue '{step.route}'")
        if isinstance(step, BranchStep):
            for j, rule in enumerate(step.branch):
                if not _known_field(t, rule.field):
                    problems.append(f"{s}.branch[{j}].field: unknown field '{rule.field}' (fields are {FIELDS_HINT})")
                if rule.goto not in labels:
                    problems.append(f"{s}.branch[{j}].goto: unknown step id '{rule.goto}'")
        for key in TEMPLATE_SETTINGS:
            text = args.get(key)
            for name in TEMPLATE.findall(text) if isinstance(text, str) else ():
                if not _known_field(t, name):
                    problems.append(f"{s}.{key}: unknown template name '{{{name}}}' (templates name {FIELDS_HINT})")
    return problems


def _known_field(t: TenantModel, name: str) -> bool:
    """Whether a branch field or template name means something (docs/scenarios.md, "Branch rules")."""
    if name in ("hours", "client", "case"):
        return True
    kind, _, rest = name.partition(".")
    if kind == "param":
        return bool(rest)
    if kind in ("ewt", "agents"):
        return any(q.id == rest for q in t.queues)
    if kind == "form":
        form_name, dot, field = rest.partition(".")
        if not dot or not field:
            return False
        if form_name == "":
            return field == "text"
        if form_name == "RequestLocation":
            return field in REQUEST_LOCATION_FIELDS
        form = next((f for f in t.forms if f.name == form_name), None)
        return form is not None and (not form.fields or any(x.name == field for x in form.fields))
    return False
