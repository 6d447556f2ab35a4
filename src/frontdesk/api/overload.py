"""Overload shedding: an overloaded server refuses new work early and explicitly, and never delivers a
poll answer so late that its client has probably given up (docs/operations.md, "Overload").

**Signals**, both cheap and measured in this process:

- *event-loop lag*: a timer due every ``LAG_SAMPLE_SECS`` notes how late it fired. Everything of a
  request runs on the loop (SQLite's writes too), so a saturated process shows here. Overload is
  lag that lasts: the *sustained* lag is the smallest of the last ``SUSTAINED_SAMPLES`` samples, so
  one long callback (a collector pass, a big report) that stalls the loop once is not overload, while
  a loop that is behind on turn after turn is;
- *queue age*: the age of the ``QUEUE_QUORUM``-th oldest load-creating request in progress, counted
  from the moment its body had arrived until its answer. It shows requests waiting for the storage
  writer or the database pool while the loop itself is idle (PostgreSQL). One request stuck on one
  chat's lock is not overload, hence the quorum; a client trickling a body in is not counted;
- *delivery lag*: how long after its events were there a poll answer with events is written, from
  the later of the wake-up that set the held poll going (``Notifier.woken_at``) and the moment this
  process began handling the poll (a poll that arrived after its events). It is what a customer waits
  beyond the network, and it sees the overload the other two miss: a loop that runs every turn only
  a little late, while each answer takes several turns (the wake-up, the connection check, the write)
  and accepted sends pile up faster than their answers go out. The *sustained* delivery lag is the
  median of the answers of the last ``LAG_WINDOW_SECS``, 0 with fewer than ``DELIVERY_QUORUM``: one
  answer held up by its chat's lock is not overload.

**Policy.** Shedding starts when the sustained lag reaches ``shed_loop_lag_secs``, the queue age
``shed_queue_age_secs`` or the sustained delivery lag ``shed_delivery_lag_secs``; it stops when all three
are below half of their limits again, after at least ``MIN_SHED_SECS``. Both edges are logged at
warning, never each request. While shedding, every request
that creates load is answered at once, before its body is read, so nothing of it is done:

- customer API (``POST …/chats``, ``POST …/chats/{id}/events``, ``POST …/files``): ``503`` with the
  Mobile/Web API's error shape, ``{"error_code": "5001", …}`` ("no server is available"), and
  ``Retry-After``. No client ends a chat on it: the web widgets end a chat only on ``5005``, Android
  stops polling only on ``404``, iOS drops a chat only on ``5005``; the connection limit and a database
  outage answer the same;
- agent API (an agent sending into a chat: messages, files, typing, receipts, forms, signaling):
  ``503`` with ``Retry-After`` and FastAPI's ``{"detail": …}``.

Never refused: long polls (they are the delivery, and cost nothing while held), history, every other
read, WebSockets, and the agent actions that take load away (accept, end, state, transfer, logout).

**Late poll answers.** A poll answer with events moves the server-side cursor once its write completes,
and a write completes into the kernel buffer of a connection whose client already gave up, too. So an
answer reached more than ``LATE_POLL_SECS`` after the request arrived answers ``{"events": []}`` and
commits nothing (``PollDeadline``): its events go to the client's next poll. The arrival is when the kernel
received the request's bytes (TCP's own clock, ``protocol.asgi.request_age``), which counts a wait in the
listening socket's accept queue that a saturated process cannot see otherwise. The kernel is asked only
for a connection's first request and, once reading was paused on it, for every later one
(``connections.GuardedProtocol``): any other request of a kept-alive connection was read in the loop turn
its bytes arrived in. Without that age (not TCP, not asked), or where it says less, the arrival is
estimated back from the moment the request is handled by twice the largest recent loop lag: its bytes
may have waited a loop turn in the socket before they were read, and its task another before it ran.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontdesk.observability.logs import get_logger
from frontdesk.observability.metrics import Metrics
from frontdesk.protocol.errors import ErrorCode

log = get_logger(__name__)

LAG_SAMPLE_SECS = 0.05
LAG_WINDOW_SECS = 1.0
SUSTAINED_SAMPLES = 3  # consecutive late ticks: at a lag of 0.25 s, the loop was behind for 0.75 s
QUEUE_QUORUM = 4
DELIVERY_QUORUM = 8  # poll answers in the window before their median counts
MAX_RECENT_ANSWERS = 1024  # the delivery lags kept for the median (the newest, within the window)
MIN_SHED_SECS = 1.0  # once started, shedding lasts at least this long: no flapping edge per tick
RETRY_AFTER_SECS = 2
# The web widgets abort a poll 13 s after sending it (docs/event-delivery.md; the hold is at most
# 11.5 s): an answer begun later than this after the request arrived may find its client gone.
LATE_POLL_SECS = 12.0
BUSY_MESSAGE = "The server is busy; please try again in a moment"

CUSTOMER_PREFIX = "/clientweb/api/"
AGENT_PREFIX = "/agent/api/v1/chats/"
AGENT_SENDS = frozenset({"messages", "files", "typing", "receipts", "forms", "signaling"})


def load_kind(method: str, path: str) -> str | None:
    """The kind of new work a request creates (the ``kind`` label of the shed counter), or None for
    a request that is never shed."""
    if method != "POST":
        return None
    if path.startswith(CUSTOMER_PREFIX):
        parts = path[len(CUSTOMER_PREFIX):].split("/")  # version, then the resource
        if len(parts) == 2 and parts[1] == "chats":
            return "new_chat"
        if len(parts) == 2 and parts[1] == "files":
            return "customer_upload"
        if len(parts) == 4 and parts[1] == "chats" and parts[3] == "events":
            return "customer_events"
        return None
    if path.startswith(AGENT_PREFIX):
        parts = path[len(AGENT_PREFIX):].split("/")  # chat id, then the action
        if len(parts) == 2 and parts[1] in AGENT_SENDS:
            return "agent_send"
    return None


@dataclass(frozen=True, slots=True)
class ShedLimits:
    """The thresholds (the server settings of the same names)."""

    shed_loop_lag_secs: float
    shed_queue_age_secs: float
    shed_delivery_lag_secs: float


class LagSource(Protocol):
    def largest(self) -> float:
        """The largest lag of the last window, or the lateness of the pending tick if that is larger."""

    def sustained(self) -> float:
        """The smallest of the last few lags: what each recent loop turn was behind by at least."""


class LoopLag:
    """The event loop's lag, measured by a timer due every ``LAG_SAMPLE_SECS``: the samples of the
    last ``LAG_WINDOW_SECS`` (the latest one always) and the last ``SUSTAINED_SAMPLES``."""

    def __init__(self, on_sample: Callable[[], None] | None = None) -> None:
        self._samples: deque[tuple[float, float]] = deque()  # (when, lag), oldest first
        self._latest: deque[float] = deque([0.0] * SUSTAINED_SAMPLES, maxlen=SUSTAINED_SAMPLES)
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._on_sample = on_sample
        self._largest = 0.0
        self._sustained = 0.0

    def start(self) -> None:
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def largest(self) -> float:
        pending = time.monotonic() - self._due if self._handle is not None else 0.0
        return max(self._largest, pending)

    def sustained(self) -> float:
        return self._sustained

    def _schedule(self) -> None:
        self._due = time.monotonic() + LAG_SAMPLE_SECS
        self._handle = asyncio.get_running_loop().call_later(LAG_SAMPLE_SECS, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        samples = self._samples
        lag = max(0.0, now - self._due)
        samples.append((now, lag))
        while now - samples[0][0] > LAG_WINDOW_SECS:
            samples.popleft()
        self._latest.append(lag)
        self._largest, self._sustained = max(late for _, late in samples), min(self._latest)
        self._schedule()  # from the timer callback itself: the loop's clock is fresh here
        if self._on_sample is not None:
            self._on_sample()


class LoadInProgress:
    """Load-creating requests between the end of their body and their answer, oldest first."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._since: dict[int, float] = {}  # insertion order is the order their bodies completed
        self._ids = itertools.count()

    def begin(self) -> int:
        key = next(self._ids)
        self._since[key] = self._now()
        return key

    def end(self, key: int) -> None:
        self._since.pop(key, None)

    def __len__(self) -> int:
        return len(self._since)

    def age(self, quorum: int = QUEUE_QUORUM) -> float:
        """How long the ``quorum``-th oldest has been waiting (0 with fewer in progress)."""
        started = next(itertools.islice(iter(self._since.values()), quorum - 1, None), None)
        return 0.0 if started is None else max(0.0, self._now() - started)


class DeliveryLag:
    """The delivery lags of the recent poll answers with events, and their sustained value: the
    median of those of the last ``LAG_WINDOW_SECS`` (at most ``MAX_RECENT_ANSWERS``), 0 with fewer
    than ``DELIVERY_QUORUM``."""

    def __init__(self) -> None:
        self._recent: deque[tuple[float, float]] = deque(maxlen=MAX_RECENT_ANSWERS)  # (when, lag), oldest first

    def observe(self, when: float, lag: float) -> None:
        self._recent.append((when, lag))

    def sustained(self, now: float) -> float:
        recent = self._recent
        while recent and now - recent[0][0] > LAG_WINDOW_SECS:
            recent.popleft()
        if len(recent) < DELIVERY_QUORUM:
            return 0.0
        lags = sorted(lag for _, lag in recent)
        return lags[len(lags) // 2]


WokenAt = Callable[[asyncio.Event], "float | None"]


@dataclass(slots=True)
class PollDeadline:
    """When a poll answer with events is too late to be trusted (``LATE_POLL_SECS`` after
    ``arrived``): ``passed()`` says so right before the answer is written, and reports the answer's
    delivery lag (``on_answer``). ``handled`` is when the process began handling the poll, all three
    on ``clock`` (monotonic), the clock ``woken_at`` stamps on too."""

    arrived: float
    on_late: Callable[[], None] | None = None
    handled: float = 0.0
    clock: Callable[[], float] = time.monotonic
    woken_at: WokenAt | None = None
    on_answer: Callable[[float, float], None] | None = None  # (now, delivery lag)

    @classmethod
    def from_now(cls, waited: float = 0.0) -> PollDeadline:
        """For a server without an overload monitor: the request arrived ``waited`` seconds ago
        (``protocol.asgi.request_age``)."""
        return cls(time.monotonic() - waited)

    def passed(self, signal: asyncio.Event | None = None) -> bool:
        """Whether the answer about to be written is too late; ``signal``: the held poll's event,
        whose wake-up the delivery lag is counted from (when it came after the poll)."""
        now = self.clock()
        if self.on_answer is not None:
            woken = self.woken_at(signal) if signal is not None and self.woken_at is not None else None
            self.on_answer(now, max(0.0, now - max(self.handled, woken or 0.0)))
        if now - self.arrived <= LATE_POLL_SECS:
            return False
        if self.on_late is not None:
            self.on_late()
        return True


class OverloadMonitor:
    """Judges overload from the loop lag, the queue age and the delivery lag after each lag sample,
    and keeps the gauges; ``shedding`` is what the middleware reads per request (no work per request).
    ``woken_at``: the notifier's wake-up stamps (on ``now``), for the polls' delivery lag."""

    def __init__(self, limits: ShedLimits, metrics: Metrics, woken_at: WokenAt | None = None) -> None:
        self.limits = limits
        self.metrics = metrics
        # the signals and the clock; a test may put its own sources here
        self._probe = LoopLag(self.update)
        self.lag: LagSource = self._probe
        self.now: Callable[[], float] = time.monotonic
        self.in_progress = LoadInProgress()
        self.delivery = DeliveryLag()
        self._woken_at = woken_at
        self.shedding = False
        self._since = 0.0
        self._shed_since_start = 0

    def start(self) -> None:
        self._probe.start()

    def stop(self) -> None:
        self._probe.stop()

    def update(self) -> None:
        """Re-judge from the signals now (called after every lag sample)."""
        now = self.now()
        lag, age, delivery = self.lag.sustained(), self.in_progress.age(), self.delivery.sustained(now)
        self.metrics.loop_lag.set(self.lag.largest())
        self.metrics.load_queue_age.set(age)
        self.metrics.delivery_lag.set(delivery)
        limits = self.limits
        over = lag >= limits.shed_loop_lag_secs or age >= limits.shed_queue_age_secs \
            or delivery >= limits.shed_delivery_lag_secs
        calm = lag < limits.shed_loop_lag_secs / 2 and age < limits.shed_queue_age_secs / 2 \
            and delivery < limits.shed_delivery_lag_secs / 2
        if over and not self.shedding:
            self.shedding, self._since, self._shed_since_start = True, now, 0
            self.metrics.overloaded.set(1)
            log.warning("overloaded: shedding new chats and sends (503) until the server catches up",
                        loop_lag_secs=round(lag, 3), queue_age_secs=round(age, 3),
                        delivery_lag_secs=round(delivery, 3), in_progress=len(self.in_progress))
        elif self.shedding and calm and now - self._since >= MIN_SHED_SECS:
            self.shedding = False
            self.metrics.overloaded.set(0)
            log.warning("overload over: accepting new chats and sends again", shed=self._shed_since_start,
                        shed_for_secs=round(now - self._since, 1), loop_lag_secs=round(lag, 3),
                        delivery_lag_secs=round(delivery, 3))

    def shed(self, kind: str) -> None:
        self._shed_since_start += 1
        self.metrics.requests_shed.labels(kind).inc()

    def poll_deadline(self, waited: float = 0.0) -> PollDeadline:
        """The deadline of the poll being handled now, which the kernel received ``waited`` seconds
        ago (``protocol.asgi.request_age``: it sees a wait in the accept queue), its arrival estimated
        back by twice the loop lag where that says more; its answer's delivery lag goes to ``delivery``."""
        now = self.now()
        return PollDeadline(now - max(waited, 2 * self.lag.largest()), self.metrics.polls_withheld_late.inc, now,
                            self.now,
                            self._woken_at, self.delivery.observe)


def _refusal(path: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    if path.startswith(CUSTOMER_PREFIX):
        body = orjson.dumps({"error_code": ErrorCode.SERVER_NOT_AVAILABLE.value, "error_message": BUSY_MESSAGE})
    else:
        body = orjson.dumps({"detail": BUSY_MESSAGE})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), (b"retry-after", str(RETRY_AFTER_SECS).encode())]
    return headers, body


class ShedWhenOverloaded:
    """ASGI middleware: while ``monitor.shedding``, a load-creating request (``load_kind``) is answered
    503 before anything reads it; otherwise it runs, counted in ``monitor.in_progress`` from the end
    of its body to the end of its answer. Every other request passes untouched."""

    def __init__(self, app: ASGIApp, monitor: OverloadMonitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = load_kind(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        monitor = self.monitor
        if monitor.shedding:
            monitor.shed(kind)
            headers, body = _refusal(scope["path"])
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        key: int | None = None

        async def receive_counted() -> Message:
            nonlocal key
            message = await receive()
            if key is None and message["type"] == "http.request" and not message.get("more_body", False):
                key = monitor.in_progress.begin()
            return message

        try:
            await self.app(scope, receive_counted, send)
        finally:
            if key is not None:
                monitor.in_progress.end(key)
