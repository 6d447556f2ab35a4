"""The scenario engine: the steps the ``scenario`` party runs before (and after) agents.

A scenario (``ScenarioConfig``, docs/scenarios.md) is a list of steps — say, form, branch,
set_case, route, leave_message, fail, end, goto. The engine runs them inside the caller's action
until a step waits (a form), routes the chat, or ends it. Its state lives in ``session.scenario``
and is saved with the session, so a restarted server resumes a waiting scenario (form timeouts
are timers in storage too)::

    {"name": <scenario name, "" = the entry's default>, "phase": "main" | "survey",
     "pc": <index of the next step>, "vars": {"form.<form>.<field>": value, ...},
     "waiting_form": <form_request_id>, "waiting_form_name": <form name>, "waiting_step": <index>,
     "route_queue": <queue of the last route step evaluated>, "done": <True once routed or over>}

Entry points (each runs inside the caller's ``Journal.action()``): ``start`` (Request Chat),
``on_form_answered`` / ``on_form_closed`` (the customer answered or cancelled, or the form timed
out), ``start_survey`` (the customer's ``chat_session_disconnect``). ``scenario_values.validate_answer`` checks an
answer before anything changes.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from frontdesk.domain import routing
from frontdesk.domain.config import ContactCenterConfig, EntryConfig, ScenarioConfig, Step, TenantConfig
from frontdesk.domain.forms import show_form
from frontdesk.domain.hours import entry_hours, is_open
from frontdesk.domain.journal import ActionContext, to_everyone
from frontdesk.domain.lifecycle import (
    INACTIVITY_TIMEOUT,
    INACTIVITY_WARNING,
    OFFER_TIMEOUT,
    QUEUE_MAX_WAIT,
    active_parties,
    end_session,
    fail_session,
    party_leaves,
    say,
    scenario_party,
)
from frontdesk.domain.offers import offer_decided
from frontdesk.domain.scenario_values import TEMPLATE, TEXT_FORM, as_text, rule_matches
from frontdesk.observability.logs import get_logger
from frontdesk.protocol import events as ev
from frontdesk.storage.records import FormRequestRecord, JsonObject, LeftMessageRecord, SessionRecord

log = get_logger(__name__)

MAIN = "main"
SURVEY = "survey"
LOCATION_FORM = "RequestLocation"
MAX_STEPS_PER_ADVANCE = 100
DEFAULT_FORM_TIMEOUT_SECS = 300
DEFAULT_LEAVE_MESSAGE_TIMEOUT_SECS = 600
MAX_FORM_TIMEOUT_SECS = 24 * 3600
DEFAULT_SAY_AFTER = "Thanks, we will get back to you."
CLOSED_MESSAGE = "We are closed right now. Please come back during our opening hours."
BROKEN_MESSAGE = "Sorry, something went wrong on our side. Please try again later."
MAX_CASE_ID_CHARS = 128


class ScenarioBroken(Exception):
    """The scenario cannot go on (an unknown step id or queue after a reload): the chat fails."""


@dataclass(frozen=True, slots=True)
class _Run:
    """What one pass of the engine works with."""

    config: ContactCenterConfig
    tenant: TenantConfig
    entry: EntryConfig
    scenario: ScenarioConfig

    def label(self, name: str) -> int:
        for index, step in enumerate(self.scenario.steps):
            if step.label == name:
                return index
        raise ScenarioBroken(f"scenario '{self.scenario.name}' has no step with id '{name}'")


def default_scenario(entry: EntryConfig) -> ScenarioConfig:
    """What an entry without ``scenario`` runs: its welcome message, then its queue."""
    steps: list[Step] = []
    if entry.welcome_message:
        steps.append(Step("say", {"say": entry.welcome_message}))
    steps.append(Step("route", {"route": entry.queue_id}))
    return ScenarioConfig(name="", steps=tuple(steps))


def _run_for(config: ContactCenterConfig, session: SessionRecord) -> _Run | None:
    tenant = config.tenants.get(session.tenant)
    entry = tenant.entries.get(session.app_id) if tenant else None
    if tenant is None or entry is None:
        return None
    name = str(session.scenario.get("name", ""))
    if session.scenario.get("phase", MAIN) == MAIN and not name:
        return _Run(config, tenant, entry, default_scenario(entry))
    scenario = tenant.scenarios.get(name)
    return _Run(config, tenant, entry, scenario) if scenario is not None else None


def is_waiting_on(session: SessionRecord, form: FormRequestRecord) -> bool:
    """Whether the form request is the one the chat's scenario waits for."""
    state = session.scenario
    return bool(state) and not state.get("done") and state.get("waiting_form") == form.form_request_id


def waiting_text_form(session: SessionRecord) -> int | None:
    """The form request of a waiting ``form = ""`` step (the next typed text answers it)."""
    state = session.scenario
    if state and not state.get("done") and "waiting_form" in state and state.get("waiting_form_name") == TEXT_FORM:
        return int(state["waiting_form"])
    return None


# ---- entry points ---------------------------------------------------------------------------------------


async def start(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord, entry: EntryConfig) -> None:
    """Run the entry's scenario for a new chat until it waits, routes or ends.

    A configured scenario announces ``chat_session_status`` ``ivr`` first (every client accepts the
    state; the web widget ignores it). The default scenario routes within this same action, so it
    says nothing of ``ivr``: its customers see exactly the events they always saw.
    """
    ctx.track(session)
    session.state = "ivr"
    session.scenario = {"name": entry.scenario, "phase": MAIN, "pc": 0, "vars": {}, "route_queue": ""}
    if entry.scenario:
        await ctx.emit(session, to_everyone(ev.status("ivr", 0)))
    await _resume(ctx, config, session)


async def on_form_answered(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord,
                           form: FormRequestRecord, data: JsonObject | None) -> None:
    """The customer answered the scenario's form (already validated and stored): keep the answer
    in the scenario's variables (not a secure form's: ``data`` is None) and go on."""
    if not is_waiting_on(session, form):
        return
    ctx.track(session)
    state = session.scenario
    step = _release_wait(config, session)
    variables = state.setdefault("vars", {})
    for key, value in (data or {}).items():
        variables[f"form.{form.form_name}.{key}"] = value
    if step is not None and step.action == "leave_message":
        await _leave_message(ctx, config, session, step, data or {})
        return
    await _resume(ctx, config, session)


async def on_form_closed(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord,
                         form: FormRequestRecord) -> None:
    """The scenario's form was cancelled or timed out: a form step goes on at its ``on_timeout``
    (or the next step); a leave_message step ends the chat. Any other form: nothing to do."""
    if not is_waiting_on(session, form) or session.terminal:
        return
    ctx.track(session)
    state = session.scenario
    step = _release_wait(config, session)
    if step is not None and step.action == "leave_message":
        state["done"] = True
        await end_session(ctx, session, "left_no_message", customer_sees=True)
        return
    on_timeout = str(step.args.get("on_timeout", "")) if step is not None else ""
    if on_timeout:
        run = _run_for(config, session)
        try:
            if run is None:
                raise ScenarioBroken(f"scenario '{state.get('name')}' is no longer configured")
            state["pc"] = run.label(on_timeout)
        except ScenarioBroken as broken:
            await _broken(ctx, config, session, broken)
            return
    await _resume(ctx, config, session)


async def start_survey(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord,
                       entry: EntryConfig) -> bool:
    """The customer's ``chat_session_disconnect``: with a survey on the entry and an agent who had
    connected, every agent leaves, the chat is back under scenario control (``ivr``) and the survey
    runs; it ends the chat after its last step. False: no survey, the caller ends the chat."""
    if not entry.survey or session.connected_at is None or session.scenario.get("phase") == SURVEY:
        return False
    tenant = config.tenants.get(session.tenant)
    if tenant is None or entry.survey not in tenant.scenarios:
        log.warning("survey not configured: the chat ends without it", entry=entry.app_id, survey=entry.survey,
                    chat=session.chat_id)
        return False
    ctx.track(session)
    for party in await active_parties(ctx, session):
        await party_leaves(ctx, session, party, customer_sees=True)
    if session.offered_agent_id:
        await offer_decided(ctx, session.chat_id, session.offered_agent_id, "withdrawn")
        ctx.wake_agent(session.offered_agent_id)
        session.offered_agent_id = ""
    for kind in (INACTIVITY_WARNING, INACTIVITY_TIMEOUT, OFFER_TIMEOUT, QUEUE_MAX_WAIT):
        await ctx.tx.timers.cancel(session.chat_id, kind)
    session.state = "ivr"
    await ctx.emit(session, to_everyone(ev.status("ivr", 0)))
    previous = session.scenario
    session.scenario = {"name": entry.survey, "phase": SURVEY, "pc": 0, "vars": dict(previous.get("vars", {})),
                        "route_queue": previous.get("route_queue", "")}
    ctx.wake_tenant(session.tenant)
    await _resume(ctx, config, session)
    await routing.dispatch(ctx, config, session.tenant)  # the agents who left have room again
    return True


# ---- answers ----------------------------------------------------------------------------------------------


# ---- the engine -------------------------------------------------------------------------------------------


async def _resume(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord) -> None:
    run = _run_for(config, session)
    try:
        if run is None:
            raise ScenarioBroken(f"scenario '{session.scenario.get('name')}' of chat {session.chat_id} "
                                 "is no longer configured")
        await _advance(ctx, run, session)
    except ScenarioBroken as broken:
        await _broken(ctx, config, session, broken)


async def _broken(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord,
                  broken: ScenarioBroken) -> None:
    log.error("scenario failed", chat=session.chat_id, error=str(broken))
    session.scenario["done"] = True
    run = _run_for(config, session)
    await fail_session(ctx, session, "scenario_error", BROKEN_MESSAGE,
                       run.entry.bot_name if run else "Assistant")


async def _advance(ctx: ActionContext, run: _Run, session: SessionRecord) -> None:
    """Run steps from ``pc`` until one waits, routes or ends the chat (at most
    ``MAX_STEPS_PER_ADVANCE``: a scenario that loops fails the chat)."""
    state = session.scenario
    steps = run.scenario.steps
    executed = 0
    while not session.terminal and not state.get("done") and "waiting_form" not in state:
        pc = int(state.get("pc", 0))
        if pc >= len(steps):
            await _ran_out(ctx, run, session)
            return
        if executed >= MAX_STEPS_PER_ADVANCE:
            log.error(f"scenario stopped as a loop: executed {executed} steps without waiting",
                      scenario=run.scenario.name, chat=session.chat_id)
            state["done"] = True
            await fail_session(ctx, session, "scenario_loop", BROKEN_MESSAGE, run.entry.bot_name)
            return
        executed += 1
        state["pc"] = pc + 1
        await _execute(ctx, run, session, steps[pc], pc)


async def _ran_out(ctx: ActionContext, run: _Run, session: SessionRecord) -> None:
    """Past the last step: the main scenario routes to the entry's queue (with the fallbacks of a
    route step without labels), a survey ends the chat."""
    if session.scenario.get("phase") == SURVEY:
        session.scenario["done"] = True
        await end_session(ctx, session, "customer_disconnect", customer_sees=True)
    else:
        await _route(ctx, run, session, {"route": run.entry.queue_id})


async def _execute(ctx: ActionContext, run: _Run, session: SessionRecord, step: Step, index: int) -> None:
    state = session.scenario
    args = step.args
    action = step.action
    bot_name = run.entry.bot_name
    if action == "say":
        text = await _render(ctx, run, session, str(args.get("say", "")))
        if text:
            await say(ctx, session, text, bot_name)
    elif action == "form":
        await _show_form(ctx, run, session, str(args.get("form", "")),
                         _timeout(args, DEFAULT_FORM_TIMEOUT_SECS), index)
    elif action == "leave_message":
        await _show_form(ctx, run, session, str(args.get("leave_message", "")),
                         _timeout(args, DEFAULT_LEAVE_MESSAGE_TIMEOUT_SECS), index)
    elif action == "branch":
        target = await _branch(ctx, run, session, args)
        if target:
            state["pc"] = run.label(target)
    elif action == "set_case":
        await _set_case(ctx, run, session, str(args.get("set_case", "")))
    elif action == "route":
        await _route(ctx, run, session, args)
    elif action == "fail":
        state["done"] = True
        text = await _render(ctx, run, session, str(args.get("fail", "")))
        await fail_session(ctx, session, "scenario_failed", text, bot_name)
    elif action == "end":
        state["done"] = True
        text = await _render(ctx, run, session, str(args.get("end", "")))
        if text:
            await say(ctx, session, text, bot_name)
        await end_session(ctx, session, "scenario_end", customer_sees=True)
    elif action == "goto":
        state["pc"] = run.label(str(args.get("goto", "")))
    else:
        raise ScenarioBroken(f"unknown action '{action}' in scenario '{run.scenario.name}'")


def _timeout(args: dict[str, Any], default: int) -> int:
    value = args.get("timeout_secs", default)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return min(max(1, value), MAX_FORM_TIMEOUT_SECS)


async def _show_form(ctx: ActionContext, run: _Run, session: SessionRecord, form_name: str, timeout_secs: int,
                     index: int) -> None:
    """``chat_session_form_show`` from the scenario party; the scenario waits for the answer."""
    bot = await scenario_party(ctx, session, run.entry.bot_name)
    form_request_id = await show_form(ctx, session, bot, form_name, timeout_secs, "system")
    session.scenario.update(waiting_form=form_request_id, waiting_form_name=form_name, waiting_step=index)


def _release_wait(config: ContactCenterConfig, session: SessionRecord) -> Step | None:
    """Stop waiting; the step that waited (None when a reload changed the scenario under it)."""
    state = session.scenario
    index = state.pop("waiting_step", None)
    form_name = state.pop("waiting_form_name", None)
    state.pop("waiting_form", None)
    run = _run_for(config, session)
    if run is None or not isinstance(index, int) or not 0 <= index < len(run.scenario.steps):
        return None
    step = run.scenario.steps[index]
    main_value = step.args.get(step.action)
    if step.action not in ("form", "leave_message") or main_value != form_name:
        return None
    return step


async def _leave_message(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord, step: Step,
                         data: JsonObject) -> None:
    """Keep the customer's message for agents, thank them, and end the chat."""
    state = session.scenario
    state["done"] = True
    queue_id = str(state.get("route_queue") or session.queue_id)
    await ctx.tx.left_messages.insert(LeftMessageRecord(
        message_id=uuid.uuid4().hex, tenant=session.tenant, chat_id=session.chat_id, queue_id=queue_id,
        created_at=ctx.now, data=dict(data)))
    run = _run_for(config, session)
    bot_name = run.entry.bot_name if run else "Assistant"
    say_after = str(step.args.get("say_after", DEFAULT_SAY_AFTER))
    if run is not None:
        say_after = await _render(ctx, run, session, say_after)
    if say_after:
        await say(ctx, session, say_after, bot_name)
    ctx.wake_tenant(session.tenant)
    await end_session(ctx, session, "left_message", customer_sees=True)


async def _set_case(ctx: ActionContext, run: _Run, session: SessionRecord, template: str) -> None:
    case_id = uuid.uuid4().hex if template.strip() == "new" else await _render(ctx, run, session, template)
    case_id = case_id.strip()[:MAX_CASE_ID_CHARS]
    session.case_id = case_id
    if case_id:
        await ctx.tx.cases.ensure(session.tenant, case_id, ctx.now)
    await ctx.emit(session, to_everyone(ev.case_set(case_id, ctx.now)))


async def _route(ctx: ActionContext, run: _Run, session: SessionRecord, args: dict[str, Any]) -> None:
    """Queue the chat, unless a fallback applies: closed hours (``if_closed``, else the chat fails
    with ``CLOSED_MESSAGE``), nobody logged in with the skills (``if_no_agents``, else it queues
    all the same: an agent may log in), a long estimate (``on_ewt_above`` past ``ewt_above_secs``)."""
    state = session.scenario
    queue_id = str(args.get("route", ""))
    queue = run.tenant.queues.get(queue_id)
    if queue is None:
        raise ScenarioBroken(f"scenario '{run.scenario.name}' routes to unknown queue '{queue_id}'")
    state["route_queue"] = queue_id
    if not is_open(entry_hours(run.tenant, run.entry), ctx.now):
        if args.get("if_closed"):
            state["pc"] = run.label(str(args["if_closed"]))
            return
        state["done"] = True
        await fail_session(ctx, session, "closed", CLOSED_MESSAGE, run.entry.bot_name)
        return
    raw_skills = args.get("skills")
    skills = {str(k): int(v) for k, v in raw_skills.items()} if isinstance(raw_skills, dict) else None
    if args.get("if_no_agents"):
        staff = await routing.staffing(ctx, session.tenant, routing.required_skills(queue, skills or {}))
        if staff.logged_in == 0:
            state["pc"] = run.label(str(args["if_no_agents"]))
            return
    limit = args.get("ewt_above_secs")
    if args.get("on_ewt_above") and isinstance(limit, (int, float)) and not isinstance(limit, bool):
        estimate = await routing.estimate_new_chat(ctx, run.config, session.tenant, queue_id)
        if estimate is not None and estimate > limit:
            state["pc"] = run.label(str(args["on_ewt_above"]))
            return
    state["done"] = True
    priority = args.get("priority")
    await routing.enqueue(ctx, run.config, session, queue_id,
                          priority if isinstance(priority, int) and not isinstance(priority, bool) else None,
                          skills)


# ---- branch conditions and templates ---------------------------------------------------------------------


async def _branch(ctx: ActionContext, run: _Run, session: SessionRecord, args: dict[str, Any]) -> str:
    """The label of the first rule that matches, else ``otherwise`` ("" = the next step)."""
    rules = args.get("branch", [])
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        value = await _field(ctx, run, session, str(rule.get("field", "")))
        if rule_matches(value, rule):
            return str(rule.get("goto", ""))
    return str(args.get("otherwise", ""))


async def _field(ctx: ActionContext, run: _Run, session: SessionRecord, name: str) -> Any:
    """The value of a branch field or template name; None when it has none."""
    if name == "hours":
        return "open" if is_open(entry_hours(run.tenant, run.entry), ctx.now) else "closed"
    if name == "client":
        return session.client_kind
    if name == "case":
        return session.case_id or None
    kind, _, rest = name.partition(".")
    if kind == "param" and rest:
        value: Any = session.parameters
        for part in rest.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value
    if kind == "form":
        return session.scenario.get("vars", {}).get(name)
    if kind == "ewt" and rest:
        return await routing.estimate_new_chat(ctx, run.config, session.tenant, rest)
    if kind == "agents" and rest:
        queue = run.tenant.queues.get(rest)
        if queue is None:
            return None
        return (await routing.staffing(ctx, session.tenant, queue.skills)).logged_in
    return None


async def _render(ctx: ActionContext, run: _Run, session: SessionRecord, template: str) -> str:
    """``{param.x}``, ``{form.f.field}``, ``{case}``, ``{ewt.queue}`` (whole minutes, rounded up);
    every other name, and a name without a value, becomes empty text."""
    parts: list[str] = []
    last = 0
    for match in TEMPLATE.finditer(template):
        parts.append(template[last:match.start()])
        name = match.group(1)
        value = await _field(ctx, run, session, name)
        if name.startswith("ewt.") and value is not None:
            minutes = math.ceil(float(value) / 60)
            parts.append(f"{minutes} minute" if minutes == 1 else f"{minutes} minutes")
        elif value is not None and not isinstance(value, (dict, list)):
            parts.append(as_text(value))
        last = match.end()
    parts.append(template[last:])
    return "".join(parts)
