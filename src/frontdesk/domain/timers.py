"""Timers with a due time in storage: inactivity warning and timeout, form timeouts.

``fire_due`` claims each due timer inside the transaction that acts on it
(``TimerStore.claim``: of the nodes that find it due, one takes it), so a timer fires exactly once.
``run`` is the background loop of a live server; tests call ``fire_due`` after
advancing a fake clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from frontdesk.bus.interfaces import Presence
from frontdesk.domain import routing, scenario
from frontdesk.domain.access import AccessService
from frontdesk.domain.config import DEFAULT_INACTIVITY_TIMEOUT_MSG, LiveConfig
from frontdesk.domain.journal import ActionContext, Journal, retry_conflicts, to_everyone, to_staff
from frontdesk.domain.lifecycle import (
    AGENT_LOST,
    FORM_TIMEOUT_PREFIX,
    INACTIVITY_TIMEOUT,
    INACTIVITY_WARNING,
    OFFER_TIMEOUT,
    QUEUE_MAX_WAIT,
    end_session,
    ended_follows_timeout,
)
from frontdesk.domain.logout import log_out
from frontdesk.domain.service import EngineService
from frontdesk.observability.context import bound
from frontdesk.observability.logs import get_logger
from frontdesk.protocol import events as ev
from frontdesk.storage.records import SessionRecord, TimerRecord

log = get_logger(__name__)

BATCH = 100  # timers handled per pass; the loop comes back at once while more are due
MAX_SLEEP_SECS = 1.0  # bound on how late a timer set by another node (or a clock jump) is noticed
RETRY_FIRST_SECS = 5.0  # a timer whose handler raised is retried after this long, doubling per failure ...
RETRY_MAX_SECS = 300.0  # ... up to this
MAX_TIMER_FAILURES = 5  # failures in a row after which the timer is dropped (logged at error)


def retry_delay_secs(failures: int) -> float:
    """How long after its ``failures``-th failure in a row a timer is tried again."""
    return min(RETRY_MAX_SECS, RETRY_FIRST_SECS * 2.0 ** max(0, failures - 1))


def _subject(timer: TimerRecord) -> dict[str, str]:
    """The log context of a timer: its chat, or the agent or tenant of a timer keyed by one."""
    if timer.kind == AGENT_LOST:
        return {"agent": str(timer.payload.get("agent_id", ""))}
    if timer.kind == routing.EWT_REFRESH_TIMER:
        return {"tenant": timer.chat_id.removeprefix("tenant:")}
    return {"chat": timer.chat_id}


def _kind_label(kind: str) -> str:
    """A timer kind as a metric label: the form timeouts (one kind per form) count as one."""
    return FORM_TIMEOUT_PREFIX.rstrip(":") if kind.startswith(FORM_TIMEOUT_PREFIX) else kind


class TimerService(EngineService):
    def __init__(self, journal: Journal, live: LiveConfig, access: AccessService | None = None,
                 presence: Presence | None = None) -> None:
        super().__init__(journal, live)
        self.access = access  # its expired credentials are swept on every pass
        self.presence = presence  # asked before an "agent lost" timer logs its agent out

    async def fire_due(self) -> int:
        """Fire every timer due at the clock's now and sweep expired credentials (their agents'
        WebSockets close); returns how many timers fired.

        Each timer fires in its own transaction. One whose handler raises is rolled back alone,
        logged with its kind and chat, and rescheduled with a growing delay (``retry_delay_secs``);
        after ``MAX_TIMER_FAILURES`` failures in a row it is dropped. Either way the timers behind it
        fire in the same pass."""
        if self.access is not None:
            await self.access.expire_credentials()
        fired = 0
        tried: set[tuple[str, str, float]] = set()  # a timer is tried once per pass, whatever happens
        while True:
            async with self.journal.read(snapshot=False) as tx:
                due = [t for t in await tx.timers.due(self.journal.clock.now(), BATCH)
                       if (t.chat_id, t.kind, t.due_at) not in tried]
            if not due:
                return fired
            for timer in due:
                tried.add((timer.chat_id, timer.kind, timer.due_at))
                with bound(**_subject(timer)):
                    try:
                        await self._fire(timer)
                    except Exception:
                        log.exception("timer failed", timer=timer.kind, key=timer.chat_id, failures=timer.failures + 1,
                                      max_failures=MAX_TIMER_FAILURES)
                        await self._back_off(timer)
                    else:
                        fired += 1

    @retry_conflicts
    async def _back_off(self, timer: TimerRecord) -> None:
        """Reschedule a timer whose handler raised, or drop it after ``MAX_TIMER_FAILURES``."""
        failures = timer.failures + 1
        async with self.journal.action() as ctx:
            current = await ctx.tx.timers.get(timer.chat_id, timer.kind)
            if current is None or current.due_at != timer.due_at:
                return  # fired, moved or cancelled meanwhile
            if failures >= MAX_TIMER_FAILURES:
                await ctx.tx.timers.cancel(timer.chat_id, timer.kind)
                log.error("timer dropped: failed too often in a row", timer=timer.kind, key=timer.chat_id,
                          failures=failures)
                return
            await ctx.tx.timers.set(replace(current, due_at=ctx.now + retry_delay_secs(failures), failures=failures))

    @retry_conflicts
    async def _fire(self, timer: TimerRecord) -> None:
        if timer.kind == AGENT_LOST and self.presence is not None \
                and await self.presence.present(str(timer.payload["agent_id"])):
            # a desktop of the agent opened on another process after this one lost its last
            await self._drop(timer)
            return
        async with self.journal.action() as ctx:
            # claim: only the transaction that still finds the timer, unchanged, acts on it
            if await ctx.tx.timers.claim(timer.chat_id, timer.kind, timer.due_at) is None:
                return
            lag = max(0.0, ctx.now - timer.due_at)
            ctx.after_commit(lambda: self.journal.metrics.timer_lag.labels(_kind_label(timer.kind)).observe(lag))
            if timer.kind == routing.EWT_REFRESH_TIMER:
                await routing.refresh_estimates(ctx, self.config, timer.chat_id.removeprefix("tenant:"))
                return
            if timer.kind == AGENT_LOST:
                await self._agent_lost(ctx, str(timer.payload["agent_id"]))
                return
            session = await ctx.session(timer.chat_id)
            if session is None or session.terminal:
                return
            if timer.kind == INACTIVITY_WARNING:
                await self._warn(ctx, session)
            elif timer.kind == INACTIVITY_TIMEOUT:
                await self._time_out(ctx, session)
            elif timer.kind == OFFER_TIMEOUT:
                await routing.offer_lapsed(ctx, self.config, session, str(timer.payload.get("agent_id", "")))
            elif timer.kind == QUEUE_MAX_WAIT:
                ctx.note("chat waited past its queue's max wait: overflow", chat=session.chat_id,
                         queue=session.queue_id)
                await routing.overflow(ctx, self.config, session)
                await routing.dispatch(ctx, self.config, session.tenant)
            elif timer.kind.startswith(FORM_TIMEOUT_PREFIX):
                await self._expire_form(ctx, session, int(timer.payload["form_request_id"]))
            else:
                log.warning("unknown timer kind", timer=timer.kind, key=timer.chat_id)

    async def _drop(self, timer: TimerRecord) -> None:
        async with self.journal.action() as ctx:
            current = await ctx.tx.timers.get(timer.chat_id, timer.kind)
            if current is not None and current.due_at == timer.due_at:
                await ctx.tx.timers.cancel(timer.chat_id, timer.kind)

    async def _warn(self, ctx: ActionContext, session: SessionRecord) -> None:
        entry = self.entry_for(session)
        if entry is None:
            return
        await ctx.emit(session, to_everyone(ev.timeout_warning(entry.inactivity_warning_msg, ctx.now)))
        remaining = max(0, entry.inactivity_timeout_secs - entry.inactivity_warning_secs)
        await ctx.tx.timers.set(TimerRecord(session.chat_id, INACTIVITY_TIMEOUT, ctx.now + remaining, {}))

    async def _time_out(self, ctx: ActionContext, session: SessionRecord) -> None:
        entry = self.entry_for(session)
        msg = entry.inactivity_timeout_msg if entry else DEFAULT_INACTIVITY_TIMEOUT_MSG
        await ctx.emit(session, to_everyone(ev.inactivity_timeout(msg, ctx.now)))
        ctx.note("chat ended: customer inactive", chat=session.chat_id, tenant=session.tenant)
        # the customer's client ends the chat on inactivity_timeout: no party_left is queued for it,
        # and chat_session_ended only for the clients that poll on (bridges, SDKs)
        await end_session(ctx, session, "inactivity_timeout", customer_sees=False,
                          customer_sees_ended=ended_follows_timeout(session))
        await routing.dispatch(ctx, self.config, session.tenant)

    async def _expire_form(self, ctx: ActionContext, session: SessionRecord, form_request_id: int) -> None:
        form = await ctx.tx.forms.get(session.chat_id, form_request_id)
        if form is None or form.state != "pending":
            return
        form.state = "expired"
        await ctx.tx.forms.update(form)
        ctx.note("form timed out", chat=session.chat_id, form=form.form_name)
        await ctx.emit(session, to_staff({"event": "frontdesk_form_expired", "form_request_id": form_request_id,
                                          "form_name": form.form_name, "timestamp": ev.ts_string(ctx.now)},
                                         "system"))
        await scenario.on_form_closed(ctx, self.config, session, form)  # a scenario's form: it goes on

    async def _agent_lost(self, ctx: ActionContext, agent_id: str) -> None:
        """The agent's desktop stayed disconnected for the grace period: it is logged out
        (``domain.logout``: credentials dropped, chats back to their queues)."""
        agent = await ctx.tx.agents.get(agent_id)
        if agent is None or agent.state == "logged_out":
            return
        await log_out(ctx, self.config, agent)
        ctx.note("agent lost: its desktop stayed away past the grace period; logged out, chats released",
                 agent=agent_id, tenant=agent.tenant)

    async def run(self, stop: asyncio.Event) -> None:
        """Fire timers until ``stop`` is set (the server's background task)."""
        while not stop.is_set():
            try:
                await self.fire_due()
                async with self.journal.read(snapshot=False) as tx:
                    next_due = await tx.timers.next_due_at()
            except Exception:
                log.exception("timer pass failed")
                next_due = None
            delay = MAX_SLEEP_SECS
            if next_due is not None:
                delay = min(MAX_SLEEP_SECS, max(0.0, next_due - self.journal.clock.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
