"""The estimated wait time measured through the real engine, in-process on a fake clock.

    python -m bench.ewt_engine                   # 2,000 chats, seed 1
    python -m bench.ewt_engine --chats 400 --seed 7 --no-write

``bench/ewt_sim.py`` exercises the pure function ``frontdesk.domain.ewt.estimate_waits``; this runs the
server itself (``frontdesk.app.build_app`` with a ``FakeClock``, timers driven by hand, SQLite in a
temporary directory): customers request chats through ``CustomerService.request_chat``, the default
scenario queues them, ``routing.dispatch`` offers them to auto-accepting agents, agents end them through
``AgentService.end_chat``; the estimate each chat was given when it entered the queue (``ewt_predicted``,
stored by the engine) is then read back through the queue report (``ReportService.queues``) and,
as a cross-check, straight from the stored sessions.

The workload is ``bench/ewt_sim.py``'s headline one, drawn from the same random streams (arrivals from
``Random("arrivals:<seed>")``, handle times from ``Random("handles:<seed>:<distribution>")`` in the order
the chats connect): ``AGENTS`` agents × ``MAX_CHATS`` slots, Poisson arrivals at utilisation ρ, gamma
handle times of CV 0.5 and mean 300 s, the queue's ``default_handle_secs`` the true mean. The engine and
the pure simulation therefore see the same queue and should tell the same estimates; ``compare`` runs
``ewt_sim.simulate`` alongside and reports how many chats got the same estimate.

Discrete events on a heap (simulated time, no sleeping; deterministic for a seed): before each event the
fake clock moves to the event's time and due timers fire (``TimerService.fire_due``: the EWT refresh
timers; they fire at the next event rather than exactly when due, which only delays the re-announcement
of estimates, never the estimate stored at queue entry). Inactivity timers are off
(``inactivity_timeout_secs = 0``); one admin agent without the queue's skill reads the report.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import heapq
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import ewt_sim
from bench.stats import percentile
from frontdesk.app import Frontdesk, build_app
from frontdesk.domain import ewt
from frontdesk.domain.clock import FakeClock
from frontdesk.domain.config import AgentConfig, ContactCenterConfig, EntryConfig, QueueConfig, TenantConfig
from frontdesk.domain.customers import CustomerIdentity
from frontdesk.domain.ids import hash_password
from frontdesk.domain.reports import QueueRow, ReportService
from frontdesk.settings import Settings

BENCH_DIR = Path(__file__).resolve().parent
TENANT = "ewt.bench"
APP_ID = "ewt"
QUEUE_ID = "chat"
SKILL = "chat"
PASSWORD = "ewt-bench-password"  # noqa: S105 - a throwaway account of a throwaway server
ADMIN = "boss"
AGENTS = ewt_sim.AGENTS
MAX_CHATS = ewt_sim.MAX_CHATS
UTILISATION = ewt_sim.UTILISATION
MEAN_HANDLE_SECS = ewt_sim.MEAN_HANDLE_SECS
HANDLE_CV = 0.5
DEFAULT_CHATS = 2_000
MIN_WAIT_SECS = ewt_sim.MIN_WAIT_SECS
SECTION = ewt_sim.ENGINE_SECTION
ARRIVAL, END = 0, 1


def contact_center(agents: int = AGENTS, max_chats: int = MAX_CHATS,
                   default_handle_secs: float = MEAN_HANDLE_SECS) -> ContactCenterConfig:
    """One tenant, one entry, one queue needing skill ``chat``; ``agents`` auto-accepting agents with it and
    one admin without it (never routed)."""
    password_hash = hash_password(PASSWORD)
    queue = QueueConfig(QUEUE_ID, "Chat", skills={SKILL: 1}, default_handle_secs=round(default_handle_secs))
    entry = EntryConfig(app_id=APP_ID, name="EWT bench", queue_id=QUEUE_ID, inactivity_timeout_secs=0)
    team = tuple(AgentConfig(username=f"agent{i:02d}", password_hash=password_hash, first_name=f"Agent {i}",
                             last_name="", display_name=f"Agent {i}", max_chats=max_chats, auto_accept=True,
                             skills={SKILL: 1}) for i in range(agents))
    admin = AgentConfig(username=ADMIN, password_hash=password_hash, first_name="Boss", last_name="",
                        display_name="Boss", role="admin")
    tenant = TenantConfig(name=TENANT, entries={APP_ID: entry}, queues={QUEUE_ID: queue}, agents=(*team, admin))
    return ContactCenterConfig(tenants={TENANT: tenant}, default_tenant=TENANT)


@dataclasses.dataclass
class EngineChat:
    """One customer's chat as the bench saw it (offsets in seconds from the start of the run)."""

    client_id: str
    chat_id: str
    arrived: float
    queued_at: float | None = None
    connected_at: float | None = None
    ewt_predicted: float | None = None

    @property
    def wait(self) -> float | None:
        if self.queued_at is None or self.connected_at is None:
            return None
        return self.connected_at - self.queued_at


@dataclasses.dataclass
class EngineRun:
    chats: list[EngineChat]
    report: QueueRow
    meta: dict[str, Any]


async def run_engine(chats: int, seed: int, *, agents: int = AGENTS, max_chats: int = MAX_CHATS,
                     utilisation: float = UTILISATION, data_dir: Path | None = None) -> EngineRun:
    """Run ``chats`` arrivals through a fresh server until every chat ended; read the queue report."""
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="ewt-engine-") as tmp:
            return await run_engine(chats, seed, agents=agents, max_chats=max_chats, utilisation=utilisation,
                                    data_dir=Path(tmp))
    distribution = ewt_sim.gamma(MEAN_HANDLE_SECS, HANDLE_CV)
    arrivals_rng = random.Random(f"arrivals:{seed}")  # the streams of ewt_sim.simulate: the same queue
    handles_rng = random.Random(f"handles:{seed}:{distribution.name}")
    rate = utilisation * agents * max_chats / MEAN_HANDLE_SECS
    clock = FakeClock()
    epoch = clock.now()
    config = contact_center(agents, max_chats)
    settings = Settings(data_dir=data_dir, timers_enabled=False, contact_center=config, is_demo=False,
                        cookie_secure=False)
    frontdesk = build_app(settings, clock=clock)
    started = time.perf_counter()
    tasks = await frontdesk.start()
    try:
        tenant = config.tenants[TENANT]
        for agent in tenant.agents:
            if agent.role == "agent":
                _, record = await frontdesk.access.login(TENANT, agent.username, PASSWORD)
                await frontdesk.agents.set_state(record.agent_id, "ready")
        by_chat = await _drive(frontdesk, clock, chats, rate, arrivals_rng, handles_rng, distribution)
        reports = ReportService(frontdesk.agents.journal, frontdesk.live)
        report = await reports.queues(f"{TENANT}/{ADMIN}", epoch, clock.now() + 1)
        async with frontdesk.agents.journal.read() as tx:
            sessions = await tx.sessions.list_created_between(TENANT, epoch, clock.now() + 1)
    finally:
        await frontdesk.stop(tasks)
    for session in sessions:
        chat = by_chat[session.chat_id]
        chat.queued_at = None if session.queued_at is None else session.queued_at - epoch
        chat.connected_at = None if session.connected_at is None else session.connected_at - epoch
        chat.ewt_predicted = session.ewt_predicted
    (row,) = [r for r in report.rows if r.queue_id == QUEUE_ID]
    meta = {"chats": chats, "seed": seed, "agents": agents, "max_chats": max_chats, "utilisation": utilisation,
            "distribution": distribution.name, "simulated_hours": (clock.now() - epoch) / 3600,
            "run_secs": round(time.perf_counter() - started, 1)}
    return EngineRun(list(by_chat.values()), row, meta)


async def _drive(frontdesk: Frontdesk, clock: FakeClock, chats: int, rate: float, arrivals_rng: random.Random,
                 handles_rng: random.Random, distribution: ewt_sim.Distribution) -> dict[str, EngineChat]:
    """The event loop: arrivals request chats, newly connected chats get an end event."""
    tenant = frontdesk.live.current.tenants[TENANT]
    entry = tenant.entries[APP_ID]
    epoch = clock.now()
    events: list[tuple[float, int, int, str]] = []  # (offset, sequence, kind, chat id)
    sequence = 0
    by_chat: dict[str, EngineChat] = {}
    agent_of: dict[str, str] = {}  # chat id → the agent holding it (connected, not ended)
    arrivals = 0

    def push(at: float, kind: int, chat_id: str) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(events, (at, sequence, kind, chat_id))

    push(arrivals_rng.expovariate(rate), ARRIVAL, "")
    while events:
        at, _, kind, chat_id = heapq.heappop(events)
        clock.advance(max(0.0, epoch + at - clock.now()))
        await frontdesk.timers.fire_due()
        if kind == ARRIVAL:
            arrivals += 1
            if arrivals < chats:
                push(at + arrivals_rng.expovariate(rate), ARRIVAL, "")
            identity = CustomerIdentity(tenant, entry, client_id=f"sim-{arrivals}", visitor_cookie="")
            ticket = await frontdesk.customers.request_chat(identity, {})
            by_chat[ticket.chat_id] = EngineChat(f"sim-{arrivals}", ticket.chat_id, at)
        else:
            await frontdesk.agents.end_chat(agent_of.pop(chat_id), chat_id)
        # the chats this action connected, in the order they connected: each draws its handle time
        async with frontdesk.agents.journal.read() as tx:
            connected = await tx.sessions.list_in_state(TENANT, ("connected",))
            fresh = sorted((s for s in connected if s.chat_id not in agent_of),
                           key=lambda s: (s.connected_at or 0.0, s.queued_at or 0.0, s.created_at))
            for session in fresh:
                parties = await tx.parties.list_for_chat(session.chat_id)
                (agent_id,) = [p.agent_id for p in parties if p.party_type == "internal" and p.left_at is None]
                agent_of[session.chat_id] = agent_id
                push((session.connected_at or clock.now()) - epoch + distribution.draw(handles_rng), END,
                     session.chat_id)
    return by_chat


def measured(chats: Sequence[EngineChat]) -> list[EngineChat]:
    """Answered chats that waited at least ``MIN_WAIT_SECS`` (the report's EWT population)."""
    return [c for c in chats if c.wait is not None and c.wait >= MIN_WAIT_SECS]


def summarise(run: EngineRun) -> dict[str, Any]:
    """The report's row and the same figures computed from the sessions directly."""
    answered = [c for c in run.chats if c.wait is not None]
    population = measured(run.chats)
    with_estimate = [c for c in population if c.ewt_predicted is not None]
    pairs = [(c.ewt_predicted, c.wait) for c in with_estimate if c.ewt_predicted is not None and c.wait is not None]
    relative = sorted(abs(p - w) / w for p, w in pairs)
    absolute = sorted(abs(p - w) for p, w in pairs)
    row = run.report
    return {
        "report": {"offered": row.offered, "answered": row.answered, "wait_p50_secs": row.wait_p50_secs,
                   "wait_p90_secs": row.wait_p90_secs, "wait_p99_secs": row.wait_p99_secs,
                   "ewt_samples": row.ewt_samples, "ewt_abs_error_p50_secs": row.ewt_abs_error_p50_secs,
                   "ewt_rel_error_p50": row.ewt_rel_error_p50},
        "sessions": {"chats": len(run.chats), "answered": len(answered),
                     "waited": sum(1 for c in answered if c.wait and c.wait > 0),
                     "waited_10s": len(population), "with_estimate": len(with_estimate),
                     "rel_error_p50": statistics.median(relative) if relative else None,
                     "rel_error_p90": percentile(relative, 0.9) if relative else None,
                     "abs_error_p50_secs": statistics.median(absolute) if absolute else None},
    }


def compare(run: EngineRun) -> dict[str, Any]:
    """``ewt_sim.simulate`` with the same workload and seed: the pure model on the same queue."""
    meta = run.meta
    distribution = ewt_sim.gamma(MEAN_HANDLE_SECS, HANDLE_CV)
    simulated, _ = ewt_sim.simulate(distribution, meta["chats"], meta["seed"], agents=meta["agents"],
                                    max_chats=meta["max_chats"], utilisation=meta["utilisation"])
    summary = ewt_sim.summarise(simulated)
    pure = {c.chat_id: c for c in simulated}
    engine_by_arrival = {int(c.client_id.removeprefix("sim-")) - 1: c for c in run.chats}
    same_wait = same_estimate = both = 0
    differences: list[float] = []
    for n, chat in engine_by_arrival.items():
        twin = pure.get(f"c{n}")
        if twin is None or chat.wait is None or not twin.predicted:
            continue
        both += 1
        same_wait += abs(chat.wait - twin.wait) < 1e-3
        same_estimate += chat.ewt_predicted == twin.predicted["model"]
        if chat.ewt_predicted is not None:
            differences.append(abs(chat.ewt_predicted - twin.predicted["model"]))
    return {"pure_waited_10s": summary["measured"], "pure_rel_error_p50": summary["model"]["median_relative_error"],
            "pure_rel_error_p90": summary["model"]["p90_relative_error"], "queued_in_both": both,
            "same_wait": same_wait, "same_estimate": same_estimate,
            "estimate_diff_p50_secs": statistics.median(differences) if differences else 0.0,
            "estimate_diff_max_secs": max(differences, default=0.0)}


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else format(value, pattern)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown(run: EngineRun, summary: dict[str, Any], pure: dict[str, Any], when: str, machine: str) -> str:
    meta, report, sessions = run.meta, summary["report"], summary["sessions"]
    rows = "\n".join([
        _row("source", "offered", "answered", "wait p50", "wait p90", "waited ≥ 10 s", "ewt_samples",
             "median \\|err\\|", "median \\|err\\|/actual", "p90 \\|err\\|/actual"),
        _row(*["---"] * 10),
        _row("queue report (`ReportService.queues`)", f"{report['offered']:,}", f"{report['answered']:,}",
             f"{_fmt(report['wait_p50_secs'], '.0f')} s", f"{_fmt(report['wait_p90_secs'], '.0f')} s", "–",
             f"{report['ewt_samples']:,}", f"{_fmt(report['ewt_abs_error_p50_secs'], '.0f')} s",
             _fmt(report['ewt_rel_error_p50'], '.1%'), "–"),
        _row("stored sessions (`ewt_predicted` vs `connected_at − queued_at`)", f"{sessions['chats']:,}",
             f"{sessions['answered']:,}", "–", "–", f"{sessions['waited_10s']:,}", f"{sessions['with_estimate']:,}",
             f"{_fmt(sessions['abs_error_p50_secs'], '.0f')} s", _fmt(sessions['rel_error_p50'], '.1%'),
             _fmt(sessions['rel_error_p90'], '.1%')),
        _row("pure simulation (`ewt_sim.simulate`, same streams)", f"{meta['chats']:,}", "–", "–", "–",
             f"{pure['pure_waited_10s']:,}", "–", "–", f"{pure['pure_rel_error_p50']:.1%}",
             f"{pure['pure_rel_error_p90']:.1%}"),
    ])
    return f"""{SECTION}

Latest `python -m bench.ewt_engine --chats {meta['chats']} --seed {meta['seed']}` ({when}, {machine}):
written by `bench/ewt_engine.py`. The real server in-process (`build_app` on a `FakeClock`, SQLite in a temporary
directory, timers fired by hand before each event): {meta['agents']} auto-accepting agents × {meta['max_chats']} slots,
Poisson arrivals at ρ {meta['utilisation']:g}, {meta['distribution']} handle times of mean {MEAN_HANDLE_SECS:g} s
(the queue's `default_handle_secs`), drawn from the same random streams as `bench/ewt_sim.py`, so the pure
simulation below sees the same queue. {meta['simulated_hours']:.1f} simulated hours took {meta['run_secs']} s.

{rows}

Of the {pure['queued_in_both']:,} chats that queued in both, {pure['same_wait']:,} waited the same time and
{pure['same_estimate']:,} were told exactly the same estimate by the engine as by the pure model (median difference
{pure['estimate_diff_p50_secs']:g} s, largest {pure['estimate_diff_max_secs']:g} s): the engine simulates a queue's
first {ewt.MODEL_POSITIONS} positions once (its cached queue model, docs/routing.md) rather than the queue as it stands,
and lists the busy slots in another order (by agent), so the same seed gives other random draws — the same model,
another sample of its futures. The report's median is nearest-rank, the others are midpoint medians.
"""


def write_section(text: str, path: Path = BENCH_DIR / "EWT.md") -> None:
    """Replace (or append) the engine section of ``bench/EWT.md``; ``bench/ewt_sim.py`` owns the rest."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    head = current.split(SECTION, 1)[0].rstrip("\n")
    path.write_text(f"{head}\n\n{text}" if head else text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ewt_engine", description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=DEFAULT_CHATS, help="arrivals")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/EWT.md alone")
    args = parser.parse_args(argv)
    run = asyncio.run(run_engine(args.chats, args.seed))
    summary = summarise(run)
    pure = compare(run)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    text = markdown(run, summary, pure, when, machine)
    print(text)
    if not args.no_write:
        write_section(text)
        print("wrote the engine section of bench/EWT.md")


if __name__ == "__main__":
    main()
