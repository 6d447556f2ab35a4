"""Showing a form to the customer: the one way a form request is made, by the scenario's bot or by
an agent."""

from __future__ import annotations

from frontdesk.domain.journal import ActionContext, to_everyone
from frontdesk.domain.lifecycle import FORM_TIMEOUT_PREFIX
from frontdesk.protocol import events as ev
from frontdesk.storage.records import FormRequestRecord, PartyRecord, SessionRecord, TimerRecord


async def show_form(ctx: ActionContext, session: SessionRecord, party: PartyRecord, form_name: str,
                    timeout_secs: int, origin: str) -> int:
    """``chat_session_form_show`` from ``party``, a pending form request, and its timeout timer
    (``form_timeout:<id>``); returns the ``form_request_id`` (the sequence number of the
    ``form_show`` event: unique in the chat and an integer, as the clients require)."""
    form_request_id = session.last_seq + 1
    channel = "web" if session.client_kind == "web" else "mobile"
    await ctx.emit(session, to_everyone(ev.form_show(party.party_id, form_request_id, form_name, timeout_secs,
                                                     channel, ctx.now), origin))
    due = ctx.now + timeout_secs
    await ctx.tx.forms.insert(FormRequestRecord(session.chat_id, form_request_id, form_name, party.party_id,
                                                "pending", due))
    await ctx.tx.timers.set(TimerRecord(session.chat_id, f"{FORM_TIMEOUT_PREFIX}{form_request_id}", due,
                                        {"form_request_id": form_request_id}))
    return form_request_id
