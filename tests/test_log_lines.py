"""frontdesk's own lines are written straight to its handler (no standard-library record): such a line
is the line the standard-library route writes, field for field, in both formats — context, masks,
tracebacks; the renderers write what structlog's would; the redaction's marks miss no secret."""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import structlog

from frontdesk.observability.context import bound
from frontdesk.observability.logs import (
    configure_logging,
    get_logger,
    log_direct,
    remove_handler,
    render_json,
    render_text,
)
from frontdesk.observability.redact import MASK, mask_every_pattern, redact_text

LOGGER = "frontdesk.test.lines"
Log = Callable[[], None]


def _both_routes(log_format: str, log: Log) -> tuple[list[str], list[str]]:
    """The lines ``log`` writes through the direct route (frontdesk's handler on the root logger) and
    through the standard library's (the same handler on the logger itself: structlog finds no handler of
    frontdesk's on the root, so it makes a record, and that handler's formatter renders it)."""
    direct, standard = io.StringIO(), io.StringIO()
    handler = configure_logging(log_format, "info", direct)
    try:
        log()
    finally:
        remove_handler(handler)
    handler = configure_logging(log_format, "info", standard)
    remove_handler(handler)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    try:
        log()
    finally:
        logger.removeHandler(handler)
    return direct.getvalue().splitlines(), standard.getvalue().splitlines()


def _fields(log_format: str, lines: list[str]) -> list[Any]:
    if log_format == "json":
        parsed = [orjson.loads(line) for line in lines]
        for line in parsed:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line.pop("timestamp"))
        return parsed
    return [re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ", "<ts> ", line) for line in lines]


def _context_and_secrets() -> None:
    log = get_logger(LOGGER)
    with bound(tenant="demo.local", chat="chat-7", agent="agent-3"):
        log.info("offer accepted", queue="general", token="t0ps3cret", path="/ws?ticket=tk-1&x=1",
                 note="two words", count=3, ratio=0.5, nothing=None, header="Authorization: Bearer abc.def")
        log.warning("offer rejected", reason="busy")
        log.debug("not at info", token="t0ps3cret")
    log.error("after the block", items=["a b", "/x?password=pw-9"], mapping={"cookie": "fd_session=s1", "n": 1})


def _an_exception() -> None:
    secret = "-".join(("tkt", "abcdef"))  # built at run time: the traceback's source lines do not show it
    try:
        raise RuntimeError(f"upstream refused /ws?ticket={secret}")
    except RuntimeError:
        get_logger(LOGGER).exception("it failed", chat="chat-9")


def _positional_arguments() -> None:
    get_logger(LOGGER).info("%d chats moved to %s", 3, "general")


@pytest.mark.usefixtures("restore_root_level")
@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("log", [_context_and_secrets, _an_exception, _positional_arguments])
def test_a_direct_line_is_the_standard_line_field_for_field(log_format: str, log: Log) -> None:
    direct, standard = _both_routes(log_format, log)
    assert direct, "nothing was logged"
    assert _fields(log_format, direct) == _fields(log_format, standard)
    written = "\n".join(direct)
    for secret in ("t0ps3cret", "tk-1", "abc.def", "pw-9", "s1", "tkt-abcdef"):
        assert secret not in written


@pytest.mark.usefixtures("restore_root_level")
def test_a_direct_line_has_its_context_masks_and_traceback() -> None:
    def both() -> None:
        _context_and_secrets()
        _an_exception()

    direct, _ = _both_routes("json", both)
    accepted, rejected, after, failed = (orjson.loads(line) for line in direct)
    assert (accepted["event"], accepted["level"], accepted["logger"]) == ("offer accepted", "info", LOGGER)
    assert (accepted["tenant"], accepted["chat"], accepted["agent"]) == ("demo.local", "chat-7", "agent-3")
    assert accepted["token"] == MASK and accepted["path"] == f"/ws?ticket={MASK}&x=1"
    assert accepted["header"] == f"Authorization: {MASK}" and accepted["count"] == 3
    assert rejected["level"] == "warning" and rejected["chat"] == "chat-7"
    assert "chat" not in after and after["items"] == ["a b", f"/x?password={MASK}"]
    assert after["mapping"] == {"cookie": MASK, "n": 1}
    assert failed["level"] == "error" and failed["chat"] == "chat-9"
    assert failed["exception"].startswith("Traceback") and f"ticket={MASK}" in failed["exception"]


@pytest.mark.usefixtures("restore_root_level")
def test_a_direct_text_line_shows_the_traceback_below_it() -> None:
    direct, _ = _both_routes("text", _an_exception)
    assert direct[0].endswith("[error    ] it failed                      [frontdesk.test.lines] chat=chat-9")
    assert direct[1] == "Traceback (most recent call last):"
    assert direct[-1] == f"RuntimeError: upstream refused /ws?ticket={MASK}"


@pytest.mark.usefixtures("restore_root_level")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_access_line_is_the_line_structlog_writes(log_format: str) -> None:
    fields = {"method": "GET", "path": "/clientweb/api/v2/chats/c1/events?tenantUrl=bench.local", "status": 200,
              "duration_ms": 10.0, "client": "127.0.0.1:5000"}

    def log() -> None:
        with structlog.contextvars.bound_contextvars(request_id="r-1", chat="c-1"):
            log_direct(logging.getLogger(LOGGER), logging.INFO, "request", dict(fields))
            get_logger(LOGGER).info("request", **fields)

    direct, standard = _both_routes(log_format, log)
    assert len(direct) == 2 and _fields(log_format, direct) == _fields(log_format, standard)
    first, second = _fields(log_format, direct)
    assert first == second


@pytest.mark.usefixtures("restore_root_level")
def test_without_frontdesk_handler_lines_reach_the_program_handlers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    handler = configure_logging("json", "info", io.StringIO())
    get_logger(LOGGER).info("while installed")
    remove_handler(handler)
    get_logger(LOGGER).info("after removal", token="t0ps3cret")
    log_direct(logging.getLogger(LOGGER), logging.INFO, "direct after removal", {"path": "/ws?ticket=tk-1"})
    events = [record.msg["event"] for record in caplog.records if isinstance(record.msg, dict)]
    assert events == ["after removal", "direct after removal"]
    assert "t0ps3cret" not in caplog.text and "tk-1" not in caplog.text


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.usefixtures("restore_root_level")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_line_that_cannot_be_written_is_reported_not_raised(log_format: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    handler = configure_logging(log_format, "info", stream)
    try:
        get_logger(LOGGER).info("unrenderable", value=_BadRepr())
        get_logger(LOGGER).info("written")
        assert [line for line in stream.getvalue().splitlines() if "written" in line]
        stream.close()
        get_logger(LOGGER).info("to a closed stream")
    finally:
        remove_handler(handler)
    reported = capsys.readouterr().err
    assert reported.count("--- Logging error ---") == 2 and "unrenderable" in reported
    assert "to a closed stream" in reported


@dataclasses.dataclass
class _Offer:
    chat: str


_EVENTS: list[dict[str, Any]] = [
    {"timestamp": "2026-12-03T14:10:46.069355Z", "level": "info", "event": "chat offered",
     "logger": "frontdesk.domain.journal", "chat": "c1", "agent": "a 1", "queue": None},
    {"event": "a very long event name that is longer than thirty", "level": "critical", "n": 1, "f": 0.25},
    {"level": "warning", "event": "", "quote": "it's", "dq": 'say "x"', "eq": "a=b", "tab": "a\tb", "nl": "a\nb",
     "cr": "a\rb", "empty": "", "t": True, "d": {"k": "v v"}, "l": [1, "x y"], "u": "café"},
    {"event": "with a stack", "level": "info", "stack": "Stack (most recent call last):\n  File x", "k": "v"},
    {"event": "with both", "level": "error", "stack": "Stack:\n  x", "exception": "Traceback:\n  y\nValueError"},
    {"event": "with an exception", "level": "error", "exception": "Traceback:\n  y\nValueError", "logger": "x.y"},
    {"": "odd", "event": "an empty key", "logger_name": "other", "timestamp": ""},
    {"event": "trailing spaces"},
    {"event": 42, "level": "debug", "offer": _Offer("c1"), "when": datetime.date(2026, 12, 3), "raw": b"\x00"},
]
_CONSOLE = structlog.dev.ConsoleRenderer(colors=False, sort_keys=False,
                                         exception_formatter=structlog.dev.plain_traceback)


@pytest.mark.parametrize("event", _EVENTS)
def test_the_text_renderer_writes_what_structlogs_console_renderer_writes(event: dict[str, Any]) -> None:
    assert render_text(None, "info", dict(event)) == _CONSOLE(None, "info", dict(event))


@pytest.mark.parametrize("event", [*_EVENTS, {"event": "big", "n": 2**70, "set": {1}, "nested": {1: ("a", None)}}])
def test_the_json_renderer_writes_what_structlogs_json_renderer_writes(event: dict[str, Any]) -> None:
    line = render_json(None, "info", dict(event))
    assert "\n" not in line
    assert json.loads(line) == json.loads(structlog.processors.JSONRenderer()(None, "info", dict(event)))


# (text, secret): every pattern, in each of its shapes and cases, alone and inside a longer text
_SECRETS = [
    ("/agent/api/v1/ws?token=abc.def&x=1", "abc.def"), ("/ws?ticket=T1", "T1"), ("/x?a=1&TOKEN=Up", "Up"),
    ("/x?a=1;session=s-9", "s-9"), ("/x?access_token=at1", "at1"), ("/login?Password=pw1&u=ada", "pw1"),
    ("/x?tenantUrl=bench.local&ticket=tk2", "tk2"),
    ("postgresql://fd:hunter2@db.internal:5432/frontdesk", "hunter2"), ("redis://:s3cret@127.0.0.1:6379/0", "s3cret"),
    ("HTTPS://u:p4ss@h/x", "p4ss"),
    ("Authorization: Bearer eyJhbGciOi.x-y", "eyJhbGciOi"), ("sent bearer abc123 upstream", "abc123"),
    ("Basic dXNlcjpwdw==", "dXNlcjpwdw"), ("TOKEN zz9", "zz9"), ("auth: Token\tq1", "q1"),
    ("cookie=fd_session=s3cr3t", "s3cr3t"), ("Set-Cookie: fd_csrf=c1; Path=/", "c1"),
    ("authorization: xyz1", "xyz1"), ("{'Cookie': 'fd_csrf=1'}", "fd_csrf=1"),
    ("[(b'set-cookie', b'fd_session=abc; HttpOnly'), (b'x', b'y')]", "fd_session=abc"),
    ("(b'Authorization', b'opaque-42')", "opaque-42"), ("('proxy-authorization', 'pa-7')", "pa-7"),
    ('headers={"cookie": "k=v9"}', "k=v9"),
]
_PLAIN = ["nothing to hide here", "/clientweb/api/v2/chats/c1/events?tenantUrl=bench.local", "127.0.0.1:5000",
          "http://127.0.0.1:8080/api", "a token of thanks", "basically fine", "", "token", "x=1 cookie"]


def _shapes(text: str) -> list[str]:
    return [text, text.upper(), text.lower(), f"GET {text} 200", f"{text}\n{text}", f"é {text}"]


@pytest.mark.parametrize(("text", "secret"), _SECRETS)
def test_the_marks_miss_no_secret(text: str, secret: str) -> None:
    for shape in _shapes(text):
        assert redact_text(shape) == mask_every_pattern(shape), shape
        assert secret.lower() not in redact_text(shape).lower(), shape


@pytest.mark.parametrize("text", _PLAIN)
def test_text_without_marks_is_kept_as_the_patterns_would_keep_it(text: str) -> None:
    for shape in _shapes(text):
        assert redact_text(shape) == mask_every_pattern(shape), shape


def test_the_patterns_ignore_case_the_unicode_way_and_so_do_the_marks() -> None:
    kelvin = "/ws?to\u212aen=abc"  # KELVIN SIGN: a "k" to a case-insensitive regex, not to str.lower
    assert redact_text(kelvin) == f"/ws?to\u212aen={MASK}"
    assert redact_text("/ws?\u017fession=s1") == f"/ws?\u017fession={MASK}"  # LATIN SMALL LETTER LONG S


@pytest.mark.usefixtures("restore_root_level")
def test_a_secret_in_any_field_of_a_line_is_masked() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", "info", stream)
    try:
        for position in range(4):
            values = ["bench.local", "c1", "127.0.0.1:5000", "GET"]
            values[position] = f"/ws?ticket=tk-{position}"
            get_logger(LOGGER).info("line", **{f"f{i}": value for i, value in enumerate(values)})
    finally:
        remove_handler(handler)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line[f"f{i}"] for i, line in enumerate(lines)] == [f"/ws?ticket={MASK}"] * 4
    assert "tk-" not in stream.getvalue()
