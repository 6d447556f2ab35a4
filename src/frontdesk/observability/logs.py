"""Logging setup: structlog over the standard library, one handler on the root logger.

Every line, ours or a library's (uvicorn), gets the same fields: the bound context
(``frontdesk.observability.context``), level, logger name, an ISO UTC timestamp, then the redaction rule
(``frontdesk.observability.redact``) and one renderer: ``text`` (key=value, for a terminal) or ``json``
(one object per line, for collectors). Modules log with ``get_logger(__name__)`` and key-value fields:
``log.info("offer accepted", chat=…, agent=…)``.

Two routes, one line. A library's line is a standard-library record, rendered by the handler's
``ProcessorFormatter``. frontdesk's own lines, while ``configure_logging``'s handler is installed, skip the
standard library: the last step of structlog's chain (``_write_direct``) renders the line with that
handler's renderer and writes it there — no ``LogRecord``, no formatter, and no other handler: a
handler a program adds to the root logger next to frontdesk's gets the libraries' lines only. Without
frontdesk's handler (tests with ``caplog``, an embedding program) they go wherever the program's
logging sends them, like any other line. A line below the level costs one ``isEnabledFor`` (``_Logger``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import IO, Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from frontdesk.observability.line_batch import LineBatch
from frontdesk.observability.redact import RedactingFilter, redact_fields

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
# how late a line below warning may reach the log of ``frontdesk serve`` (written in batches: line_batch)
LOG_BATCH_SECS = 0.05
# uvicorn's own lines that repeat what our access log and start-up lines say
_QUIET_LOGGERS = ("uvicorn.access",)
# structlog's method names (``exception`` is error with a traceback)
_LEVEL_NUMBERS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                  "warn": logging.WARNING, "error": logging.ERROR, "exception": logging.ERROR,
                  "critical": logging.CRITICAL, "fatal": logging.CRITICAL, "notset": logging.NOTSET}
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error",
                logging.CRITICAL: "critical"}


class _Clock:
    """The ``timestamp`` field: ISO 8601 UTC with microseconds and ``Z``
    (``2026-12-03T14:10:46.069355Z``); the date and time of day are formatted once a second."""

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")

    def now(self) -> str:
        second, nanos = divmod(time.time_ns(), 1_000_000_000)
        cached = self._second
        if cached[0] != second:  # (a race between threads only formats the same second twice)
            cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._second = cached
        return f"{cached[1]}.{nanos // 1000:06d}Z"

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        event_dict["timestamp"] = self.now()
        return event_dict


_add_timestamp = _Clock()

# ConsoleRenderer's layout: the level padded to its longest name ("exception"), the event to 30 characters
_LEVEL_WIDTH = 9
_EVENT_WIDTH = 30
_NEEDS_REPR = re.compile(r"[ \t=\r\n\"']")
_ABSENT = object()


def _text_value(value: Any) -> str:
    """A field's value in the text format: a string as it is unless a space, a quote, ``=`` or a
    line break would make the line ambiguous (then its ``repr``), anything else by ``repr``."""
    if isinstance(value, str) and (value.isalnum() or not _NEEDS_REPR.search(value)):
        return value
    return repr(value)


def render_text(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
    """The ``text`` line: what structlog's ``ConsoleRenderer(colors=False, sort_keys=False,
    exception_formatter=plain_traceback)`` writes — timestamp, ``[level    ]``, the event padded,
    ``[logger]``, then ``key=value`` in the fields' order, the stack and the traceback (which
    ``format_exc_info`` has made text) on the lines after — in a fraction of its time. Takes the dict apart."""
    stack = event_dict.pop("stack", None)
    exception = event_dict.pop("exception", None)
    event_dict.pop("exc_info", None)  # turned into "exception" by format_exc_info earlier in the chain
    parts: list[str] = []
    if "" in event_dict:  # (ConsoleRenderer's default column comes first)
        parts.append("=" + _text_value(event_dict.pop("")))
    if (timestamp := event_dict.pop("timestamp", _ABSENT)) is not _ABSENT and (shown := str(timestamp)):
        parts.append(shown)
    if (level := event_dict.pop("level", _ABSENT)) is not _ABSENT:
        parts.append(f"[{str(level).ljust(_LEVEL_WIDTH)}]")
    if (event := event_dict.pop("event", _ABSENT)) is not _ABSENT:
        parts.append(str(event).ljust(_EVENT_WIDTH))
    for key in ("logger", "logger_name"):
        if (name := event_dict.pop(key, _ABSENT)) is not _ABSENT:
            parts.append(f"[{name}]")
    search = _NEEDS_REPR.search  # (_text_value, written out; an id or a word needs no regex)
    parts += [f"{key}={value}" if isinstance(value, str) and (value.isalnum() or not search(value))
              else f"{key}={value!r}" for key, value in event_dict.items()]
    line = " ".join(parts).rstrip(" ")
    if stack is not None:
        line += "\n" + str(stack)
        if exception is not None:
            line += "\n\n" + "=" * 79 + "\n"
    if exception is not None:
        line += "\n" + str(exception)
    return line


# orjson turns dataclasses and datetimes into objects and strings; json.dumps (what this format has
# always been) gives them to the fallback, which shows their repr: keep that
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _json_fallback(value: Any) -> Any:
    """A value JSON has no type for: its ``__structlog__()`` if it has one, else its ``repr``."""
    structlog_form = getattr(value, "__structlog__", None)
    return structlog_form() if callable(structlog_form) else repr(value)


def render_json(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
    """The ``json`` line: one object, the fields in their order, by ``orjson`` (``json.dumps`` for what
    it refuses: integers beyond 64 bits, nesting deeper than 254)."""
    try:
        return orjson.dumps(event_dict, default=_json_fallback, option=_JSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(event_dict, default=_json_fallback)


class _FrontdeskHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs (and replaces when called again); ``render`` is its
    formatter's renderer, for the lines written directly. With ``batch_secs`` the lines below
    warning wait up to that long and are written together (``line_batch``); a warning or an error
    is written at once, after them."""

    def __init__(self, stream: IO[str], render: Processor, batch_secs: float = 0.0) -> None:
        super().__init__(stream)
        self.render = render
        self._batch = LineBatch(batch_secs, self.flush) if batch_secs > 0 else None

    def write_event(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> None:
        """What ``emit`` does with a record, for an event dict: render it, write the line; a failure
        (a value whose ``repr`` raises, a closed stream) is reported the standard library's way
        (``handleError``), never raised into the code that logged."""
        try:
            line = str(self.render(logger, method, event_dict)) + self.terminator
            with self.lock:  # type: ignore[union-attr]
                self._write(line, _LEVEL_NUMBERS.get(method, logging.NOTSET) >= logging.WARNING)
        except RecursionError:  # (as emit does)
            raise
        except Exception:
            self.handleError(logging.makeLogRecord({"name": getattr(logger, "name", ""), "msg": "%s",
                                                    "args": (event_dict.get("event"),)}))

    def emit(self, record: logging.LogRecord) -> None:
        """A library's record (``handle`` holds the lock): the same way as frontdesk's own lines."""
        try:
            self._write(self.format(record) + self.terminator, record.levelno >= logging.WARNING)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _write(self, line: str, urgent: bool) -> None:
        """With the lock held: keep ``line`` for the batch, or write it now after what is kept."""
        batch = self._batch
        if batch is None:
            self.stream.write(line)
        elif urgent:
            self.stream.write(batch.take() + line)
        elif batch.add(line):  # the batch is full: write it, this line last
            self.stream.write(batch.take())
        else:
            return
        self.stream.flush()

    def flush(self) -> None:
        """Write the lines kept for the batch, then flush the stream."""
        with self.lock:  # type: ignore[union-attr]
            if self._batch is not None:
                text = self._batch.take()
                if text:
                    self.stream.write(text)
            if self.stream and hasattr(self.stream, "flush"):
                self.stream.flush()

    def close(self) -> None:
        if self._batch is not None:
            self._batch.stop()
        self.flush()
        super().close()


class _Installed:
    handler: _FrontdeskHandler | None = None


def _direct_handler() -> _FrontdeskHandler | None:
    """frontdesk's handler, while it is on the root logger."""
    handler = _Installed.handler
    return handler if handler is not None and handler in logging.root.handlers else None


def _emit(handler: _FrontdeskHandler, logger: WrappedLogger, method: str, event_dict: EventDict) -> None:
    if _LEVEL_NUMBERS.get(method, logging.NOTSET) >= handler.level:
        handler.write_event(logger, method, event_dict)


def _write_direct(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """The last step of structlog's chain before the standard library: with frontdesk's handler
    installed, the line is rendered and written to it here and goes no further; else it goes on."""
    handler = _direct_handler()
    if handler is None:
        return event_dict
    _emit(handler, logger, method, event_dict)
    raise structlog.DropEvent


# the fields of every line, ours and the libraries', in this order
_LINE_STEPS: tuple[Callable[[WrappedLogger, str, EventDict], EventDict], ...] = (
    structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
    _add_timestamp,
    # a traceback becomes plain text (never the frames' local variables, which hold requests and
    # their headers) before the redaction, so that it is redacted too
    structlog.processors.format_exc_info, redact_fields)


class _Logger(structlog.stdlib.BoundLogger):
    """structlog's standard-library logger, checking the level before anything else is done."""

    def _proxy_to_logger(self, method_name: str, event: str | None = None, *event_args: Any,
                         **event_kw: Any) -> Any:
        if not self._logger.isEnabledFor(_LEVEL_NUMBERS.get(method_name, logging.NOTSET)):
            return None
        return super()._proxy_to_logger(method_name, event, *event_args, **event_kw)


def ensure_configured() -> None:
    """Route structlog through the standard library (idempotent). Without ``configure_logging``
    (tests, an embedding program) lines go wherever the program's logging sends them."""
    if structlog.is_configured():
        return
    structlog.configure(
        # PositionalArgumentsFormatter: a module may still log the standard library's way, log.info("%d", n)
        processors=[structlog.stdlib.PositionalArgumentsFormatter(), *_LINE_STEPS,
                    structlog.processors.StackInfoRenderer(), _write_direct,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=_Logger,
        # the chain is the same before and after configure_logging (it looks for the handler per line)
        cache_logger_on_first_use=True,
    )


def _renderer(log_format: str, colors: bool) -> Processor:
    if log_format == "json":
        return render_json
    if colors:
        return structlog.dev.ConsoleRenderer(colors=True, sort_keys=False,
                                             exception_formatter=structlog.dev.plain_traceback)
    return render_text


def configure_logging(log_format: str = "text", level: str = "info", stream: IO[str] | None = None,
                      batch_secs: float = 0.0) -> logging.Handler:
    """Send every log line at ``level`` or above to ``stream`` (default stderr) in ``log_format``;
    returns the handler (tests remove it with ``remove_handler``). ``batch_secs``: lines below
    warning are written together, at most that late (``frontdesk serve``: ``LOG_BATCH_SECS``)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    ensure_configured()
    out = stream if stream is not None else sys.stderr
    renderer = _renderer(log_format, colors=log_format == "text" and out.isatty())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=list(_LINE_STEPS),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer])
    handler = _FrontdeskHandler(out, renderer, batch_secs)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _FrontdeskHandler)]:
        root.removeHandler(old)
        with contextlib.suppress(OSError, ValueError):  # (a stream closed meanwhile: nothing left to write to)
            old.close()
    root.addHandler(handler)
    _Installed.handler = handler
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def remove_handler(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    if _Installed.handler is handler:
        _Installed.handler = None


def log_direct(logger: logging.Logger, level: int, event: str, fields: MutableMapping[str, Any]) -> None:
    """Log ``event`` with ``fields`` as ``get_logger(logger.name)`` would — the same fields, rule, format
    and handler — without structlog's bound logger in between: for the line of every request (the
    access log). ``fields`` (taken over) must not hold an exception, a stack or positional arguments."""
    if not logger.isEnabledFor(level):
        return
    handler = _direct_handler()
    if handler is None:
        get_logger(logger.name).log(level, event, **fields)
        return
    method = _LEVEL_NAMES.get(level, "info")
    fields["event"] = event
    line: EventDict = fields
    for step in _LINE_STEPS:
        line = step(logger, method, line)
    _emit(handler, logger, method, line)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` (``log.info("event", key=value)``), through the standard
    library (``ensure_configured``) even in a program that never configured logging."""
    ensure_configured()
    # the logger itself, not structlog's proxy that would look the configuration up on every line
    return structlog.stdlib.get_logger(name).bind()
