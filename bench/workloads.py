"""The workloads W1–W6, run against one system by one load-generator process.

Every simulated customer owns a keep-alive connection and long-polls its chat without pause, as
the real clients do. Agent messages and customer posts are sent open loop (on a schedule that
does not wait for answers) over shared connection pools. A message carries
``<kind>|<phase>|<stream>|<seq>|<send time ns>`` in its text; sender and receiver run in this
process, so ``time.monotonic_ns`` on both ends gives the end-to-end latency, and the per-stream
sequence numbers show anything lost, duplicated or reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import time
from array import array
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import orjson

from bench import procstats
from bench.loadgen import ConnectionPool, HttpConnection, HttpError, Reply, RequestTimeout, WsConnection
from bench.profile import Profiler
from bench.stats import DeliveryCheck, latency_summary
from bench.systems import Holding, System

SEND_TIMEOUT_SECS = 60.0
CONNECT_CONCURRENCY = 200
CONNECT_ATTEMPTS = 5
WIDGET_ABORT_FACTOR = 1.3  # the web widget aborts a poll at 13 s against a 10 s hold
SERVER_REFUSED = 503  # an overloaded server sheds a send before doing anything (docs/operations.md, "Overload")
REFUSED_PAUSE_SECS = 0.5  # a refused chat creation is asked again after this long (for at most settle_secs)


@dataclass(frozen=True)
class Scale:
    """Sizes and durations of one run."""

    hold_secs: float = 10.0
    levels: tuple[int, ...] = (1000, 5000, 10000)  # W2 session counts; the last one serves W3–W6
    agents: int = 120  # 100 chats each: room for every session plus W6's
    create_concurrency: int = 32
    w2_window_secs: float = 20.0
    w3_rates: tuple[int, ...] = (250, 500, 1000, 2000)
    w3_secs: float = 30.0
    w4_rates: tuple[int, ...] = (250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7000, 8000, 10000,
                                 12000, 15000)
    w4_secs: float = 15.0
    w4_p99_limit_ms: float = 50.0
    w5_rates: tuple[int, ...] = (250, 1000)
    w5_secs: float = 20.0
    w6_sessions: int = 999
    w6_rate: int = 100
    w6_secs: float = 40.0
    w6_gap_max_secs: float = 3.0
    max_send_connections: int = 1000
    drain_secs: float = 30.0
    settle_secs: float = 120.0  # an overloaded step's backlog may take this long to clear before the next step
    # Customers give up on a poll after WIDGET_ABORT_FACTOR × hold, but never sooner than this: with
    # --quick's 0.3 s hold the widget's rule would give up after 0.39 s, which a loaded machine
    # exceeds, and an answer given up on is lost with the server-side cursor (see W3 in README.md).
    abort_min_secs: float = 0.0

    def estimate_secs(self) -> float:
        hold = self.hold_secs
        w2 = len(self.levels) * (self.w2_window_secs + hold + 1) + self.levels[-1] / 500
        w3 = len(self.w3_rates) * (self.w3_secs + 1)
        w4 = min(len(self.w4_rates), 8) * (self.w4_secs + 2)
        w5 = len(self.w5_rates) * (self.w5_secs + 1)
        w6 = self.w6_secs + 2 * hold + self.w6_gap_max_secs
        return w2 + w3 + w4 + w5 + w6 + 15


QUICK = Scale(hold_secs=0.3, levels=(8, 20), agents=2, create_concurrency=4, w2_window_secs=0.5,
              w3_rates=(50, 100), w3_secs=1.0, w4_rates=(100, 200), w4_secs=0.5, w5_rates=(50,), w5_secs=0.6,
              w6_sessions=12, w6_rate=30, w6_secs=2.0, w6_gap_max_secs=0.2, max_send_connections=50,
              drain_secs=10.0, settle_secs=10.0, abort_min_secs=5.0)


class Progress(Protocol):
    def step(self, name: str) -> None: ...

    def log(self, message: str) -> None: ...


class Phase:
    """Messages of one measured step, checked for delivery."""

    def __init__(self, phase_id: int, name: str) -> None:
        self.id = phase_id
        self.name = name
        self.check = DeliveryCheck()
        self.latencies = array("q")  # send → receipt, first arrival only
        self.send_latencies = array("q")  # the sender's request round trip
        self.lags = array("q")  # actual send time − scheduled send time
        self.inflight = 0
        self.max_inflight = 0  # beyond this the sender sheds instead of queueing without bound
        self.shed = 0  # not sent: the sender's own bound (more than 2 s worth waiting for the server)
        self.refused = 0  # not sent: the server refused it before doing anything (HTTP 503, overloaded)
        self.send_errors = 0
        self.skipped = 0
        self.events_ok = 0
        self.typing_seen = 0
        self.last_arrival_ns = 0

    def arrived(self, stream: int, seq: int, sent_ns: int, now_ns: int) -> None:
        if self.check.on_arrived(stream, seq):
            self.latencies.append(now_ns - sent_ns)
            self.last_arrival_ns = max(self.last_arrival_ns, now_ns)


@dataclass
class ChurnCounters:
    polls: int = 0
    aborted: int = 0
    overlapping: int = 0
    reconnects: int = 0
    superseded_empty: int = 0
    event_seq_violations: int = 0  # explicit-cursor clients: an event seq not above the last one


class Customer:
    """One simulated customer: a chat and a loop of long polls on its own connection."""

    __slots__ = ("agent", "chat_id", "client_id", "conn", "conn2", "counters", "cursor", "desync", "done", "idx",
                 "initial", "mode", "poll_bytes", "post_seq", "posting", "runner", "send_seq", "sending", "stopped",
                 "task")

    def __init__(self, runner: Runner, idx: int, client_id: str, chat_id: str) -> None:
        self.runner = runner
        self.idx = idx
        self.client_id = client_id
        self.chat_id = chat_id
        self.agent = -1
        self.mode = "widget"  # widget | abort13 | overlap | cursor
        self.poll_bytes = runner.system.poll_request(chat_id, client_id)
        self.conn: HttpConnection | None = None
        self.conn2: HttpConnection | None = None
        self.cursor = 0
        self.send_seq = 0
        self.post_seq = 0
        self.sending = False
        self.posting = False
        self.initial = False
        self.desync = False
        self.stopped = False
        self.done = False
        self.counters = ChurnCounters()
        self.task: asyncio.Task[None] | None = None

    async def _connection(self, second: bool = False) -> HttpConnection:
        conn = self.conn2 if second else self.conn
        if conn is None or conn.closed:
            async with self.runner.connect_slots:
                conn = await HttpConnection.open(self.runner.system.host, self.runner.system.port)
            if second:
                self.conn2 = conn
            else:
                self.conn = conn
        return conn

    def close(self) -> None:
        for conn in (self.conn, self.conn2):
            if conn is not None:
                conn.close()
        self.conn = self.conn2 = None

    async def run(self) -> None:
        runner = self.runner
        rng = runner.rng
        try:
            while not self.stopped:
                try:
                    if self.desync:
                        # spread the sessions' polls over the hold, as real traffic is, instead of
                        # renewing them all in the same instant after their first answer
                        self.desync = False
                        await asyncio.sleep(rng.uniform(0, runner.scale.hold_secs))
                    if self.mode == "overlap" and rng.random() < 0.5:
                        await self._overlapping_polls()
                    else:
                        await self._poll()
                    if self.mode != "widget" and not self.stopped and rng.random() < 0.2:
                        self.close()
                        self.counters.reconnects += 1
                        await asyncio.sleep(rng.uniform(0.1, runner.scale.w6_gap_max_secs))
                except RequestTimeout:
                    self.counters.aborted += 1
                    runner.aborted_polls += 1
                    self.close()
                except (HttpError, OSError) as exc:
                    if self.stopped:
                        break
                    runner.errors[f"poll: {type(exc).__name__}: {str(exc)[:80]}"] += 1
                    self.close()
                    await asyncio.sleep(0.2)
        except Exception as exc:
            runner.errors[f"poll loop died: {type(exc).__name__}: {str(exc)[:80]}"] += 1
            raise
        finally:
            self.close()
            self.done = True

    def _timeout(self) -> float:
        runner = self.runner
        if self.mode == "cursor" and runner.rng.random() < 0.3:
            return runner.rng.uniform(0.05, runner.scale.hold_secs)  # an app cancelling its poll
        return runner.abort_secs

    async def _poll(self) -> None:
        conn = await self._connection()
        request = (self.runner.system.poll_request(self.chat_id, self.client_id, self.cursor)
                   if self.mode == "cursor" else self.poll_bytes)
        start = time.monotonic_ns()
        reply = await conn.request(request, self._timeout())
        self._handle(reply, start)

    async def _overlapping_polls(self) -> None:
        """A second poll on a second connection while the first is held: the server completes the
        older one (empty, or with what it had already taken) and holds the newer one."""
        runner = self.runner
        first = await self._connection()
        second = await self._connection(second=True)
        start = time.monotonic_ns()
        older = first.request(self.poll_bytes, runner.abort_secs)
        await asyncio.sleep(runner.rng.uniform(0.0, min(0.5, runner.scale.hold_secs / 2)))
        newer = second.request(self.poll_bytes, runner.abort_secs)
        self.counters.overlapping += 1
        try:
            reply = await older
        except BaseException:
            with contextlib.suppress(HttpError):
                self._handle(await newer, start)
            raise
        if reply.status == 200 and reply.body == b'{"events":[]}':
            self.counters.superseded_empty += 1
        self._handle(reply, start, idle=False)
        self._handle(await newer, start, idle=False)

    def _handle(self, reply: Reply, start_ns: int, idle: bool = True) -> None:
        runner = self.runner
        self.counters.polls += 1
        if reply.status != 200:
            runner.errors[f"poll: HTTP {reply.status} {reply.body[:80]!r}"] += 1
            if reply.status == 404:
                self.stopped = True
            return
        events = orjson.loads(reply.body)["events"]
        if not events and idle and runner.idle_polls is not None and self.initial:
            runner.idle_polls.append(reply.done_ns - start_ns)
        for event in events:
            if self.mode == "cursor":
                seq = int(event["seq"])
                if seq <= self.cursor:
                    self.counters.event_seq_violations += 1
                self.cursor = max(self.cursor, seq)
            if event.get("event") == "chat_session_message":
                runner.on_stamped(str(event.get("msg_text") or event.get("msg") or ""), reply.done_ns)
        if not self.initial:
            self.initial = True
            self.desync = True
            runner.initial_done += 1


class Runner:
    """Runs every workload against one started system and returns its results."""

    def __init__(self, system: System, scale: Scale, progress: Progress, seed: int = 1,
                 profiler: Profiler | None = None) -> None:
        self.system = system
        self.profiler = profiler
        self.scale = scale
        self.progress = progress
        self.rng = random.Random(seed)
        self.customers: list[Customer] = []
        self.next_idx = 0  # the next customer index (and clientId): unique in the run, failed attempts included
        self.created: dict[str, Any] = {}
        self.holdings: dict[str, Holding] = {}
        self.phases: list[Phase] = []
        self.errors: Counter[str] = Counter()
        self.idle_polls: array[int] | None = None
        self.initial_done = 0
        self.abort_secs = max(scale.hold_secs * WIDGET_ABORT_FACTOR, scale.abort_min_secs)
        self.connect_slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
        host, port = system.host, system.port
        self.send_pool = ConnectionPool(host, port, scale.max_send_connections)
        self.admin_pool = ConnectionPool(host, port, 32)
        self.tasks: set[asyncio.Task[None]] = set()
        self.idle_cpu_pct: float | None = None
        self.post_counter = 0
        self.aborted_polls = 0  # polls the clients gave up on (widget: no answer within 1.3 × hold)
        self.create_latencies = array("q")
        self.w1_batches: list[dict[str, Any]] = []
        self.w2_rows: list[dict[str, Any]] = []
        self._rss0 = 0

    # ---- plumbing ---------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def new_phase(self, name: str) -> Phase:
        phase = Phase(len(self.phases), name)
        self.phases.append(phase)
        return phase

    def on_stamped(self, text: str, now_ns: int) -> None:
        parts = text.split("|")
        if len(parts) == 5 and parts[0] in ("b", "c"):
            self.phases[int(parts[1])].arrived(int(parts[2]), int(parts[3]), int(parts[4]), now_ns)

    async def server_sample(self) -> procstats.ProcSample:
        """The server's processes (and services) now, read in a thread: scanning /proc takes a few
        ms that the load generator's event loop should not stall for."""
        return await asyncio.to_thread(self.system.sample)

    def cpu_figures(self, before: procstats.ProcSample, after: procstats.ProcSample, secs: float,
                    units: int, per: str) -> dict[str, Any]:
        """Server CPU (all its processes) over ``secs``: % of one core and µs per unit (``per``),
        and with several processes each one's %; the services' (PostgreSQL backends of the run's
        database, redis-server) the same way when the system uses them."""
        cpu = procstats.cpu_between(before.cpu_by_pid, after.cpu_by_pid)
        out: dict[str, Any] = {
            "server_cpu_pct": round(cpu / secs * 100, 1) if secs else None,
            f"cpu_us_per_{per}": round(cpu / units * 1e6, 1) if units else None,
        }
        if len(after.cpu_by_pid) > 1 and secs:
            out["cpu_pct_by_process"] = {str(pid): round((value - before.cpu_by_pid.get(pid, 0.0)) / secs * 100, 1)
                                         for pid, value in sorted(after.cpu_by_pid.items())}
        if self.system.uses_services:
            services = procstats.cpu_between(before.services_cpu_by_pid, after.services_cpu_by_pid)
            out["services_cpu_pct"] = round(services / secs * 100, 1) if secs else None
            out[f"services_cpu_us_per_{per}"] = round(services / units * 1e6, 1) if units else None
        return out

    def profiled(self, label: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Profile the server during the body when the run profiles (``--profile``)."""
        if self.profiler is None or not label or not self.profiler.wants(label):
            return contextlib.nullcontext()
        return self.profiler.step(label)

    @staticmethod
    def own_cpu() -> float:
        return procstats.cpu_secs(os.getpid())

    async def open_loop(self, rate: float, duration_secs: float, fire: Callable[[int], None]) -> float:
        """Call ``fire(scheduled_ns)`` ``rate × duration`` times on a fixed schedule; returns the
        seconds it took (more than ``duration`` only if this process fell behind)."""
        total = max(1, round(rate * duration_secs))
        interval_ns = 1e9 / rate
        start = time.monotonic_ns()
        n = 0
        while n < total:
            due = min(total, int((time.monotonic_ns() - start) / interval_ns) + 1)
            while n < due:
                fire(start + int(n * interval_ns))
                n += 1
            if n < total:
                await asyncio.sleep(max(0.0, (start + n * interval_ns - time.monotonic_ns()) / 1e9))
        return (time.monotonic_ns() - start) / 1e9

    def _pick(self, targets: Sequence[Customer], busy: Callable[[Customer], bool]) -> Customer | None:
        for _ in range(20):
            customer = targets[self.rng.randrange(len(targets))]
            if not busy(customer) and not customer.stopped:
                return customer
        return None

    async def _drain(self, phase: Phase, timeout_secs: float) -> bool:
        deadline = time.monotonic() + timeout_secs
        while time.monotonic() < deadline:
            if phase.inflight == 0 and not phase.check.missing:
                return True
            await asyncio.sleep(0.005)
        return False

    # ---- W1: chat creation ---------------------------------------------------------------------

    async def create_sessions(self, count: int, profile: bool = False) -> tuple[list[Customer], dict[str, Any]]:
        system = self.system
        first = len(self.customers)
        # indices come from a counter of attempts, not from the customers made so far: after refused
        # creations the latter repeats indices (and clientIds) of customers that exist, a Mobile
        # client with an existing chat's clientId resumes that chat, and two customers then polled
        # one chat and counted each of its messages twice. A timed-out creation may have made its
        # chat too, so no index is ever given out twice.
        start = self.next_idx
        self.next_idx += count
        indices = iter(range(start, start + count))
        latencies = array("q")
        made: list[Customer] = []
        errors = 0
        refused = 0

        async def connect() -> HttpConnection:
            """A connection for the next creations; a refused or timed-out connect (an overloaded
            server's full accept queue) is an error of the run, retried a few times."""
            nonlocal errors
            for attempt in range(CONNECT_ATTEMPTS):
                try:
                    return await HttpConnection.open(system.host, system.port)
                except OSError as exc:
                    errors += 1
                    self.errors[f"create: connect: {type(exc).__name__}: {exc}"[:120]] += 1
                    if attempt == CONNECT_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(1.0)
            raise AssertionError("unreachable")

        async def worker() -> None:
            nonlocal errors, refused
            conn = await connect()
            try:
                for idx in indices:
                    client_id = f"bench-{idx:06d}"
                    retry_until = time.monotonic() + self.scale.settle_secs
                    reply: Reply | None = None
                    while True:
                        start = time.monotonic_ns()
                        try:
                            reply = await conn.request(system.create_request(client_id), SEND_TIMEOUT_SECS)
                        except HttpError as exc:
                            errors += 1
                            self.errors[f"create: {exc}"] += 1
                            conn.close()
                            conn = await connect()
                            reply = None
                            break
                        if reply.status != SERVER_REFUSED or time.monotonic() >= retry_until:
                            break
                        # an overloaded server refused it before storing anything: as a real client
                        # does, ask again after a pause (the same clientId: no chat exists for it)
                        refused += 1
                        if conn.closed:
                            conn = await connect()
                        await asyncio.sleep(REFUSED_PAUSE_SECS)
                    if reply is None:
                        continue
                    if reply.status != 200:
                        errors += 1
                        self.errors[f"create: HTTP {reply.status} {reply.body[:80]!r}"] += 1
                        continue
                    answer = orjson.loads(reply.body)
                    latencies.append(reply.done_ns - start)
                    self.create_latencies.append(reply.done_ns - start)
                    self.created[answer["chat_id"]] = answer
                    made.append(Customer(self, idx, client_id, answer["chat_id"]))
            finally:
                conn.close()

        gc.collect()
        before = await self.server_sample()
        async with self.profiled(f"W1 {first}-{first + count}" if profile else ""):
            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(min(count, self.scale.create_concurrency))))
            elapsed = time.monotonic() - started
        after = await self.server_sample()
        made.sort(key=lambda c: c.idx)
        self.customers.extend(made)
        result = {"from_sessions": first, "created": len(made), "errors": errors, "refused": refused,
                  "secs": round(elapsed, 3),
                  "rate_per_sec": round(len(made) / elapsed, 1) if elapsed else None,
                  **self.cpu_figures(before, after, elapsed, len(made), "chat"),
                  "latency": latency_summary(latencies), "concurrency": self.scale.create_concurrency}
        return made, result

    async def start_polling(self, customers: Sequence[Customer], timeout_secs: float) -> None:
        target = self.initial_done + len(customers)
        for customer in customers:
            customer.task = asyncio.ensure_future(customer.run())
        deadline = time.monotonic() + timeout_secs
        while self.initial_done < target:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.initial_done} of {target} sessions completed a first poll in time")
            await asyncio.sleep(0.05)

    async def refresh_holdings(self) -> None:
        self.holdings = await self.system.holdings(self.admin_pool, self.created)
        for customer in self.customers:
            holding = self.holdings.get(customer.chat_id)
            if holding is not None:
                customer.agent = holding.agent
        unheld = sum(1 for c in self.customers if c.agent < 0)
        if unheld:
            raise RuntimeError(f"{unheld} sessions are held by no agent (too few agents for the sessions?)")

    # ---- W1 + W2: create sessions in steps, measure them idle -----------------------------------

    def _w1_summary(self) -> dict[str, Any]:
        batches = self.w1_batches
        total = sum(b["created"] for b in batches)
        secs = sum(b["secs"] for b in batches)
        return {"batches": batches, "created": total, "secs": round(secs, 3),
                "rate_per_sec": round(total / secs, 1) if secs else None,
                "latency": latency_summary(self.create_latencies), "concurrency": self.scale.create_concurrency}

    async def w1_w2(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        scale = self.scale
        batches = self.w1_batches
        idle = self.w2_rows
        for level in scale.levels:
            self.progress.step(f"W1 create → {level} sessions")
            made, batch = await self.create_sessions(level - len(self.customers), profile=True)
            batches.append(batch)
            self.progress.log(f"  W1 {batch['from_sessions']}→{len(self.customers)}: {batch['rate_per_sec']} chats/s, "
                              f"p50 {batch['latency']['p50_ms']} ms, p99 {batch['latency']['p99_ms']} ms")
            self.progress.step(f"W2 {level} sessions: first polls")
            # generous: a loaded machine answers 10,000 first polls (each with the chat's history) slowly
            await self.start_polling(made, 120 + len(made) / 20)
            self.progress.step(f"W2 {level} sessions idle")
            await asyncio.sleep(scale.hold_secs + min(1.0, scale.hold_secs))
            idle.append(await self._idle_window(level))
            row = idle[-1]
            self.progress.log(f"  W2 {level}: {row['rss_per_session_kib']} KiB/session, CPU {row['server_cpu_pct']}%, "
                              f"late p99 {row['lateness']['p99_ms']} ms")
        return self._w1_summary(), idle

    async def _idle_window(self, sessions: int) -> dict[str, Any]:
        gc.collect()  # the load generator collects between windows only (gc is disabled in __main__)
        before = await self.server_sample()
        self.idle_polls = array("q")
        own_before = self.own_cpu()
        async with self.profiled(f"W2 {sessions}"):
            started = time.monotonic()
            await asyncio.sleep(self.scale.w2_window_secs)
            elapsed = time.monotonic() - started
        own_after = self.own_cpu()
        polls, self.idle_polls = self.idle_polls, None
        after = await self.server_sample()
        hold_ns = int(self.scale.hold_secs * 1e9)
        cpu = procstats.cpu_between(before.cpu_by_pid, after.cpu_by_pid)
        self.idle_cpu_pct = cpu / elapsed * 100
        row: dict[str, Any] = {
            "sessions": sessions, "window_secs": round(elapsed, 3), "rss_bytes": after.rss_bytes,
            "rss_growth_bytes": after.rss_bytes - self._rss0,
            "rss_per_session_kib": round((after.rss_bytes - self._rss0) / sessions / 1024, 2),
            **self.cpu_figures(before, after, elapsed, len(polls), "idle_poll"),
            "idle_polls": len(polls),
            "lateness": latency_summary([max(0, p - hold_ns) for p in polls]),
            "loadgen_cpu_pct": round((own_after - own_before) / elapsed * 100, 1),
        }
        if self.system.workers > 1:
            by_process = await asyncio.to_thread(self.system.connections_by_process)
            row["connections_by_process"] = {str(pid): n for pid, n in sorted(by_process.items())}
        return row

    # ---- W3 / W4 / W6: agents send to customers, open loop --------------------------------------

    async def agent_messages(self, name: str, rate: int, secs: float, targets: Sequence[Customer],
                             drain_secs: float) -> dict[str, Any]:
        phase = self.new_phase(name)

        phase.max_inflight = max(200, 2 * rate)

        def fire(scheduled_ns: int) -> None:
            if phase.inflight >= phase.max_inflight:
                phase.shed += 1
                return
            customer = self._pick(targets, lambda c: c.sending)
            if customer is None:
                phase.skipped += 1
                return
            customer.sending = True
            phase.inflight += 1
            self.spawn(self._send_message(phase, customer, scheduled_ns))

        return await self._measure(phase, rate, secs, fire, drain_secs)

    async def _send_message(self, phase: Phase, customer: Customer, scheduled_ns: int) -> None:
        customer.send_seq += 1
        seq = customer.send_seq
        conn: HttpConnection | None = None
        try:
            conn = await self.send_pool.acquire()
            sent_ns = time.monotonic_ns()
            phase.lags.append(sent_ns - scheduled_ns)
            text = f"b|{phase.id}|{customer.idx}|{seq}|{sent_ns}"
            reply = await conn.request(self.system.send_request(customer.agent, customer.chat_id, text),
                                       SEND_TIMEOUT_SECS)
            if reply.status == 200:
                phase.check.on_sent(customer.idx, seq)
                phase.send_latencies.append(reply.done_ns - sent_ns)
            elif reply.status == SERVER_REFUSED:
                phase.refused += 1  # nothing of it was stored: not sent, never expected to arrive
            else:
                phase.send_errors += 1
                self.errors[f"send: HTTP {reply.status} {reply.body[:80]!r}"] += 1
        except (HttpError, OSError) as exc:
            phase.send_errors += 1
            self.errors[f"send: {type(exc).__name__}: {str(exc)[:80]}"] += 1
        finally:
            if conn is not None:
                self.send_pool.release(conn)
            customer.sending = False
            phase.inflight -= 1

    async def _measure(self, phase: Phase, rate: int, secs: float, fire: Callable[[int], None],
                       drain_secs: float, events_per_message: float = 1.0) -> dict[str, Any]:
        gc.collect()
        aborted_before = self.aborted_polls
        before = await self.server_sample()
        own_before = self.own_cpu()
        async with self.profiled(phase.name):
            started_ns = time.monotonic_ns()
            send_secs = await self.open_loop(rate, secs, fire)
            drained = await self._drain(phase, drain_secs)
            ended_ns = time.monotonic_ns()
        own_after = self.own_cpu()
        after = await self.server_sample()
        window = (ended_ns - started_ns) / 1e9
        if drained and phase.last_arrival_ns:
            window = max(send_secs, (phase.last_arrival_ns - started_ns) / 1e9)
        delivery = phase.check.result()
        cpu = procstats.cpu_between(before.cpu_by_pid, after.cpu_by_pid)
        result: dict[str, Any] = {
            "name": phase.name, "target_rate": rate, "send_secs": round(send_secs, 3),
            "sent_rate": round(delivery["sent"] / send_secs, 1),
            "delivered_rate": round(delivery["delivered"] / window, 1) if window else None,
            "latency": latency_summary(phase.latencies, with_cdf=True),
            "send_latency": latency_summary(phase.send_latencies),
            "schedule_lag": latency_summary(phase.lags),
            **delivery, "send_errors": phase.send_errors, "skipped": phase.skipped, "shed": phase.shed,
            "refused": phase.refused,
            "drained": drained,
            **self.cpu_figures(before, after, window, delivery["delivered"], "msg"),
            "loadgen_cpu_pct": round((own_after - own_before) / ((ended_ns - started_ns) / 1e9) * 100, 1),
            "server_rss_bytes": after.rss_bytes, "aborted_polls": self.aborted_polls - aborted_before,
        }
        if self.idle_cpu_pct is not None and delivery["delivered"]:
            extra = cpu - self.idle_cpu_pct / 100 * window
            result["cpu_us_per_msg_above_idle"] = round(max(0.0, extra) / delivery["delivered"] * 1e6, 1)
        if not drained:
            # overloaded: let the backlog clear so the next step starts clean, and tell late from lost
            late_before = len(phase.check.arrived_keys)
            await self._drain(phase, self.scale.settle_secs)
            result["arrived_after_drain"] = len(phase.check.arrived_keys) - late_before
            result["lost_after_settle"] = len(phase.check.missing)
        if phase.events_ok:
            result["events_posted"] = phase.events_ok
            result["typing_seen"] = phase.typing_seen
            result["cpu_us_per_event"] = round(cpu / phase.events_ok * 1e6, 1)
        return result

    async def w3(self) -> list[dict[str, Any]]:
        rows = []
        for rate in self.scale.w3_rates:
            self.progress.step(f"W3 {rate} msg/s")
            row = await self.agent_messages(f"W3@{rate}", rate, self.scale.w3_secs, self.customers,
                                            self.scale.drain_secs)
            rows.append(row)
            self.progress.log(f"  W3 {rate}/s: p50 {row['latency']['p50_ms']} p99 {row['latency']['p99_ms']} ms, "
                              f"{row['cpu_us_per_msg']} µs CPU/msg, lost {row['lost']} dup {row['duplicated']} "
                              f"reordered {row['reordered']}")
        return rows

    async def w4(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = []
        knee: int | None = None
        for rate in self.scale.w4_rates:
            self.progress.step(f"W4 {rate} msg/s")
            row = await self.agent_messages(f"W4@{rate}", rate, self.scale.w4_secs, self.customers,
                                            self.scale.drain_secs)
            reasons = self._knee_failures(row, rate)
            row["passed"] = not reasons
            row["failed_because"] = reasons
            steps.append(row)
            self.progress.log(f"  W4 {rate}/s: delivered {row['delivered_rate']}/s p99 {row['latency']['p99_ms']} ms "
                              f"{'ok' if not reasons else 'KNEE: ' + '; '.join(reasons)}")
            if reasons:
                break
            knee = rate
        return {"steps": steps, "knee_rate": knee, "p99_limit_ms": self.scale.w4_p99_limit_ms,
                "max_delivered_rate": max((s["delivered_rate"] or 0 for s in steps), default=0)}

    def _knee_failures(self, row: dict[str, Any], rate: int) -> list[str]:
        reasons = []
        p99 = row["latency"]["p99_ms"]
        if p99 is None or p99 > self.scale.w4_p99_limit_ms:
            reasons.append(f"p99 {p99} ms > {self.scale.w4_p99_limit_ms} ms")
        for key in ("lost", "duplicated", "reordered", "send_errors", "refused"):
            if row[key]:
                reasons.append(f"{key} {row[key]}")
        if not row["drained"]:
            reasons.append("not all messages arrived within the drain time")
        if row["sent_rate"] < 0.95 * rate:
            reasons.append(f"sent only {row['sent_rate']}/s")
        return reasons

    # ---- W5: customers post while agents watch ---------------------------------------------------

    async def w5(self) -> list[dict[str, Any]]:
        self.progress.step("W5 agents connect")
        await self.refresh_holdings()
        cursors: dict[int, dict[str, int]] = {}
        for chat_id, holding in self.holdings.items():
            cursors.setdefault(holding.agent, {})[chat_id] = holding.last_seq
        current: list[Phase] = []
        watchers: list[WsConnection] = []

        def on_text(text: str, now_ns: int) -> None:
            message = orjson.loads(text)
            if message.get("type") != "event":
                return
            event = message.get("event") or {}
            name = event.get("event")
            if name == "chat_session_message":
                self.on_stamped(str(event.get("msg") or ""), now_ns)
            elif name == "chat_session_typing" and current:
                current[-1].typing_seen += 1

        try:
            for agent in range(self.system.agents):
                ws = await WsConnection.open(self.system.host, self.system.port, self.system.watch_target(agent),
                                             on_text)
                ws.send_text(self.system.watch_hello(agent, cursors.get(agent, {})))
                watchers.append(ws)
            await asyncio.sleep(min(2.0, self.scale.hold_secs))  # snapshots and catch-up settle
            rows = []
            for rate in self.scale.w5_rates:
                self.progress.step(f"W5 {rate} events/s")
                phase = self.new_phase(f"W5@{rate}")
                current.append(phase)

                phase.max_inflight = max(200, 2 * rate)

                def fire(scheduled_ns: int, phase: Phase = phase) -> None:
                    if phase.inflight >= phase.max_inflight:
                        phase.shed += 1
                        return
                    customer = self._pick(self.customers, lambda c: c.posting)
                    if customer is None:
                        phase.skipped += 1
                        return
                    customer.posting = True
                    phase.inflight += 1
                    typing = self.post_counter % 2 == 1
                    self.post_counter += 1
                    self.spawn(self._post_event(phase, customer, scheduled_ns, typing))

                row = await self._measure(phase, rate, self.scale.w5_secs, fire, self.scale.drain_secs)
                row["post_latency"] = row.pop("send_latency")
                rows.append(row)
                self.progress.log(f"  W5 {rate}/s: POST p50 {row['post_latency']['p50_ms']} p99 "
                                  f"{row['post_latency']['p99_ms']} ms, agent sees p99 {row['latency']['p99_ms']} ms, "
                                  f"{row.get('cpu_us_per_event')} µs CPU/event, lost {row['lost']}")
            return rows
        finally:
            for ws in watchers:
                ws.close()

    async def _post_event(self, phase: Phase, customer: Customer, scheduled_ns: int, typing: bool) -> None:
        conn: HttpConnection | None = None
        try:
            conn = await self.send_pool.acquire()
            sent_ns = time.monotonic_ns()
            phase.lags.append(sent_ns - scheduled_ns)
            seq = 0
            if typing:
                body = b'{"events":[{"event":"chat_session_typing","msg":"typing"}]}'
            else:
                customer.post_seq += 1
                seq = customer.post_seq
                text = f"c|{phase.id}|{customer.idx}|{seq}|{sent_ns}"
                body = orjson.dumps({"events": [{"event": "chat_session_message", "msg": text,
                                                 "msg_id": f"c{customer.idx}-{seq}"}]})
            reply = await conn.request(self.system.post_events_request(customer.chat_id, customer.client_id, body),
                                       SEND_TIMEOUT_SECS)
            if reply.status == 200:
                phase.events_ok += 1
                phase.send_latencies.append(reply.done_ns - sent_ns)
                if not typing:
                    phase.check.on_sent(customer.idx, seq)
            elif reply.status == SERVER_REFUSED:
                phase.refused += 1
            else:
                phase.send_errors += 1
                self.errors[f"post: HTTP {reply.status} {reply.body[:80]!r}"] += 1
        except (HttpError, OSError) as exc:
            phase.send_errors += 1
            self.errors[f"post: {type(exc).__name__}: {str(exc)[:80]}"] += 1
        finally:
            if conn is not None:
                self.send_pool.release(conn)
            customer.posting = False
            phase.inflight -= 1

    # ---- W6: churn -------------------------------------------------------------------------------

    async def w6(self) -> dict[str, Any]:
        scale = self.scale
        self.progress.step("W6 churn sessions")
        churners, made = await self.create_sessions(scale.w6_sessions)
        if not churners:
            reason = f"no churn session could be created ({made['errors']} errors, {made['refused']} refused)"
            self.progress.log(f"  W6: {reason}")
            return {"sessions": 0, "error": reason}
        await self.refresh_holdings()
        modes = ("abort13", "overlap", "cursor")
        for i, customer in enumerate(churners):
            customer.mode = modes[i % len(modes)]
        await self.start_polling(churners, 60)
        self.progress.step(f"W6 churn {scale.w6_rate} msg/s")
        drain = self.abort_secs + scale.hold_secs + scale.w6_gap_max_secs + scale.drain_secs
        row = await self.agent_messages("W6", scale.w6_rate, scale.w6_secs, churners, drain)
        for customer in churners:
            customer.stopped = True
            customer.close()
        by_mode: dict[str, ChurnCounters] = {mode: ChurnCounters() for mode in modes}
        for customer in churners:
            total = by_mode[customer.mode]
            for key, value in asdict(customer.counters).items():
                setattr(total, key, getattr(total, key) + value)
        row["sessions"] = len(churners)
        row["clients"] = {mode: asdict(c) for mode, c in by_mode.items()}
        row["event_seq_violations"] = sum(c.event_seq_violations for c in by_mode.values())
        self.progress.log(f"  W6: sent {row['sent']} delivered {row['delivered']} lost {row['lost']} "
                          f"dup {row['duplicated']} reordered {row['reordered']}; "
                          + ", ".join(f"{m}: {asdict(c)}" for m, c in by_mode.items()))
        return row

    # ---- the whole run -----------------------------------------------------------------------------

    async def run(self, workloads: set[str]) -> dict[str, Any]:
        result: dict[str, Any] = {"pid": self.system.pid, "errors": {}}
        self.progress.step("agents log in")
        await self.system.prepare_agents(self.admin_pool)
        start = await self.server_sample()
        result["processes"] = len(start.cpu_by_pid)
        self._rss0 = start.rss_bytes
        result["rss_at_start_bytes"] = start.rss_bytes
        try:
            try:
                result["W1"], w2 = await self.w1_w2()
            except (HttpError, OSError, RuntimeError) as exc:
                # nothing after W1/W2 can run without the sessions: keep what was measured and say why
                result["W1"] = {**self._w1_summary(), "error": f"{type(exc).__name__}: {exc}"}
                if "W2" in workloads and self.w2_rows:
                    result["W2"] = self.w2_rows
                self.progress.log(f"  W1/W2 failed: {exc}")
                return result
            if "W2" in workloads:
                result["W2"] = w2
            try:
                await self.refresh_holdings()
            except (HttpError, OSError, RuntimeError) as exc:
                # without knowing which agent holds which chat no agent can send: W3–W6 cannot run
                why = f"the agents' chats could not be read: {type(exc).__name__}: {exc}"
                for name in ("W3", "W5", "W6", "W4"):
                    if name in workloads:
                        result[name] = {"error": why}
                self.progress.log(f"  {why}")
                return result
            for name, step in (("W3", self.w3), ("W5", self.w5), ("W6", self.w6), ("W4", self.w4)):
                if name in workloads:
                    try:
                        result[name] = await step()
                    except (HttpError, OSError, RuntimeError) as exc:
                        result[name] = {"error": f"{type(exc).__name__}: {exc}"}
                        self.progress.log(f"  {name} failed: {exc}")
        finally:
            result["rss_at_end_bytes"] = (await self.server_sample()).rss_bytes
            if self.profiler is not None:
                result["profiles"] = self.profiler.results
            await self.shutdown()
            result["errors"] = dict(self.errors.most_common(20))
        return result

    async def shutdown(self) -> None:
        for customer in self.customers:
            customer.stopped = True
            customer.close()
        for customer in self.customers:
            if customer.task is not None:
                customer.task.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.sleep(0)
        self.send_pool.close()
        self.admin_pool.close()
