"""An offer's record, counter and log line, in one place: every offer made and every decision on
one (accepted, rejected, timed out, withdrawn) goes through here."""

from __future__ import annotations

from frontdesk.domain.journal import ActionContext
from frontdesk.storage.records import OfferRecord

_WORDS = {"timeout": "timed out"}


def _count(ctx: ActionContext, outcome: str) -> None:
    metrics = ctx.metrics
    if metrics is not None:
        ctx.after_commit(lambda: metrics.offers.labels(outcome).inc())


async def offer_made(ctx: ActionContext, offer: OfferRecord) -> None:
    await ctx.tx.offers.insert(offer)
    _count(ctx, "offered")
    ctx.note("chat offered", chat=offer.chat_id, agent=offer.agent_id, queue=offer.queue_id)


async def offer_decided(ctx: ActionContext, chat_id: str, agent_id: str, outcome: str) -> None:
    """``outcome``: accepted, rejected, timeout or withdrawn."""
    await ctx.tx.offers.decide(chat_id, agent_id, outcome, ctx.now)
    _count(ctx, outcome)
    ctx.note(f"offer {_WORDS.get(outcome, outcome)}", chat=chat_id, agent=agent_id)
