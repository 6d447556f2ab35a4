"""Checkers that mimic the strict decoders of the real mobile clients.

Written from the rules in docs/protocol-notes.md: the Android SDK 2.1 (kotlinx-serialization 1.1 with
``isLenient``: a nullable key without default is still a *required* key), the iOS SDK (Swift
``JSONDecoder`` whose date strategy takes only a string of epoch seconds) and the protocol's typing
rules (strings of digits for timestamps and ewt). Each ``check_*`` returns the list of problems a
client would have with the JSON it is given; an empty list means the client decodes it.

They are deliberately independent of ``frontdesk.protocol``: the tests compare the server against
these rules, not against itself.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from frontdesk.protocol.events import MOBILE_EVENT_NAMES

JsonObject = dict[str, Any]

# Android SDK 2.1 ``ContactCenterEvent`` @SerialName values (docs/protocol-notes.md); anything else fails the
# whole poll batch. The SDK-internal names no server sends are included, as the SDK decodes them.
ANDROID_EVENT_NAMES = frozenset({
    "chat_session_message", "chat_session_message_delivered", "chat_session_message_read",
    "chat_session_message_status", "chat_session_party_joined", "chat_session_party_left",
    "chat_session_typing", "chat_session_not_typing", "chat_session_location", "chat_session_timeout_warning",
    "chat_session_inactivity_timeout", "chat_session_ended", "chat_session_disconnect", "chat_session_end",
    "chat_session_file", "chat_session_form_submit", "chat_session_case_set", "chat_session_status",
    "chat_session_signaling", "chat_session_form_show", "chat_session_unknown_event",
})

# iOS (upstream dev/WebRTC) known event types; others are skipped one by one (not an error).
IOS_EVENT_NAMES = frozenset({
    "chat_session_status", "chat_session_case_set", "chat_session_message", "chat_session_message_delivered",
    "chat_session_message_read", "chat_session_party_joined", "chat_session_party_left", "chat_session_typing",
    "chat_session_not_typing", "chat_session_location", "chat_session_timeout_warning",
    "chat_session_inactivity_timeout", "chat_session_ended", "chat_session_disconnect", "chat_session_end",
    "chat_session_file", "chat_session_signaling",
})

SESSION_STATES = frozenset({"queued", "connecting", "connected", "ivr", "failed", "completed"})
PARTY_TYPES = frozenset({"scenario", "external", "internal"})
SIGNALING_TYPES = frozenset({"REQUEST_CALL", "END_CALL", "CALL_REJECTED", "ANSWER_CALL", "OFFER_CALL",
                             "ICE_CANDIDATE"})

# Keys Android declares nullable without a default: they must be present but may be null.
ANDROID_NULLABLE_REQUIRED: dict[str, frozenset[str]] = {
    "chat_session_message": frozenset({"party_id"}),
    "chat_session_message_delivered": frozenset({"party_id"}),
    "chat_session_message_read": frozenset({"party_id"}),
    "chat_session_typing": frozenset({"party_id"}),
    "chat_session_not_typing": frozenset({"party_id"}),
    "chat_session_location": frozenset({"party_id", "url"}),
}

EPOCH_SECONDS = re.compile(r"[0-9]{10}")
DIGITS = re.compile(r"[0-9]+")


def _is_str(value: Any) -> TypeGuard[str]:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parses_as_float(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _name(event: JsonObject) -> str:
    name = event.get("event")
    return name if isinstance(name, str) else ""


# ---- Android ------------------------------------------------------------------------------------------


def _android_string(event: JsonObject, key: str, problems: list[str], nullable: bool = False) -> None:
    """A required key holding a string. (kotlinx ``isLenient`` would also take an unquoted number; the
    server promises strings, so a number is reported.)"""
    if key not in event:
        problems.append(f"android: {_name(event)}: missing required key '{key}'")
        return
    value = event[key]
    if value is None:
        if not nullable:
            problems.append(f"android: {_name(event)}: '{key}' is null")
        return
    if not _is_str(value):
        problems.append(f"android: {_name(event)}: '{key}' must be a string, got {type(value).__name__}")


def _android_int(event: JsonObject, key: str, problems: list[str]) -> None:
    value = event.get(key)
    if key not in event:
        problems.append(f"android: {_name(event)}: missing required key '{key}'")
    elif not _is_int(value):
        problems.append(f"android: {_name(event)}: '{key}' must be a JSON integer, got {value!r}")


def check_android(event: Any) -> list[str]:
    """Problems the Android SDK 2.1 decoder has with one server event."""
    if not isinstance(event, dict):
        return ["android: an event must be a JSON object"]
    name = _name(event)
    if name not in ANDROID_EVENT_NAMES:
        return [f"android: unknown event name {event.get('event')!r} breaks the whole batch"]
    problems: list[str] = []
    nullable = ANDROID_NULLABLE_REQUIRED.get(name, frozenset())
    # every timestamp is a Long: a number or (lenient) a string of digits
    if "timestamp" in event:
        ts = event["timestamp"]
        if not (_is_int(ts) or (_is_str(ts) and DIGITS.fullmatch(ts))):
            problems.append(f"android: {name}: timestamp {ts!r} is not a Long")
    # String fields declared non-null with a default: may be absent, never null
    for key in ("first_name", "last_name", "display_name", "msg_id", "msg_text", "case_id", "phone_number"):
        if key in event and event[key] is None and key not in nullable:
            problems.append(f"android: {name}: '{key}' is null")
    if name == "chat_session_status":
        _android_string(event, "ewt", problems)
        if event.get("state") not in SESSION_STATES:
            problems.append(f"android: {name}: state {event.get('state')!r} is not in the SDK enum")
    elif name == "chat_session_party_joined":
        if event.get("type") not in PARTY_TYPES:
            problems.append(f"android: {name}: type {event.get('type')!r} is not scenario|external|internal")
        if "party_id" in event:
            _android_string(event, "party_id", problems)
    elif name == "chat_session_party_left":
        _android_string(event, "party_id", problems)
    elif name == "chat_session_message":
        _android_string(event, "party_id", problems, nullable=True)
        _android_string(event, "msg", problems)
    elif name in ("chat_session_typing", "chat_session_not_typing"):
        _android_string(event, "party_id", problems, nullable=True)
    elif name in ("chat_session_timeout_warning", "chat_session_inactivity_timeout"):
        _android_string(event, "msg", problems)
    elif name == "chat_session_file":
        for key in ("file_name", "file_id", "file_type", "party_id"):
            _android_string(event, key, problems)
    elif name == "chat_session_form_show":
        _android_string(event, "channel", problems)
        _android_string(event, "form_name", problems)
        _android_int(event, "form_request_id", problems)
        _android_int(event, "form_timeout", problems)
        if not _is_str(event.get("timestamp")):
            problems.append(f"android: {name}: timestamp must be a string, got {event.get('timestamp')!r}")
    elif name == "chat_session_location":
        _android_string(event, "party_id", problems, nullable=True)
        _android_string(event, "url", problems, nullable=True)
        for key in ("latitude", "longitude"):
            if not _parses_as_float(event.get(key)):
                problems.append(f"android: {name}: {key} {event.get(key)!r} is not a float")
    elif name == "chat_session_case_set":
        _android_string(event, "case_id", problems)
    elif name in ("chat_session_message_delivered", "chat_session_message_read"):
        _android_string(event, "ref_msg_id", problems)
        _android_string(event, "party_id", problems, nullable=True)
    elif name == "chat_session_signaling":
        data = event.get("data")
        if not isinstance(data, dict):
            problems.append(f"android: {name}: 'data' must be an object")
        elif data.get("type") not in SIGNALING_TYPES:
            problems.append(f"android: {name}: data.type {data.get('type')!r} is not in the SDK enum")
        msg_id = event.get("msg_id")
        if msg_id is not None and not (_is_str(msg_id) and DIGITS.fullmatch(msg_id)):
            problems.append(f"android: {name}: msg_id {msg_id!r} is not a digit string (demo does toInt())")
    return problems


# ---- iOS ------------------------------------------------------------------------------------------------


def _ios_required_string(event: JsonObject, key: str, problems: list[str]) -> None:
    if not _is_str(event.get(key)):
        problems.append(f"ios: {_name(event)}: '{key}' must be a string, got {event.get(key)!r}")


def _ios_optional_string(event: JsonObject, key: str, problems: list[str]) -> None:
    if key in event and event[key] is not None and not _is_str(event[key]):
        problems.append(f"ios: {_name(event)}: '{key}' must be a string, got {event[key]!r}")


def check_ios(event: Any) -> list[str]:
    """Problems the iOS SDK decoder has with one server event (unknown names are skipped, not problems)."""
    if not isinstance(event, dict):
        return ["ios: an event must be a JSON object"]
    name = _name(event)
    if not name:
        return ["ios: 'event' must be a string"]
    problems: list[str] = []
    # rules that hold for every event: dates are strings of epoch seconds, ewt is a String
    if "timestamp" in event:
        ts = event["timestamp"]
        if not (_is_str(ts) and EPOCH_SECONDS.fullmatch(ts)):
            problems.append(f"ios: {name}: timestamp {ts!r} is not a string of 10 digits (epoch seconds)")
    if "ewt" in event and not (_is_str(event["ewt"]) and DIGITS.fullmatch(event["ewt"])):
        problems.append(f"ios: {name}: ewt {event['ewt']!r} is not a digit string")
    allowed_null = ANDROID_NULLABLE_REQUIRED.get(name, frozenset())
    for key, value in event.items():
        if value is None and key not in allowed_null:
            problems.append(f"ios: {name}: '{key}' is null where a string is expected")
    if name not in IOS_EVENT_NAMES:
        return problems
    if name == "chat_session_status":
        if event.get("state") not in SESSION_STATES:
            problems.append(f"ios: {name}: state {event.get('state')!r} is not in the SDK enum")
        _ios_required_string(event, "ewt", problems)
    elif name == "chat_session_party_joined":
        _ios_required_string(event, "party_id", problems)
        if event.get("type") not in PARTY_TYPES:
            problems.append(f"ios: {name}: type {event.get('type')!r} is not scenario|external|internal")
        if "timestamp" not in event:
            problems.append(f"ios: {name}: missing required timestamp")
        for key in ("first_name", "last_name", "display_name"):
            _ios_optional_string(event, key, problems)
    elif name == "chat_session_party_left":
        _ios_required_string(event, "party_id", problems)
        if "timestamp" not in event:
            problems.append(f"ios: {name}: missing required timestamp")
    elif name == "chat_session_message":
        _ios_required_string(event, "msg", problems)
        for key in ("msg_id", "party_id", "msg_text"):
            _ios_optional_string(event, key, problems)
    elif name == "chat_session_location":
        for key in ("latitude", "longitude"):
            if not (_is_str(event.get(key)) and _parses_as_float(event.get(key))):
                problems.append(f"ios: {name}: {key} must be a numeric string, got {event.get(key)!r}")
    elif name == "chat_session_file":
        for key in ("file_id", "file_name", "file_type"):
            _ios_required_string(event, key, problems)
    elif name in ("chat_session_timeout_warning", "chat_session_inactivity_timeout"):
        _ios_required_string(event, "msg", problems)
        if "timestamp" not in event:
            problems.append(f"ios: {name}: missing required timestamp")
    elif name == "chat_session_case_set":
        _ios_required_string(event, "case_id", problems)
        if "timestamp" not in event:
            problems.append(f"ios: {name}: missing required timestamp")
    elif name == "chat_session_signaling":
        if not isinstance(event.get("data"), dict):
            problems.append(f"ios: {name}: 'data' must be an object")
        if "timestamp" not in event:
            problems.append(f"ios: {name}: missing required timestamp")
    elif name in ("chat_session_message_delivered", "chat_session_message_read"):
        for key in ("ref_msg_id", "party_id"):
            _ios_optional_string(event, key, problems)
    return problems


# ---- what a mobile (non-WebChat) client may receive ----------------------------------------------------


def check_mobile(event: Any) -> list[str]:
    """Android + iOS rules, and the server's own promise: only ``MOBILE_EVENT_NAMES`` go to mobile clients."""
    problems = check_android(event) + check_ios(event)
    if isinstance(event, dict) and event.get("event") not in MOBILE_EVENT_NAMES:
        problems.append(f"mobile: {event.get('event')!r} is not in MOBILE_EVENT_NAMES")
    return problems


def check_mobile_batch(events: Any) -> list[str]:
    """A poll or history body's ``events``: Android decodes the array all-or-nothing."""
    if not isinstance(events, list):
        return ["events must be a JSON array"]
    problems: list[str] = []
    for index, event in enumerate(events):
        problems.extend(f"[{index}] {p}" for p in check_mobile(event))
    return problems


# ---- method responses -------------------------------------------------------------------------------------


def check_chat_ticket(body: Any, with_is_new_chat: bool = True) -> list[str]:
    """Request Chat (and, without ``is_new_chat``, Get Active Chat) as both SDKs decode it."""
    if not isinstance(body, dict):
        return ["the answer must be a JSON object"]
    problems: list[str] = []
    if not (_is_str(body.get("chat_id")) and body["chat_id"]):
        problems.append(f"chat_id must be a non-empty string, got {body.get('chat_id')!r}")
    if body.get("state") not in SESSION_STATES:
        problems.append(f"state {body.get('state')!r} is not in the SDK enum")
    if with_is_new_chat and not isinstance(body.get("is_new_chat"), bool):
        problems.append(f"is_new_chat must be a JSON boolean, got {body.get('is_new_chat')!r}")
    if "ewt" in body and not (_is_str(body["ewt"]) and DIGITS.fullmatch(body["ewt"])):
        problems.append(f"ewt must be a digit string (iOS String?), got {body['ewt']!r}")
    if "phone_number" in body and not _is_str(body["phone_number"]):
        problems.append(f"phone_number must be a string, got {body['phone_number']!r}")
    return problems


def check_error_body(body: Any) -> list[str]:
    """``{"error_code": "<string>", "error_message": "<string>"}`` (iOS requires both as strings)."""
    if not isinstance(body, dict):
        return ["an error body must be a JSON object"]
    problems: list[str] = []
    code = body.get("error_code")
    if not (isinstance(code, str) and DIGITS.fullmatch(code)):
        problems.append(f"error_code must be a string of digits, got {body.get('error_code')!r}")
    if not _is_str(body.get("error_message")):
        problems.append(f"error_message must be a string, got {body.get('error_message')!r}")
    return problems


def check_case_history(body: Any, mobile: bool = True) -> list[str]:
    """``{"sessions": [{"chat_id", "created_time" (string of seconds), "events"}]}``."""
    if not isinstance(body, dict) or not isinstance(body.get("sessions"), list):
        return ["case history must be {\"sessions\": [...]}"]
    problems: list[str] = []
    for index, session in enumerate(body["sessions"]):
        if not isinstance(session, dict):
            problems.append(f"sessions[{index}] must be an object")
            continue
        if not _is_str(session.get("chat_id")):
            problems.append(f"sessions[{index}].chat_id must be a string")
        created = session.get("created_time")
        if not (_is_str(created) and EPOCH_SECONDS.fullmatch(created)):
            problems.append(f"sessions[{index}].created_time {created!r} is not a string of epoch seconds")
        if mobile:
            problems.extend(f"sessions[{index}].events{p}" for p in check_mobile_batch(session.get("events")))
        elif not isinstance(session.get("events"), list):
            problems.append(f"sessions[{index}].events must be an array")
    return problems


# ---- sample payloads ------------------------------------------------------------------------------------


def tiny_png() -> bytes:
    """A valid 1×1 transparent PNG (68 bytes), for content-type detection by magic bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 5))
            + chunk(b"IEND", b""))
