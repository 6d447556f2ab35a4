"""Server events of the Mobile/Web API: names, who may receive them, and their exact JSON shapes.

Type rules forced by the strict decoders (see docs/protocol-notes.md):
``timestamp`` and ``ewt`` are strings of digits (timestamps in epoch seconds); ``form_request_id``
and ``form_timeout`` are JSON integers; latitude/longitude are strings; no ``null`` where a
string is expected, except the keys Android requires to be present and allows to be null.
"""

from __future__ import annotations

import html
import re
from typing import Any, Final

JsonObject = dict[str, Any]

STATUS = "chat_session_status"
ENDED = "chat_session_ended"
PARTY_JOINED = "chat_session_party_joined"
PARTY_LEFT = "chat_session_party_left"
MESSAGE = "chat_session_message"
MESSAGE_DELIVERED = "chat_session_message_delivered"
MESSAGE_READ = "chat_session_message_read"
TYPING = "chat_session_typing"
NOT_TYPING = "chat_session_not_typing"
FORM_SHOW = "chat_session_form_show"
FORM_DATA = "chat_session_form_data"
FORM_CANCEL = "chat_form_data_cancel"
SECURE_FORM_DATA = "chat_session_secure_form_data"
SECURE_FORM_CANCEL = "chat_session_secure_form_cancel"
TIMEOUT_WARNING = "chat_session_timeout_warning"
INACTIVITY_TIMEOUT = "chat_session_inactivity_timeout"
SIGNALING = "chat_session_signaling"
FILE = "chat_session_file"
LOCATION = "chat_session_location"
NAVIGATION = "chat_session_navigation"
CASE_SET = "chat_session_case_set"
END = "chat_session_end"
DISCONNECT = "chat_session_disconnect"
COBROWSING_REJECTED = "chat_session_cobrowsing_rejected"
COBROWSING_STARTED = "chat_session_cobrowsing_started"
COBROWSING_ENDED = "chat_session_cobrowsing_ended"

# Event names the Android SDK 2.1 can decode: one other name fails the whole poll batch.
MOBILE_EVENT_NAMES: Final = frozenset(
    {
        MESSAGE, MESSAGE_DELIVERED, MESSAGE_READ, STATUS, PARTY_JOINED, PARTY_LEFT, TYPING, NOT_TYPING,
        LOCATION, TIMEOUT_WARNING, INACTIVITY_TIMEOUT, ENDED, DISCONNECT, END, FILE, FORM_SHOW, CASE_SET,
        SIGNALING,
    }
)

# Event names the web widgets (v4 and 3.15) render or tolerate in polls and history.
WEB_EVENT_NAMES: Final = MOBILE_EVENT_NAMES | frozenset(
    {NAVIGATION, FORM_DATA, FORM_CANCEL, SECURE_FORM_DATA, SECURE_FORM_CANCEL, COBROWSING_REJECTED,
     COBROWSING_STARTED, COBROWSING_ENDED}
)

SESSION_STATES: Final = ("ivr", "queued", "connecting", "connected", "completed", "failed")
PARTY_TYPES: Final = ("scenario", "external", "internal")
SIGNALING_TYPES: Final = frozenset(
    {"REQUEST_CALL", "END_CALL", "CALL_REJECTED", "ANSWER_CALL", "OFFER_CALL", "ICE_CANDIDATE"}
)

_TAG = re.compile(r"<[^>]*>")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def ts_string(epoch_secs: float) -> str:
    """A timestamp as the clients want it: a string of whole epoch seconds."""
    return str(int(epoch_secs))


def html_from_text(text: str) -> str:
    """Plain text → the HTML ``msg`` the widgets render (escaped, newlines as ``<br>``)."""
    return html.escape(text, quote=False).replace("\r\n", "\n").replace("\n", "<br>")


def text_from_html(markup: str) -> str:
    """HTML ``msg`` → the plain ``msg_text`` rendition (``<br>`` as newline, tags dropped)."""
    return html.unescape(_TAG.sub("", _BR.sub("\n", markup)))


def status(state: str, ewt_secs: int) -> JsonObject:
    return {"event": STATUS, "state": state, "ewt": str(max(0, int(ewt_secs)))}


def ended(ts: float) -> JsonObject:
    return {"event": ENDED, "timestamp": ts_string(ts)}


def party_joined(party_id: str, party_type: str, first_name: str, last_name: str, display_name: str,
                 ts: float) -> JsonObject:
    return {"event": PARTY_JOINED, "party_id": party_id, "first_name": first_name, "last_name": last_name,
            "display_name": display_name, "type": party_type, "timestamp": ts_string(ts)}


def party_left(party_id: str, party_type: str, ts: float) -> JsonObject:
    return {"event": PARTY_LEFT, "party_id": party_id, "type": party_type, "timestamp": ts_string(ts)}


def message(party_id: str, msg_id: str, msg_html: str, msg_text: str, ts: float) -> JsonObject:
    return {"event": MESSAGE, "msg_id": msg_id, "party_id": party_id, "msg": msg_html, "msg_text": msg_text,
            "timestamp": ts_string(ts)}


def receipt(kind: str, party_id: str, ref_msg_id: str, ts: float) -> JsonObject:
    name = MESSAGE_DELIVERED if kind == "delivered" else MESSAGE_READ
    return {"event": name, "party_id": party_id, "ref_msg_id": ref_msg_id, "timestamp": ts_string(ts)}


def typing(party_id: str, ts: float, preview: str | None = None) -> JsonObject:
    event: JsonObject = {"event": TYPING, "party_id": party_id, "timestamp": ts_string(ts)}
    if preview is not None:
        event["msg"] = preview
    return event


def not_typing(party_id: str, ts: float) -> JsonObject:
    return {"event": NOT_TYPING, "party_id": party_id, "timestamp": ts_string(ts)}


def form_show(party_id: str, form_request_id: int, form_name: str, form_timeout_secs: int, channel: str,
              ts: float) -> JsonObject:
    return {"event": FORM_SHOW, "party_id": party_id, "form_request_id": int(form_request_id),
            "form_name": form_name, "form_timeout": int(form_timeout_secs), "channel": channel,
            "timestamp": ts_string(ts)}


def timeout_warning(msg: str, ts: float) -> JsonObject:
    return {"event": TIMEOUT_WARNING, "msg": msg, "timestamp": ts_string(ts)}


def inactivity_timeout(msg: str, ts: float) -> JsonObject:
    return {"event": INACTIVITY_TIMEOUT, "msg": msg, "timestamp": ts_string(ts)}


def file(party_id: str, msg_id: str, file_id: str, file_name: str, file_type: str, ts: float) -> JsonObject:
    return {"event": FILE, "party_id": party_id, "msg_id": msg_id, "file_id": file_id, "file_name": file_name,
            "file_type": file_type, "timestamp": ts_string(ts)}


def location(party_id: str, msg_id: str, latitude: str, longitude: str, url: str | None,
             ts: float) -> JsonObject:
    return {"event": LOCATION, "party_id": party_id, "msg_id": msg_id, "latitude": latitude,
            "longitude": longitude, "url": url, "timestamp": ts_string(ts)}


def signaling(party_id: str, msg_id: str, data: JsonObject, ts: float,
              destination_party_id: str | None = None) -> JsonObject:
    event: JsonObject = {"event": SIGNALING, "party_id": party_id, "msg_id": msg_id, "data": data,
                         "timestamp": ts_string(ts)}
    if destination_party_id is not None:
        event["destination_party_id"] = destination_party_id
    return event


def case_set(case_id: str, ts: float) -> JsonObject:
    return {"event": CASE_SET, "case_id": case_id, "timestamp": ts_string(ts)}


def file_type_for(content_type: str) -> str:
    """``image`` for ``image/*`` content, ``attachment`` otherwise (the widget's rule)."""
    return "image" if content_type.startswith("image/") else "attachment"
