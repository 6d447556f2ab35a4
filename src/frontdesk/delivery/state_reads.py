"""The delivery state of the chats whose polls read in the same loop turn, in one statement.

Every long poll starts by reading its chat's delivery state (owner, server-side cursor, customer
tail, terminal: ``SessionStore.delivery_state``), and most polls of a busy server find nothing
newer and wait. One statement per poll costs a database round trip each on PostgreSQL (a pool
connection taken and given back, a query sent and parsed) and a statement each on SQLite.
``DeliveryStateReads.get`` instead lets the first request of a loop turn wait one turn while the
others of that turn join it, then read everything asked with one statement and answer each. A
poll thus waits at most one loop turn more than it would have for its own statement; on a busy
loop a turn holds many polls, on a quiet one the batch is a single chat.

The read starts after every request it answers was queued, so it sees at least what a poll's own
statement would have seen: the state as of a moment after the poll asked (the rule a woken poll
relies on: what woke it was committed before the wake-up). Each request has a future of its own
(a poll cancelled meanwhile cancels only its own), and a failed read fails every request of its
batch with the storage's error, which each poll answers as it would its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from frontdesk.domain.journal import Journal
from frontdesk.storage.records import DeliveryState

MAX_BATCH_CHATS = 1000  # chats read in one statement; a bigger turn's requests take several


class DeliveryStateReads:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._joining: list[tuple[str, asyncio.Future[DeliveryState | None]]] | None = None
        self._reading: set[asyncio.Task[None]] = set()  # hand-overs being read (kept from the collector)

    async def get(self, chat_id: str) -> DeliveryState | None:
        """The chat's delivery state (None: no such chat), read with the other requests of this
        loop turn. The first request of a turn leads: it yields one turn, so that the polls that
        run in it join, then reads for all of them in its own task (no task per batch)."""
        future: asyncio.Future[DeliveryState | None] = asyncio.get_running_loop().create_future()
        if self._joining is not None:
            self._joining.append((chat_id, future))
            return await future
        batch = self._joining = [(chat_id, future)]
        try:
            await asyncio.sleep(0)
        except BaseException:
            # the leader was cancelled while the others joined: a task of its own reads for them
            self._joining = None
            self._hand_over(batch[1:])
            raise
        self._joining = None
        try:
            await self._read_parts(batch)
        except BaseException:
            self._hand_over([item for item in batch[1:] if not item[1].done()])  # cancelled mid-read
            raise
        return future.result()

    def _hand_over(self, batch: list[tuple[str, asyncio.Future[DeliveryState | None]]]) -> None:
        if batch:
            task = asyncio.ensure_future(self._read(batch))
            self._reading.add(task)
            task.add_done_callback(self._reading.discard)

    async def _read(self, batch: Sequence[tuple[str, asyncio.Future[DeliveryState | None]]]) -> None:
        try:
            await self._read_parts(batch)
        finally:
            for _, future in batch:  # cancelled (shutdown): nothing will answer these
                if not future.done():
                    future.cancel()

    async def _read_parts(self, batch: Sequence[tuple[str, asyncio.Future[DeliveryState | None]]]) -> None:
        for start in range(0, len(batch), MAX_BATCH_CHATS):
            part = [(chat_id, future) for chat_id, future in batch[start:start + MAX_BATCH_CHATS]
                    if not future.done()]  # a poll cancelled meanwhile needs nothing
            if not part:
                continue
            try:
                async with self._journal.read(snapshot=False) as tx:
                    states = await tx.sessions.delivery_states(sorted({chat_id for chat_id, _ in part}))
            except Exception as error:  # every request of the batch gets it, as its own read would
                for _, future in part:
                    if not future.done():
                        future.set_exception(error)
                continue
            for chat_id, future in part:
                if not future.done():
                    future.set_result(states.get(chat_id))
