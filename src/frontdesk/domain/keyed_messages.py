"""An agent's message sent with the client's own key (``client_msg_id``) is sent once however often
the request is: a client that lost the answer (its connection dropped, the node it reached died)
sends the same request again and is answered with the message already sent.

The key is the client's, scoped to its party in the chat; the message keeps a server-made ``msg_id``
(the web widget takes small numeric ids for its own). A key reused for another text is refused
(``Conflict``) rather than answered with a message the client did not mean."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from frontdesk.domain.errors import Conflict
from frontdesk.domain.journal import ActionContext
from frontdesk.storage.records import KeyedMessageRecord


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What sending a message answers: its place in the chat's log and its id."""

    seq: int
    msg_id: str


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


async def sent_before(ctx: ActionContext, chat_id: str, party_id: str, client_msg_id: str,
                      text: str) -> SentMessage | None:
    """The message this party sent under ``client_msg_id`` (None when there is none yet)."""
    found = await ctx.tx.keyed_messages.get(chat_id, party_id, client_msg_id)
    if found is None:
        return None
    if found.text_digest != text_digest(text):
        raise Conflict("client_msg_id names another message of this chat")
    return SentMessage(found.seq, found.msg_id)


async def remember(ctx: ActionContext, chat_id: str, party_id: str, client_msg_id: str, text: str,
                   sent: SentMessage) -> None:
    """Store the key of a message sent in this action."""
    await ctx.tx.keyed_messages.insert(KeyedMessageRecord(chat_id, party_id, client_msg_id, sent.seq, sent.msg_id,
                                                          text_digest(text)))
