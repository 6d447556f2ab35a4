"""The customer long poll: exactly-once, in-order delivery of a session's customer events.

Contract (docs/event-delivery.md):
* A poll holds up to ``hold_secs`` and answers ``{"events": []}`` when nothing arrives. It reads
  the log when it starts and on every wake-up; a hold that runs out with no wake-up since a read
  that found nothing answers without reading again.
* A newer poll for the same chat completes the older one with ``{"events": []}``.
* A batch is read, written and committed under a per-chat lock. The server-side cursor moves
  only after the HTTP layer reports the write completed with the client still connected, so an
  aborted poll loses nothing: its events go to the next poll.
* With an explicit ``after`` cursor (frontdesk's own clients) the client's cursor wins.
* A terminal chat whose customer events were all delivered answers 5005.

Reload behaviour of web clients (docs/event-delivery.md): a resuming web widget asks for the
history and polls at the same time and shows both answers. History answers are read, written and
committed under the same per-chat lock as polls, and a completed web history answer moves the
server-side cursor to the tail it read, so the poll does not repeat it. When the chat's last poll
was aborted by its client (the old page's unload) and the next poll answers at once with the
events that waited meanwhile (a backlog), a history request within ``RELOAD_WINDOW_SECS`` leaves
that backlog out: the new page has just shown it. Another aborted poll forgets it.

Across processes (docs/operations.md, "Running several processes"): a poll announces itself on the
bus (``poll:<chat id>`` with its id), and a process holding an older poll of the chat completes it.
The delivery lock is this process's ``asyncio.Lock`` of the chat plus ``ChatLocks`` (a Redis lease
with several processes, renewed while held), taken around every read that has something to deliver
or commit, and around every history answer; an idle poll's reads take no cross-process lock. A
batch carries the lease it was read under: once that ran out (``Lease.held``) it is answered
withheld, since another process may now be delivering the same events. With a
cross-process bus the notifier runs ``recheck_tails`` every ``notifier.recheck_secs``: one query
asks which of the chats whose polls this process holds have new customer events (or ended) since
their poll last read, and only those polls read again; a lost wake-up delays events by at most
that long, and the re-check costs one query per process per period, not one read per held poll.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from frontdesk.bus.interfaces import ChatLocks, Lease, chat_topic, poll_topic
from frontdesk.bus.interfaces import ChatLockTimeout as ChatLockTimeout  # polls and history raise it
from frontdesk.bus.local import PROCESS_LEASE, LocalChatLocks
from frontdesk.delivery.notifier import Notifier
from frontdesk.delivery.state_reads import DeliveryStateReads
from frontdesk.domain.customers import WEB, CustomerIdentity, CustomerService, visible_names
from frontdesk.domain.errors import NotFound
from frontdesk.observability.metrics import POLL_OUTCOMES
from frontdesk.storage.records import Audience, EventRecord, JsonObject, SeenTail

MAX_BATCH_EVENTS = 500  # events per poll response; the rest go to the next poll at once
# a history request this soon after a backlog answer comes from the page that got that answer (the
# widget sends both requests together on a reload); measured on the server's clock
RELOAD_WINDOW_SECS = 5.0
_T = TypeVar("_T")
MAX_REMEMBERED_CHATS = 10_000  # chats with a remembered backlog or aborted poll (oldest forgotten)
RECHECK_BATCH = 1000  # held polls asked about in one query of the cross-process re-check


@dataclass(slots=True)
class PollBatch:
    """Events ready to write. ``commit()`` after a completed write moves the cursor."""

    chat_id: str
    events: list[JsonObject]
    last_seq: int
    _service: CustomerService
    committed: bool = field(default=False)
    from_seq: int = 0  # the cursor the batch was read after
    after_commit: Callable[[], None] | None = None
    appended_at: list[float] = field(default_factory=list)  # when each event of ``events`` was appended
    lease: Lease = PROCESS_LEASE  # the chat's cross-process lock it was read under: write it only while held
    seen: SeenTail | None = None  # where the chat's customer log stood when the batch was read

    def withheld(self) -> PollBatch:
        """The same poll answered with nothing and committing nothing: its events stay queued."""
        return PollBatch(self.chat_id, [], 0, self._service)

    async def commit(self) -> None:
        if self.last_seq and not self.committed:
            self.committed = True
            await self._service.acknowledge(self.chat_id, self.last_seq)
            self._delivered()
            if self.after_commit is not None:
                self.after_commit()

    def _delivered(self) -> None:
        """The customer has the events (the write completed): count them and their latency."""
        if not self.appended_at:
            return
        journal = self._service.journal
        now = journal.clock.now()
        journal.metrics.events_delivered.labels("customer").inc(len(self.appended_at))
        latency = journal.metrics.delivery_latency.labels("customer")
        for appended in self.appended_at:
            latency.observe(max(0.0, now - appended))


@dataclass(slots=True)
class HistoryBatch:
    """A history answer ready to write. ``commit()`` after a completed write moves the cursor to
    the tail the history was read at (everything up to it is now on the client's screen)."""

    chat_id: str
    events: list[JsonObject]
    tail: int  # 0: the cursor stays
    _service: CustomerService
    _after_commit: Callable[[], None]
    committed: bool = field(default=False)

    async def commit(self) -> None:
        if not self.committed:
            self.committed = True
            if self.tail:
                await self._service.acknowledge(self.chat_id, self.tail)
            self._after_commit()


@dataclass(frozen=True, slots=True)
class _Backlog:
    """What a server-cursor poll answered at once: the events after ``after`` up to ``upto``."""

    after: int
    upto: int
    at: float


class PollSignal(asyncio.Event):
    """A held poll's event. ``set()`` is news from outside (a wake-up of the chat's topic, the
    cross-process re-check): it notes ``woken`` until the next ``clear()``. The poll's own
    reasons to stop waiting (the hold ran out, superseded, the client went away) ``raise_()`` it,
    which notes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.woken = False

    def set(self) -> None:
        self.woken = True
        super().set()

    def raise_(self) -> None:
        super().set()

    def clear(self) -> None:
        self.woken = False
        super().clear()


class PollWaiter:
    """One held poll. Wake-ups, being superseded, the client going away and the end of the hold
    all set ``signal``."""

    __slots__ = ("disconnected", "expired", "poll_id", "seen", "signal", "superseded")

    def __init__(self) -> None:
        self.signal = PollSignal()
        self.superseded = False
        self.disconnected = False
        self.expired = False
        self.poll_id = 0  # announced to the other processes (a newer poll elsewhere supersedes this one)
        self.seen: SeenTail | None = None  # where the chat's log stood at the poll's last read (re-checks)

    def supersede(self) -> None:
        self.superseded = True
        self.signal.raise_()

    def disconnect(self) -> None:
        self.disconnected = True
        self.signal.raise_()

    def expire(self) -> None:
        self.expired = True
        self.signal.raise_()

    @property
    def finished(self) -> bool:
        return self.superseded or self.disconnected


class _ChatSlot:
    """Per-chat state of the polls and history reads in this process."""

    __slots__ = ("current", "lock", "polls", "readers", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # the delivery lock: read, write and commit of one answer
        self.current: PollWaiter | None = None  # the newest poll; an older one is superseded
        self.polls = 0  # polls in progress (the newest and superseded ones still finishing)
        self.readers: list[PollWaiter] = []  # history requests in progress
        self.users = 0  # everything using the slot: polls, history requests, lock holders


Announce = Callable[[str, int], None]


class CustomerPolls:
    def __init__(self, service: CustomerService, notifier: Notifier, hold_secs: float,
                 locks: ChatLocks | None = None, announce: Announce | None = None) -> None:
        """``locks``: the cross-process part of the delivery lock (none with one process);
        ``announce``: publishes a poll's start to the other processes (``on_notice`` receives it)."""
        self.service = service
        self.notifier = notifier
        self.hold_secs = hold_secs
        self.locks: ChatLocks = locks or LocalChatLocks()
        self._announce = announce
        self._slots: dict[str, _ChatSlot] = {}
        self._states = DeliveryStateReads(service.journal)
        self._held_count = 0  # polls in progress, kept as they start and end (the metrics read it at scrape)
        service.journal.metrics.count_held_polls(lambda: self._held_count)
        self._draining = False
        self._backlogs: OrderedDict[str, _Backlog] = OrderedDict()
        self._aborted: OrderedDict[str, None] = OrderedDict()  # chats whose last poll's client went away
        outcomes = service.journal.metrics.poll_outcomes
        self._outcomes = {outcome: outcomes.labels(outcome) for outcome in POLL_OUTCOMES}  # looked up once
        if notifier.recheck_secs is not None:
            notifier.on_recheck(self.recheck_tails)

    @property
    def held(self) -> int:
        """Polls in progress in this process."""
        return self._held_count

    @property
    def draining(self) -> bool:
        return self._draining

    def drain(self) -> None:
        """Shutdown: complete every held poll with ``{"events": []}`` and hold no new ones."""
        self._draining = True
        for slot in self._slots.values():
            if slot.current is not None:
                slot.current.supersede()

    def on_notice(self, topic: str, seq: int) -> None:
        """A bus listener: a poll of the chat started (here or on another process); an older one
        held here is completed."""
        if not topic.startswith("poll:"):
            return
        slot = self._slots.get(topic.removeprefix("poll:"))
        if slot is not None and slot.current is not None and slot.current.poll_id != seq:
            slot.current.supersede()

    def history_readers(self, chat_id: str) -> tuple[PollWaiter, ...]:
        """The history requests of a chat this process is answering (for tests and introspection)."""
        slot = self._slots.get(chat_id)
        return tuple(slot.readers) if slot else ()

    def _take_slot(self, chat_id: str) -> _ChatSlot:
        """The chat's slot, made if needed, with one more user (``_release_slot`` when done)."""
        slot = self._slots.get(chat_id)
        if slot is None:
            slot = self._slots[chat_id] = _ChatSlot()
        slot.users += 1
        return slot

    def _release_slot(self, chat_id: str, slot: _ChatSlot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[chat_id]

    @asynccontextmanager
    async def _slot(self, chat_id: str) -> AsyncIterator[_ChatSlot]:
        slot = self._take_slot(chat_id)
        try:
            yield slot
        finally:
            self._release_slot(chat_id, slot)

    def _count_outcome(self, outcome: str) -> None:
        self._outcomes[outcome].inc()

    @asynccontextmanager
    async def delivery_lock(self, chat_id: str) -> AsyncIterator[None]:
        """Hold the chat's delivery lock: no poll or history answer of the chat is read, written or
        committed meanwhile."""
        async with self._slot(chat_id) as slot, slot.lock, self.locks.hold(chat_id):
            yield

    def poll(self, identity: CustomerIdentity, chat_id: str, after: int | None, waiter: PollWaiter) -> HeldPoll:
        """The poll, as an async context manager: it waits for a batch and enters the block with the
        chat's lock held, so the write and commit are atomic with respect to other polls of the same
        chat. Raises ``NotFound`` for unknown or gone chats."""
        return HeldPoll(self, identity, chat_id, after, waiter)

    @asynccontextmanager
    async def history(self, identity: CustomerIdentity, chat_id: str,
                      waiter: PollWaiter, after: int | None = None) -> AsyncIterator[HistoryBatch]:
        """Read the chat's history under its delivery lock and yield it with the lock held, so
        that its write and commit are atomic with respect to the chat's polls. A web client's
        backlog answered less than ``RELOAD_WINDOW_SECS`` ago is left out. Raises ``NotFound``
        for unknown or gone chats.

        With an explicit ``after`` cursor it is a plain read of the history after it (each event
        with its ``seq``): nothing is left out and no server-side cursor moves, as for polls."""
        async with self._slot(chat_id) as slot:
            slot.readers.append(waiter)
            try:
                async with slot.lock, self.locks.hold(chat_id):
                    if after is not None:
                        read = await self.service.history(identity, chat_id, after=after)
                        yield HistoryBatch(chat_id, read.events, 0, self.service, lambda: None)
                        return
                    backlog = self._backlogs.get(chat_id)
                    now = self.service.journal.clock.now()
                    omit = (backlog.after, backlog.upto) if backlog and now - backlog.at <= RELOAD_WINDOW_SECS \
                        else None
                    read = await self.service.history(identity, chat_id, omit)
                    # mobile history stays a plain read (what an app does with it is unknown); for
                    # web there is nothing to move when everything up to the tail was polled already
                    tail = read.tail if identity.kind == WEB and read.tail > read.cursor else 0
                    yield HistoryBatch(chat_id, read.events, tail, self.service,
                                       functools.partial(self._forget_backlog, chat_id))
            finally:
                slot.readers.remove(waiter)

    async def recheck_tails(self) -> None:
        """The cross-process re-check (run by the notifier every ``recheck_secs``): ask the log,
        ``RECHECK_BATCH`` chats per query, which chats of the polls held here have new customer
        events or ended since their poll last read, and wake exactly those polls. A poll that has
        not read yet is left out: its first read is still to come."""
        held = [waiter.seen for slot in self._slots.values()
                if (waiter := slot.current) is not None and waiter.seen is not None]
        for start in range(0, len(held), RECHECK_BATCH):
            async with self.service.journal.read(snapshot=False) as tx:
                moved = await tx.sessions.tails_moved(held[start:start + RECHECK_BATCH])
            for chat_id in moved:
                slot = self._slots.get(chat_id)
                if slot is not None and slot.current is not None:
                    slot.current.signal.set()

    def _forget_backlog(self, chat_id: str) -> None:
        self._backlogs.pop(chat_id, None)

    def _remember_backlog(self, chat_id: str, after: int, upto: int) -> None:
        _remember(self._backlogs, chat_id, _Backlog(after, upto, self.service.journal.clock.now()))

    async def _read(self, identity: CustomerIdentity, chat_id: str, after: int | None) -> PollBatch:
        # the state with the other polls of this loop turn (one statement for all: state_reads)
        state = self.service.owned_state(identity, await self._states.get(chat_id))
        cursor = state.customer_cursor if after is None else after
        if self.service.is_gone(state, cursor):
            raise NotFound("chat is over")
        # customer_last_seq is the newest customer-audience event: nothing to read beyond it
        records: list[EventRecord] = []
        if cursor < state.customer_last_seq:
            async with self.service.journal.read(snapshot=False) as tx:
                records = await tx.events.read_after(chat_id, cursor, Audience.CUSTOMER, MAX_BATCH_EVENTS)
        names = visible_names(identity.kind)
        events: list[JsonObject] = []
        appended_at: list[float] = []
        for record in records:
            if record.name in names:
                events.append({**record.payload, "seq": record.seq} if after is not None else record.payload)
                appended_at.append(record.ts)
        last_seq = records[-1].seq if records else 0
        return PollBatch(chat_id, events, last_seq, self.service, from_seq=cursor, appended_at=appended_at,
                         seen=SeenTail(chat_id, state.customer_last_seq, state.terminal))



class HeldPoll:
    """One poll in progress (``CustomerPolls.poll``), an async context manager: ``async with``
    waits for its batch and enters the block with the chat's lock held (and, when there is
    something to deliver or commit, the chat's cross-process lock), releasing them and everything
    the poll registered on the way out. A plain class rather than a generator-based context
    manager: every poll makes one, and an idle poll's CPU is mostly such per-poll overhead."""

    __slots__ = ("_after", "_chat_id", "_identity", "_lease", "_locked", "_outcome", "_polls", "_slot",
                 "_timer", "_topic", "_waiter")

    def __init__(self, polls: CustomerPolls, identity: CustomerIdentity, chat_id: str, after: int | None,
                 waiter: PollWaiter) -> None:
        self._polls = polls
        self._identity = identity
        self._chat_id = chat_id
        self._after = after
        self._waiter = waiter
        self._slot: _ChatSlot | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._topic = ""
        self._locked = False  # the slot's lock is held
        self._lease: AbstractAsyncContextManager[Lease] | None = None  # the cross-process lock, while held
        self._outcome = "gone"

    async def __aenter__(self) -> PollBatch:
        self._begin()
        try:
            return await self._answer()
        except BaseException as error:
            await self._end(type(error), error, error.__traceback__)
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._end(exc_type, exc, tb)

    def _begin(self) -> None:
        """Become the chat's current poll (superseding an older one) and listen for wake-ups."""
        polls, chat_id, waiter = self._polls, self._chat_id, self._waiter
        slot = self._slot = polls._take_slot(chat_id)
        try:
            if slot.current is not None:
                slot.current.supersede()
            slot.current = waiter
            if polls._announce is not None:
                waiter.poll_id = secrets.randbits(62)
                polls._announce(poll_topic(chat_id), waiter.poll_id)
            self._topic = chat_topic(chat_id)
            polls.notifier.subscribe(self._topic, waiter.signal)
            # the end of the hold is a flag set by a timer, not a timeout that cancels the wait: no
            # exception on every idle poll, and no re-arming for "a hair left" when uvloop (which
            # rounds timers to the millisecond) fires it early
            self._timer = asyncio.get_running_loop().call_later(polls.hold_secs, waiter.expire)
        except BaseException:
            self._slot = None
            polls._release_slot(chat_id, slot)
            raise
        slot.polls += 1
        polls._held_count += 1

    async def _answer(self) -> PollBatch:
        """Wait for the batch to answer with; returns with the chat's lock held."""
        polls, chat_id, waiter, after, identity = self._polls, self._chat_id, self._waiter, self._after, self._identity
        slot = self._slot
        assert slot is not None
        waited = False
        pending = False  # the last read found events after the cursor (none this client decodes)
        while True:
            await slot.lock.acquire()
            self._locked = True
            news = waiter.signal.woken
            waiter.signal.clear()
            if waiter.finished or polls._draining:
                self._outcome = "disconnected" if waiter.disconnected else "drained" if polls._draining \
                    else "superseded"
                return PollBatch(chat_id, [], 0, polls.service)
            if waiter.expired and waited and not news and not pending:
                # the hold ran out and nothing woke the poll since its last read found nothing: no
                # read again (an append it missed is the next poll's, which reads before it waits)
                self._outcome = "empty"
                return PollBatch(chat_id, [], 0, polls.service)
            batch = await self._read_locked()
            pending = bool(batch.last_seq)
            waiter.seen = batch.seen
            # a batch of events this client cannot decode is not worth an answer: keep holding, and
            # let the final (empty) answer move the cursor past them
            if batch.events or waiter.expired:
                if batch.events and not waited and after is None and identity.kind == WEB \
                        and chat_id in polls._aborted:
                    batch.after_commit = functools.partial(polls._remember_backlog, chat_id, batch.from_seq,
                                                           batch.last_seq)
                self._outcome = "events" if batch.events else "empty"
                return batch
            await self._unlock(None, None, None)
            await waiter.signal.wait()
            waited = True

    async def _read_locked(self) -> PollBatch:
        """``CustomerPolls._read``, and when there is something to deliver or commit, under the
        chat's cross-process lock (read again once it is held: another process may have answered)."""
        polls = self._polls
        batch = await polls._read(self._identity, self._chat_id, self._after)
        if not batch.last_seq or not polls.locks.cross_process:
            return batch
        hold = polls.locks.hold(self._chat_id)
        lease = await hold.__aenter__()
        self._lease = hold
        batch = await polls._read(self._identity, self._chat_id, self._after)
        batch.lease = lease
        return batch

    async def _unlock(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                      tb: TracebackType | None) -> None:
        """Leave the cross-process lock (if held), then the chat's lock (if held)."""
        try:
            if self._lease is not None:
                hold, self._lease = self._lease, None
                await hold.__aexit__(exc_type, exc, tb)
        finally:
            if self._locked:
                self._locked = False
                assert self._slot is not None
                self._slot.lock.release()

    async def _end(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                   tb: TracebackType | None) -> None:
        try:
            await self._unlock(exc_type, exc, tb)
        finally:
            self._finish()

    def _finish(self) -> None:
        """The poll is over: count how it ended, remember an aborted one, stop listening."""
        polls, chat_id, waiter, slot = self._polls, self._chat_id, self._waiter, self._slot
        assert slot is not None and self._timer is not None
        slot.polls -= 1
        polls._held_count -= 1
        polls._count_outcome(self._outcome)
        if waiter.disconnected:
            # a page went away (an unload aborts its held poll): a backlog it got is not on the
            # next page's screen, and the next poll's backlog will be on it
            polls._forget_backlog(chat_id)
            _remember(polls._aborted, chat_id, None)
        else:
            polls._aborted.pop(chat_id, None)
        self._timer.cancel()
        polls.notifier.unsubscribe(self._topic, waiter.signal)
        if slot.current is waiter:
            slot.current = None
        polls._release_slot(chat_id, slot)


def _remember(table: OrderedDict[str, _T], chat_id: str, value: _T) -> None:
    """Store ``value`` as the newest entry, forgetting the oldest beyond ``MAX_REMEMBERED_CHATS``."""
    table.pop(chat_id, None)
    table[chat_id] = value
    while len(table) > MAX_REMEMBERED_CHATS:
        table.popitem(last=False)
