"""The customer long poll: exactly-once, in-order delivery of a session's customer events.

Contract (docs/event-delivery.md):
* A poll holds up to ``hold_secs`` and answers ``{"events": []}`` when nothing arrives.
* A newer poll for the same chat completes the older one with ``{"events": []}``.
* A batch is read, written and committed under a per-chat lock. The server-side cursor moves
  only after the HTTP layer reports the write completed with the client still connected, so an
  aborted poll loses nothing: its events go to the next poll.
* With an explicit ``after`` cursor (frontdesk's own clients) the client's cursor wins.
* A terminal chat whose customer events were all delivered answers 5005.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from frontdesk.bus.interfaces import chat_topic
from frontdesk.delivery.notifier import Notifier
from frontdesk.domain.customers import CustomerIdentity, CustomerService, visible_names
from frontdesk.domain.errors import NotFound
from frontdesk.storage.records import Audience, JsonObject

MAX_BATCH_EVENTS = 500  # events per poll response; the rest go to the next poll at once


@dataclass(slots=True)
class PollBatch:
    """Events ready to write. ``commit()`` after a completed write moves the cursor."""

    chat_id: str
    events: list[JsonObject]
    last_seq: int
    _service: CustomerService
    committed: bool = field(default=False)

    def withheld(self) -> PollBatch:
        """The same poll answered with nothing and committing nothing: its events stay queued."""
        return PollBatch(self.chat_id, [], 0, self._service)

    async def commit(self) -> None:
        if self.last_seq and not self.committed:
            self.committed = True
            await self._service.acknowledge(self.chat_id, self.last_seq)


class PollWaiter:
    """One held poll. Wake-ups, being superseded, the client going away and the end of the hold
    all set ``signal``."""

    __slots__ = ("disconnected", "expired", "signal", "superseded")

    def __init__(self) -> None:
        self.signal = asyncio.Event()
        self.superseded = False
        self.disconnected = False
        self.expired = False

    def disconnect(self) -> None:
        self.disconnected = True
        self.signal.set()

    def expire(self) -> None:
        self.expired = True
        self.signal.set()

    @property
    def finished(self) -> bool:
        return self.superseded or self.disconnected


class _ChatSlot:
    """Per-chat state of the polls held by this process."""

    __slots__ = ("current", "lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.current: PollWaiter | None = None  # the newest poll; an older one is superseded
        self.users = 0


class CustomerPolls:
    def __init__(self, service: CustomerService, notifier: Notifier, hold_secs: float) -> None:
        self.service = service
        self.notifier = notifier
        self.hold_secs = hold_secs
        self._slots: dict[str, _ChatSlot] = {}
        self._draining = False

    @property
    def held(self) -> int:
        return sum(slot.users for slot in self._slots.values())

    def drain(self) -> None:
        """Shutdown: complete every held poll with ``{"events": []}`` and hold no new ones."""
        self._draining = True
        for slot in self._slots.values():
            if slot.current is not None:
                slot.current.superseded = True
                slot.current.signal.set()

    @asynccontextmanager
    async def poll(self, identity: CustomerIdentity, chat_id: str, after: int | None,
                   waiter: PollWaiter) -> AsyncIterator[PollBatch]:
        """Wait for a batch; yields it with the chat's lock held so the write and commit are atomic
        with respect to other polls of the same chat. Raises ``NotFound`` for unknown or gone chats."""
        slot = self._slots.get(chat_id)
        if slot is None:
            slot = self._slots[chat_id] = _ChatSlot()
        slot.users += 1
        if slot.current is not None:
            slot.current.superseded = True
            slot.current.signal.set()
        slot.current = waiter
        topic = chat_topic(chat_id)
        self.notifier.subscribe(topic, waiter.signal)
        # the end of the hold is a flag set by a timer, not a timeout that cancels the wait: no
        # exception on every idle poll, and no re-arming for "a hair left" when uvloop (which
        # rounds timers to the millisecond) fires it early
        hold_timer = asyncio.get_running_loop().call_later(self.hold_secs, waiter.expire)
        try:
            while True:
                async with slot.lock:
                    waiter.signal.clear()
                    if waiter.finished or self._draining:
                        yield PollBatch(chat_id, [], 0, self.service)
                        return
                    batch = await self._read(identity, chat_id, after)
                    # a batch of events this client cannot decode is not worth an answer: keep
                    # holding, and let the final (empty) answer move the cursor past them
                    if batch.events or waiter.expired:
                        yield batch
                        return
                await waiter.signal.wait()
        finally:
            hold_timer.cancel()
            self.notifier.unsubscribe(topic, waiter.signal)
            if slot.current is waiter:
                slot.current = None
            slot.users -= 1
            if slot.users == 0:
                del self._slots[chat_id]

    async def _read(self, identity: CustomerIdentity, chat_id: str, after: int | None) -> PollBatch:
        async with self.service.journal.read() as tx:
            session = await self.service.load_owned(tx, identity, chat_id)
            cursor = session.customer_cursor if after is None else after
            if self.service.is_gone(session, cursor):
                raise NotFound("chat is over")
            # customer_last_seq is the newest customer-audience event: nothing to read beyond it
            records = (await tx.events.read_after(chat_id, cursor, Audience.CUSTOMER, MAX_BATCH_EVENTS)
                       if cursor < session.customer_last_seq else [])
        names = visible_names(identity.kind)
        events: list[JsonObject] = []
        for record in records:
            if record.name in names:
                events.append({**record.payload, "seq": record.seq} if after is not None else record.payload)
        last_seq = records[-1].seq if records else 0
        return PollBatch(chat_id, events, last_seq, self.service)
