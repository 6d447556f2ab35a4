"""Validation of the client events a customer POSTs to ``chats/{chatId}/events``.

A batch is validated completely before anything is applied, so one bad event leaves the session
untouched. An event whose name this server does not know is accepted and ignored (newer widgets
send names older servers never heard of): it is counted, never validated or applied.
Client-supplied ``party_id`` and ``timestamp`` are ignored (Android sends a random UUID, iOS a
float of seconds since 2001); ``message_id`` is accepted for ``msg_id`` and numeric
ids are kept as their decimal text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from frontdesk.protocol import events as ev
from frontdesk.protocol.errors import ApiError, ErrorCode

JsonObject = dict[str, Any]

MAX_EVENTS_PER_BATCH = 100  # the clients send one event per POST; this bounds the work of one request
MAX_TEXT_CHARS = 32_000  # longest message or typing preview accepted


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """One validated client event: its name and its normalised fields (without ``event``)."""

    name: str
    fields: JsonObject


@dataclass(frozen=True, slots=True)
class ClientBatch:
    """A validated Send Events body: the known events in order, and how many unknown ones were
    left out."""

    events: list[ClientEvent]
    ignored: int = 0


def _bad(index: int, what: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_JSON, f"Error decoding JSON request body: events[{index}]: {what}")


def _id_text(value: Any, index: int, field: str, required: bool = False) -> str:
    if value is None:
        if required:
            raise _bad(index, f"'{field}' is required")
        return ""
    if isinstance(value, bool):
        raise _bad(index, f"'{field}' must be a string")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(index, f"'{field}' must be a finite number")
        return repr(value)
    if isinstance(value, str):
        if len(value) > 512:
            raise _bad(index, f"'{field}' is longer than 512 characters")
        if required and not value:
            raise _bad(index, f"'{field}' must not be empty")
        return value
    raise _bad(index, f"'{field}' must be a string")


def _text(value: Any, index: int, field: str, required: bool = False) -> str:
    if value is None:
        if required:
            raise _bad(index, f"'{field}' is required")
        return ""
    if not isinstance(value, str):
        raise _bad(index, f"'{field}' must be a string")
    if len(value) > MAX_TEXT_CHARS:
        raise _bad(index, f"'{field}' is longer than {MAX_TEXT_CHARS} characters")
    return value


def _coordinate(value: Any, index: int, field: str, limit: float) -> str:
    if isinstance(value, bool) or value is None:
        raise _bad(index, f"'{field}' must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(index, f"'{field}' must be a number") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise _bad(index, f"'{field}' is out of range")
    return value if isinstance(value, str) else repr(number)


def _form_request_id(value: Any, index: int) -> int:
    if isinstance(value, bool):
        raise _bad(index, "'form_request_id' must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise _bad(index, "'form_request_id' must be an integer")


def _msg_id(raw: JsonObject, index: int) -> str:
    value = raw.get("msg_id", raw.get("message_id"))
    return _id_text(value, index, "msg_id")


def _message(raw: JsonObject, i: int) -> JsonObject:
    msg = raw.get("msg")
    if msg is None and raw.get("msg_text") is not None:
        msg = ev.html_from_text(_text(raw.get("msg_text"), i, "msg_text"))
    msg_html = _text(msg, i, "msg", required=True)
    msg_text = _text(raw.get("msg_text"), i, "msg_text") if raw.get("msg_text") is not None else None
    return {"msg_id": _msg_id(raw, i), "msg": msg_html,
            "msg_text": msg_text if msg_text is not None else ev.text_from_html(msg_html)}


def _receipt(raw: JsonObject, i: int) -> JsonObject:
    ref = raw.get("ref_msg_id", raw.get("msg_id"))
    return {"ref_msg_id": _id_text(ref, i, "ref_msg_id", required=True)}


def _typing(raw: JsonObject, i: int) -> JsonObject:
    preview = raw.get("msg")
    return {"msg": _text(preview, i, "msg")} if preview is not None else {}


def _nothing(raw: JsonObject, i: int) -> JsonObject:
    return {}


def _form_data(raw: JsonObject, i: int) -> JsonObject:
    """``data`` is the answer object; the web widget also sends a string there: the typed text of
    a text form (``form_name ""``), or why it could not show a named form ("Form not found").
    A string arrives as ``text`` with ``data`` None; the domain, which knows the form, decides."""
    data = raw.get("data", {})
    text: str | None = None
    if data is None:
        data = {}
    if isinstance(data, str):
        text, data = _text(data, i, "data"), None
    elif not isinstance(data, dict):
        raise _bad(i, "'data' must be an object or a string")
    return {"form_request_id": _form_request_id(raw.get("form_request_id"), i),
            "form_name": _text(raw.get("form_name"), i, "form_name"), "data": data, "text": text}


def _form_cancel(raw: JsonObject, i: int) -> JsonObject:
    return {"form_request_id": _form_request_id(raw.get("form_request_id"), i),
            "form_name": _text(raw.get("form_name"), i, "form_name")}


def _signaling(raw: JsonObject, i: int) -> JsonObject:
    data = raw.get("data")
    if not isinstance(data, dict):
        raise _bad(i, "'data' must be an object")
    return {"msg_id": _msg_id(raw, i), "data": data,
            "destination_party_id": _id_text(raw.get("destination_party_id"), i, "destination_party_id")}


def _file(raw: JsonObject, i: int) -> JsonObject:
    file_type = _text(raw.get("file_type"), i, "file_type")
    if file_type not in ("", "image", "attachment"):
        raise _bad(i, "'file_type' must be 'image' or 'attachment'")
    return {"msg_id": _msg_id(raw, i), "file_id": _id_text(raw.get("file_id"), i, "file_id", required=True),
            "file_type": file_type, "file_name": _text(raw.get("file_name"), i, "file_name")}


def _location(raw: JsonObject, i: int) -> JsonObject:
    url = raw.get("url")
    return {"msg_id": _msg_id(raw, i), "latitude": _coordinate(raw.get("latitude"), i, "latitude", 90.0),
            "longitude": _coordinate(raw.get("longitude"), i, "longitude", 180.0),
            "url": _text(url, i, "url") if url is not None else None}


def _navigation(raw: JsonObject, i: int) -> JsonObject:
    return {"msg_id": _msg_id(raw, i), "page": _text(raw.get("page"), i, "page"),
            "title": _text(raw.get("title"), i, "title")}


def _cobrowsing(raw: JsonObject, i: int) -> JsonObject:
    return {key: _text(raw.get(key), i, key) for key in ("provider_type", "cobrowsing_url", "cobrowsing_id")
            if raw.get(key) is not None}


_PARSERS: dict[str, Callable[[JsonObject, int], JsonObject]] = {
    ev.MESSAGE: _message,
    ev.MESSAGE_DELIVERED: _receipt,
    ev.MESSAGE_READ: _receipt,
    ev.TYPING: _typing,
    ev.NOT_TYPING: _nothing,
    ev.FORM_DATA: _form_data,
    ev.FORM_CANCEL: _form_cancel,
    ev.SECURE_FORM_DATA: _form_data,
    ev.SECURE_FORM_CANCEL: _form_cancel,
    ev.END: _nothing,
    ev.DISCONNECT: _nothing,
    ev.SIGNALING: _signaling,
    ev.FILE: _file,
    ev.LOCATION: _location,
    ev.NAVIGATION: _navigation,
    ev.COBROWSING_REJECTED: _cobrowsing,
    ev.COBROWSING_STARTED: _cobrowsing,
    ev.COBROWSING_ENDED: _cobrowsing,
}

CLIENT_EVENT_NAMES = frozenset(_PARSERS)


def parse_client_events(body: Any) -> ClientBatch:
    """Validate a decoded Send Events body ``{"events": [...]}``; raise ``5003`` on any defect of
    the body or of a known event. Events with an unknown (string) name are skipped and counted."""
    if not isinstance(body, dict):
        raise ApiError(ErrorCode.INVALID_JSON, "Error decoding JSON request body: expected an object")
    raw_events = body.get("events")
    if not isinstance(raw_events, list):
        raise ApiError(ErrorCode.INVALID_JSON, "Error decoding JSON request body: 'events' must be an array")
    if len(raw_events) > MAX_EVENTS_PER_BATCH:
        raise ApiError(ErrorCode.INVALID_JSON,
                       f"Error decoding JSON request body: more than {MAX_EVENTS_PER_BATCH} events")
    parsed: list[ClientEvent] = []
    ignored = 0
    for index, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            raise _bad(index, "each event must be an object")
        name = raw.get("event")
        if not isinstance(name, str):
            raise _bad(index, "'event' must be a string")
        parser = _PARSERS.get(name)
        if parser is None:
            ignored += 1
            continue
        parsed.append(ClientEvent(name=name, fields=parser(raw, index)))
    return ClientBatch(parsed, ignored)
