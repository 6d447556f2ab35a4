"""The applied configuration of a deployment, kept in the database: every process runs it, and a
restart resumes it (docs/operations.md, "Running several processes").

Applying a configuration (admin API, reload, a start with a changed file) stores it as the next
version, in the same transaction publishes a ``config`` wake-up carrying that version, and every
other process loads it when it hears of it or, at the latest, at its next look
(``frontdesk.reload.follow_applied_config``). What the document means is ``frontdesk.settings``'
business; here it is text.
"""

from __future__ import annotations

import hashlib

import orjson

from frontdesk.bus.interfaces import CONFIG_TOPIC
from frontdesk.domain.journal import Journal, retry_conflicts
from frontdesk.storage.records import AppliedConfigRecord, JsonObject


def digest(document: JsonObject) -> str:
    """A digest of a configuration document: equal documents, equal digests."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def stored_version(journal: Journal) -> int:
    async with journal.read(snapshot=False) as tx:
        return await tx.applied_config.version()


async def stored(journal: Journal) -> AppliedConfigRecord | None:
    async with journal.read() as tx:
        return await tx.applied_config.get()


@retry_conflicts
async def store(journal: Journal, document: JsonObject, file_digest: str | None = None) -> AppliedConfigRecord:
    """Store ``document`` as the next version and tell every process; ``file_digest`` None keeps the
    stored one (a change through the admin API leaves the file as it was)."""
    async with journal.action() as ctx:
        current = await ctx.tx.applied_config.get()
        if file_digest is None:
            file_digest = current.file_digest if current else ""
        record = AppliedConfigRecord(version=(current.version if current else 0) + 1,
                                     document=orjson.dumps(document).decode(), file_digest=file_digest,
                                     applied_at=ctx.now)
        await ctx.tx.applied_config.put(record)
        ctx.wake(CONFIG_TOPIC, record.version)
    return record
