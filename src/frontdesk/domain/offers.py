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


async def offer_made(ctx: ActionContext, offer: OfferRecord, accepted: bool = False) -> None:
    """``offer`` is pending; ``accepted``: the agent takes it at once (an auto-accepting agent), and
    it is stored decided (one statement), counted and logged as offered, then accepted."""
    stored = OfferRecord(offer.chat_id, offer.agent_id, offer.tenant, offer.queue_id, offer.offered_at,
                         "accepted", ctx.now) if accepted else offer
    await ctx.tx.offers.insert(stored)
    _count(ctx, "offered")
    ctx.note("chat offered", chat=offer.chat_id, agent=offer.agent_id, queue=offer.queue_id)
    if accepted:
        _decided(ctx, offer.chat_id, offer.agent_id, "accepted")


async def offer_decided(ctx: ActionContext, chat_id: str, agent_id: str, outcome: str) -> None:
    """``outcome``: accepted, rejected, timeout or withdrawn."""
    await ctx.tx.offers.decide(chat_id, agent_id, outcome, ctx.now)
    _decided(ctx, chat_id, agent_id, outcome)


def _decided(ctx: ActionContext, chat_id: str, agent_id: str, outcome: str) -> None:
    _count(ctx, outcome)
    ctx.note(f"offer {_WORDS.get(outcome, outcome)}", chat=chat_id, agent=agent_id)
