"""Historical reports of a tenant over a time range ``[since, until)``: per queue and per agent.

Definitions (docs/supervisors.md describes every column):

- The queue report counts the chats *created* in the range that entered a queue (``queued_at`` is
  set), each under the queue it was last in (a chat that overflowed counts in the overflow queue).
- The agent report counts the offers made in the range, the agent parties that joined in the range
  and the wrap-ups written in the range.
- The survey reports count the chats *created* in the range whose post-chat survey ran, per queue
  (the queue the chat was last in) and per agent (every agent who was in the chat); the rating is
  the answer to the first ``rating`` field of the forms the survey's steps show.
- Percentiles are nearest-rank: the p-th percentile of n sorted values is the value at rank
  ``ceil(p / 100 * n)`` (1-based); of no values it is ``None``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from frontdesk.domain.config import TenantConfig
from frontdesk.domain.errors import Invalid
from frontdesk.domain.roles import require_supervisor
from frontdesk.domain.scenario import SURVEY as SURVEY_PHASE  # the phase once the post-chat survey runs
from frontdesk.domain.scenario_values import RATING_RANGE, as_number
from frontdesk.domain.service import EngineService
from frontdesk.storage.records import AgentRecord, OfferRecord, PartyRecord, SessionRecord, WrapUpRecord

DEFAULT_RANGE_SECS = 24 * 3600
MAX_RANGE_SECS = 366 * 24 * 3600
SERVICE_LEVEL_SECS = 60.0  # answered within this many seconds of entering the queue
EWT_MIN_WAIT_SECS = 10.0  # the EWT error is measured over answered chats that waited at least this long
ABANDON_REASONS = frozenset({"customer_end", "customer_disconnect", "inactivity_timeout"})
FAIL_REASONS = frozenset({"max_wait", "scenario_failed"})


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p ≤ 100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(slots=True)
class QueueRow:
    queue_id: str
    offered: int = 0  # chats that entered the queue
    answered: int = 0  # connected to an agent
    abandoned: int = 0  # ended by the customer (or customer inactivity) before connecting
    failed: int = 0  # no agent in time (max_wait) or the scenario failed
    other_unanswered: int = 0  # ended before connecting for any other reason (e.g. left a message)
    waiting: int = 0  # not connected and not ended yet
    wait_p50_secs: float | None = None  # of answered chats: connected_at − queued_at
    wait_p90_secs: float | None = None
    wait_p99_secs: float | None = None
    handle_avg_secs: float | None = None  # of ended answered chats: ended_at − connected_at
    handle_p90_secs: float | None = None
    answered_within_sl: int = 0  # answered within SERVICE_LEVEL_SECS
    service_level: float | None = None  # answered_within_sl / offered
    ewt_samples: int = 0  # answered chats that waited ≥ EWT_MIN_WAIT_SECS and were given an estimate
    ewt_abs_error_p50_secs: float | None = None  # median |ewt_predicted − wait|
    ewt_rel_error_p50: float | None = None  # median |ewt_predicted − wait| / wait


@dataclass(slots=True)
class AgentRow:
    agent_id: str
    username: str = ""
    display_name: str = ""
    team: str = ""
    offers: int = 0
    accepted: int = 0
    rejected: int = 0
    timed_out: int = 0
    withdrawn: int = 0  # taken back (the agent logged out or its desktop vanished)
    pending: int = 0  # no outcome recorded (still open, or the chat ended while offered)
    chats_handled: int = 0  # times the agent joined a chat
    handle_avg_secs: float | None = None  # party joined → left, of the parties that left
    wrap_ups: int = 0
    wrap_ups_by_disposition: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Report:
    tenant: str
    since: float
    until: float
    generated_at: float
    rows: list[Any]


RATINGS = tuple(str(v) for v in range(RATING_RANGE[0], RATING_RANGE[1] + 1))


def _no_ratings() -> dict[str, int]:
    return dict.fromkeys(RATINGS, 0)


@dataclass(slots=True)
class SurveyQueueRow:
    queue_id: str
    surveys: int = 0  # chats whose post-chat survey ran
    answered: int = 0  # of them, those whose customer gave a rating
    rating_avg: float | None = None  # mean rating of the answered
    ratings: dict[str, int] = field(default_factory=_no_ratings)  # rating ("0" … "10") → how many


@dataclass(slots=True)
class SurveyAgentRow:
    agent_id: str
    username: str = ""
    display_name: str = ""
    team: str = ""
    surveys: int = 0
    answered: int = 0
    rating_avg: float | None = None
    ratings: dict[str, int] = field(default_factory=_no_ratings)


QUEUE_COLUMNS = tuple(f.name for f in fields(QueueRow))
AGENT_COLUMNS = tuple(f.name for f in fields(AgentRow))
SURVEY_QUEUE_COLUMNS = tuple(f.name for f in fields(SurveyQueueRow))
SURVEY_AGENT_COLUMNS = tuple(f.name for f in fields(SurveyAgentRow))


@dataclass(frozen=True, slots=True)
class Survey:
    """One chat whose survey ran: where it was, who served it, and the rating (None: not given)."""

    queue_id: str
    agent_ids: tuple[str, ...]
    rating: int | None


# ---- computation (pure) ---------------------------------------------------------------------------------


def queue_rows(sessions: Iterable[SessionRecord], queue_ids: Sequence[str]) -> list[QueueRow]:
    """One row per queue of ``queue_ids`` (in that order), then any other queue the chats name
    (sorted), from the chats that entered a queue."""
    by_queue: dict[str, list[SessionRecord]] = {}
    for session in sessions:
        if session.queued_at is not None and session.queue_id:
            by_queue.setdefault(session.queue_id, []).append(session)
    order = [*queue_ids, *sorted(set(by_queue) - set(queue_ids))]
    return [_queue_row(queue_id, by_queue.get(queue_id, [])) for queue_id in order]


def _queue_row(queue_id: str, sessions: list[SessionRecord]) -> QueueRow:
    row = QueueRow(queue_id=queue_id, offered=len(sessions))
    waits: list[float] = []
    handles: list[float] = []
    abs_errors: list[float] = []
    rel_errors: list[float] = []
    for s in sessions:
        assert s.queued_at is not None
        if s.connected_at is not None:
            row.answered += 1
            wait = max(0.0, s.connected_at - s.queued_at)
            waits.append(wait)
            if wait <= SERVICE_LEVEL_SECS:
                row.answered_within_sl += 1
            if s.ended_at is not None:
                handles.append(max(0.0, s.ended_at - s.connected_at))
            if wait >= EWT_MIN_WAIT_SECS and s.ewt_predicted is not None:
                error = abs(s.ewt_predicted - wait)
                abs_errors.append(error)
                rel_errors.append(error / wait)
        elif not s.terminal:
            row.waiting += 1
        elif s.end_reason in ABANDON_REASONS:
            row.abandoned += 1
        elif s.end_reason in FAIL_REASONS:
            row.failed += 1
        else:
            row.other_unanswered += 1
    row.wait_p50_secs = percentile(waits, 50)
    row.wait_p90_secs = percentile(waits, 90)
    row.wait_p99_secs = percentile(waits, 99)
    row.handle_avg_secs = mean(handles)
    row.handle_p90_secs = percentile(handles, 90)
    row.service_level = row.answered_within_sl / row.offered if row.offered else None
    row.ewt_samples = len(abs_errors)
    row.ewt_abs_error_p50_secs = percentile(abs_errors, 50)
    row.ewt_rel_error_p50 = percentile(rel_errors, 50)
    return row


def agent_rows(agents: Iterable[AgentRecord], offers: Iterable[OfferRecord], parties: Iterable[PartyRecord],
               wrap_ups: Iterable[WrapUpRecord]) -> list[AgentRow]:
    """One row per agent (sorted by agent id): the tenant's agents and any other agent the records
    name."""
    rows: dict[str, AgentRow] = {a.agent_id: AgentRow(a.agent_id, a.username, a.display_name, a.team)
                                 for a in agents}

    def row(agent_id: str) -> AgentRow:
        return rows.setdefault(agent_id, AgentRow(agent_id))

    outcomes = {"accepted": "accepted", "rejected": "rejected", "timeout": "timed_out", "withdrawn": "withdrawn",
                "pending": "pending"}
    for offer in offers:
        r = row(offer.agent_id)
        r.offers += 1
        attr = outcomes.get(offer.outcome)
        if attr is not None:
            setattr(r, attr, getattr(r, attr) + 1)
    handles: dict[str, list[float]] = {}
    for party in parties:
        if party.party_type != "internal" or not party.agent_id:
            continue
        row(party.agent_id).chats_handled += 1
        if party.left_at is not None:
            handles.setdefault(party.agent_id, []).append(max(0.0, party.left_at - party.joined_at))
    for agent_id, values in handles.items():
        row(agent_id).handle_avg_secs = mean(values)
    for wrap_up in wrap_ups:
        r = row(wrap_up.agent_id)
        r.wrap_ups += 1
        r.wrap_ups_by_disposition[wrap_up.disposition] = r.wrap_ups_by_disposition.get(wrap_up.disposition, 0) + 1
    for r in rows.values():
        r.wrap_ups_by_disposition = dict(sorted(r.wrap_ups_by_disposition.items()))
    return [rows[k] for k in sorted(rows)]


def survey_rating(tenant: TenantConfig | None, session: SessionRecord) -> int | None:
    """The rating the customer gave in the chat's survey: the answer to the first ``rating`` field
    of the forms the survey's steps show (by the running configuration); None when not given."""
    state = session.scenario
    survey = tenant.scenarios.get(str(state.get("name", ""))) if tenant else None
    if tenant is None or survey is None:
        return None
    variables = state.get("vars", {})
    for step in survey.steps:
        form = tenant.forms.get(str(step.args.get("form", ""))) if step.action == "form" else None
        rating = next((f for f in form.fields if f.type == "rating"), None) if form else None
        if form is not None and rating is not None:
            value = as_number(variables.get(f"form.{form.name}.{rating.name}"))
            return int(value) if value is not None and str(int(value)) in RATINGS else None
    return None


def _count(row: SurveyQueueRow | SurveyAgentRow, rating: int | None, total: dict[str, float]) -> None:
    key = row.queue_id if isinstance(row, SurveyQueueRow) else row.agent_id
    row.surveys += 1
    if rating is not None:
        row.answered += 1
        row.ratings[str(rating)] += 1
        total[key] = total.get(key, 0.0) + rating
        row.rating_avg = total[key] / row.answered


def survey_queue_rows(surveys: Iterable[Survey], queue_ids: Sequence[str]) -> list[SurveyQueueRow]:
    """One row per queue of ``queue_ids`` (in that order), then any other queue the surveys name."""
    rows = {queue_id: SurveyQueueRow(queue_id) for queue_id in queue_ids}
    total: dict[str, float] = {}
    for survey in surveys:
        _count(rows.setdefault(survey.queue_id, SurveyQueueRow(survey.queue_id)), survey.rating, total)
    others = sorted(set(rows) - set(queue_ids))
    return [rows[k] for k in [*queue_ids, *others]]


def survey_agent_rows(agents: Iterable[AgentRecord], surveys: Iterable[Survey]) -> list[SurveyAgentRow]:
    """One row per agent (sorted by agent id); a chat served by several agents counts for each."""
    rows = {a.agent_id: SurveyAgentRow(a.agent_id, a.username, a.display_name, a.team) for a in agents}
    total: dict[str, float] = {}
    for survey in surveys:
        for agent_id in survey.agent_ids:
            _count(rows.setdefault(agent_id, SurveyAgentRow(agent_id)), survey.rating, total)
    return [rows[k] for k in sorted(rows)]


# ---- CSV ------------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 6))
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def to_csv(columns: Sequence[str], rows: Iterable[Any]) -> str:
    """A header row of ``columns`` then one line per row; empty cells for ``None``, dictionaries as
    ``key=value`` pairs joined by ``;``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        values = asdict(row)
        writer.writerow([_cell(values[c]) for c in columns])
    return out.getvalue()


# ---- the service -------------------------------------------------------------------------------------------------


class ReportService(EngineService):
    def resolve_range(self, since: float | None, until: float | None) -> tuple[float, float]:
        """The range asked for; by default the 24 hours up to and including now (server clock:
        ``until`` is exclusive, so the default ends just after now)."""
        end = math.nextafter(self.journal.clock.now(), math.inf) if until is None else until
        start = end - DEFAULT_RANGE_SECS if since is None else since
        if not (math.isfinite(start) and math.isfinite(end)):
            raise Invalid("since and until must be finite")
        if start >= end:
            raise Invalid("since must be before until")
        if end - start > MAX_RANGE_SECS:
            raise Invalid("a report covers at most 366 days")
        return start, end

    async def _caller(self, agent_id: str) -> AgentRecord:
        async with self.journal.read() as tx:
            agent = await tx.agents.get(agent_id)
        return require_supervisor(agent)

    async def queues(self, agent_id: str, since: float | None = None, until: float | None = None) -> Report:
        caller = await self._caller(agent_id)
        start, end = self.resolve_range(since, until)
        async with self.journal.read() as tx:
            sessions = await tx.sessions.list_created_between(caller.tenant, start, end)
        tenant = self.config.tenants.get(caller.tenant)
        configured = list(tenant.queues) if tenant else []
        return Report(caller.tenant, start, end, self.journal.clock.now(), queue_rows(sessions, configured))

    async def agents(self, agent_id: str, since: float | None = None, until: float | None = None) -> Report:
        caller = await self._caller(agent_id)
        start, end = self.resolve_range(since, until)
        async with self.journal.read() as tx:
            agents = await tx.agents.list_for_tenant(caller.tenant)
            offers = await tx.offers.list_between(caller.tenant, start, end)
            parties = await tx.parties.list_joined_between(caller.tenant, start, end)
            wrap_ups = await tx.wrap_ups.list_between(caller.tenant, start, end)
        rows = agent_rows(agents, offers, parties, wrap_ups)
        return Report(caller.tenant, start, end, self.journal.clock.now(), rows)

    async def survey_queues(self, agent_id: str, since: float | None = None, until: float | None = None) -> Report:
        caller = await self._caller(agent_id)
        start, end = self.resolve_range(since, until)
        tenant = self.config.tenants.get(caller.tenant)
        surveys = await self._surveys(caller.tenant, start, end)
        rows = survey_queue_rows(surveys, list(tenant.queues) if tenant else [])
        return Report(caller.tenant, start, end, self.journal.clock.now(), rows)

    async def survey_agents(self, agent_id: str, since: float | None = None, until: float | None = None) -> Report:
        caller = await self._caller(agent_id)
        start, end = self.resolve_range(since, until)
        surveys = await self._surveys(caller.tenant, start, end)
        async with self.journal.read() as tx:
            agents = await tx.agents.list_for_tenant(caller.tenant)
        return Report(caller.tenant, start, end, self.journal.clock.now(), survey_agent_rows(agents, surveys))

    async def _surveys(self, tenant_name: str, start: float, end: float) -> list[Survey]:
        tenant = self.config.tenants.get(tenant_name)
        surveys = []
        async with self.journal.read() as tx:
            for session in await tx.sessions.list_created_between(tenant_name, start, end):
                if session.scenario.get("phase") != SURVEY_PHASE:
                    continue
                parties = await tx.parties.list_for_chat(session.chat_id)
                agent_ids = sorted({p.agent_id for p in parties if p.party_type == "internal" and p.agent_id})
                surveys.append(Survey(session.queue_id, tuple(agent_ids), survey_rating(tenant, session)))
        return surveys
