"""Logging setup: structlog over the standard library, one handler on the root logger.

Every line, ours or a library's (uvicorn), goes through the same chain: the bound context
(``frontdesk.observability.context``), level, logger name, an ISO UTC timestamp, the redaction rule
(``frontdesk.observability.redact``), then a renderer: ``text`` (key=value, for a terminal) or
``json`` (one object per line, for collectors). Modules log with ``get_logger(__name__)`` and
key-value fields: ``log.info("offer accepted", chat=…, agent=…)``.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import structlog
from structlog.typing import Processor

from frontdesk.observability.redact import RedactingFilter, redact_fields

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
# uvicorn's own lines that repeat what our access log and start-up lines say
_QUIET_LOGGERS = ("uvicorn.access",)


class _FrontdeskHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs (and replaces when called again); ``render``
    is its formatter's renderer, for ``log_direct``."""

    def __init__(self, stream: IO[str], render: Processor) -> None:
        super().__init__(stream)
        self.render = render

    def write_line(self, line: str) -> None:
        """What ``emit`` does with a formatted record, for a line rendered already."""
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(line + self.terminator)
            self.flush()


def _shared() -> list[Processor]:
    return [structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name, structlog.processors.TimeStamper(fmt="iso", utc=True),
            # a traceback becomes plain text (never the frames' local variables, which hold requests and
            # their headers) before the redaction, so that it is redacted too
            structlog.processors.format_exc_info, redact_fields]


def ensure_configured() -> None:
    """Route structlog through the standard library (idempotent). Without ``configure_logging``
    (tests, an embedding program) lines go wherever the program's logging sends them."""
    if structlog.is_configured():
        return
    structlog.configure(
        # PositionalArgumentsFormatter: a module may still log the standard library's way, log.info("%d", n)
        processors=[structlog.stdlib.filter_by_level, structlog.stdlib.PositionalArgumentsFormatter(), *_shared(),
                    structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # configure_logging may run after a module's first line
    )


def _renderer(log_format: str, colors: bool) -> list[Processor]:
    if log_format == "json":
        return [structlog.processors.JSONRenderer(sort_keys=False)]
    return [structlog.dev.ConsoleRenderer(colors=colors, sort_keys=False,
                                          exception_formatter=structlog.dev.plain_traceback)]


def configure_logging(log_format: str = "text", level: str = "info", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log line at ``level`` or above to ``stream`` (default stderr) in ``log_format``;
    returns the handler (tests remove it with ``remove_handler``)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    ensure_configured()
    out = stream if stream is not None else sys.stderr
    renderer = _renderer(log_format, colors=log_format == "text" and out.isatty())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer])
    handler = _FrontdeskHandler(out, renderer[-1])
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _FrontdeskHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def remove_handler(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)


_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error"}


def log_direct(logger: logging.Logger, level: int, event: str, fields: dict[str, Any]) -> None:
    """Log ``event`` with ``fields`` as ``get_logger(logger.name)`` would — the bound context, level,
    logger name, timestamp, the redaction rule, the configured format, the same handler — without
    the per-line machinery of structlog's chain and a standard-library record in between: for the
    line written on every request (the access log). ``fields`` must not hold an exception. Without
    frontdesk's handler (tests, an embedding program) it logs the ordinary way."""
    if not logger.isEnabledFor(level):
        return
    handler = next((h for h in logging.getLogger().handlers if isinstance(h, _FrontdeskHandler)), None)
    if handler is None or level < handler.level:
        if handler is None:
            get_logger(logger.name).log(level, event, **fields)
        return
    line: dict[str, Any] = dict(fields)
    line["event"] = event
    for key, value in structlog.contextvars.get_contextvars().items():
        line.setdefault(key, value)
    method = _LEVEL_NAMES.get(level, "info")
    line["level"] = method
    line["logger"] = logger.name
    _TIMESTAMP(None, method, line)
    redact_fields(None, method, line)
    handler.write_line(str(handler.render(None, method, line)))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` (``log.info("event", key=value)``), through the standard
    library (``ensure_configured``) even in a program that never configured logging."""
    ensure_configured()
    return structlog.stdlib.get_logger(name)
