"""What the metrics' gauges read from storage: queue lengths and waits at scrape time (from the
per-queue counters and the head of each queue: one indexed read each, however long the queue),
and the live chats per state once at start (the journal keeps the counts from then on)."""

from __future__ import annotations

from frontdesk.domain.config import ContactCenterConfig
from frontdesk.domain.journal import Journal


async def queue_rows(journal: Journal, config: ContactCenterConfig) -> list[tuple[str, str, int, float]]:
    """``(tenant, queue, chats waiting, how long the next in line has waited)`` per configured queue."""
    rows = []
    now = journal.clock.now()
    async with journal.read() as tx:
        for tenant in config.tenants.values():
            for queue_id in tenant.queues:
                length = await tx.sessions.count_queued(tenant.name, queue_id)
                head = await tx.sessions.list_queued(tenant.name, queue_id, 1) if length else []
                since = (head[0].queued_at or head[0].created_at) if head else now
                rows.append((tenant.name, queue_id, length, max(0.0, now - since)))
    return rows


async def live_chats(journal: Journal, config: ContactCenterConfig) -> list[tuple[tuple[str, str], int]]:
    """``((tenant, state), count)`` of the chats not yet ended (read once, at start)."""
    counts: dict[tuple[str, str], int] = {}
    async with journal.read() as tx:
        for tenant in config.tenants:
            for session in await tx.sessions.list_active(tenant):
                key = (tenant, session.state)
                counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items())
