"""Messages customers left when no agent could take their chat (the scenario's ``leave_message``
step stores them); agents of the tenant list them and mark them handled."""

from __future__ import annotations

from frontdesk.domain.errors import Conflict, NotFound
from frontdesk.domain.journal import Journal, retry_conflicts
from frontdesk.storage.records import LeftMessageRecord


class LeftMessageService:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def list(self, tenant: str, include_handled: bool) -> list[LeftMessageRecord]:
        async with self.journal.read() as tx:
            return await tx.left_messages.list_for_tenant(tenant, include_handled)

    @retry_conflicts
    async def mark_handled(self, tenant: str, agent_id: str, message_id: str) -> LeftMessageRecord:
        async with self.journal.action() as ctx:
            message = await ctx.tx.left_messages.get(message_id)
            if message is None or message.tenant != tenant:
                raise NotFound("no such message")
            if message.handled_at is not None:
                raise Conflict(f"already handled by {message.handled_by}")
            message.handled_by, message.handled_at = agent_id, ctx.now
            await ctx.tx.left_messages.update(message)
            ctx.wake_tenant(tenant)
            return message
