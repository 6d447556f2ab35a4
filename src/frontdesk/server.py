"""Running the ASGI application under uvicorn with a drain of held polls at shutdown."""

from __future__ import annotations

import gc
import logging
import re
import socket

import uvicorn

from frontdesk.app import Frontdesk
from frontdesk.connections import ConnectionLimits, fit_descriptor_limit, guarded_protocol

SHUTDOWN_GRACE_SECS = 5
# Collector thresholds for a server holding thousands of polls. With the default (700, 10, 10)
# the cyclic collector ran every few hundred requests and each pass walked the whole young and
# middle generations, stalling the event loop for tens to a hundred ms (W3 p99 180 ms at 250
# msg/s; bench/README.md). Collecting every 50,000 allocations keeps passes rare and short.
GC_THRESHOLDS = (50_000, 50, 100)


# a ?token= or ?ticket= in a WebSocket URL, which uvicorn logs as "WebSocket /agent/api/v1/ws?…"
_CREDENTIAL_IN_QUERY = re.compile(r"([?&](?:token|ticket)=)[^&\s\"]*")


class RedactCredentials(logging.Filter):
    """Masks the credentials of WebSocket URLs (``?token=``, ``?ticket=``) in uvicorn's log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _CREDENTIAL_IN_QUERY.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_CREDENTIAL_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def _redact_uvicorn_logs() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactCredentials) for f in logger.filters):
        logger.addFilter(RedactCredentials())


class DrainingServer(uvicorn.Server):
    """Completes held long polls with ``{"events": []}`` as soon as shutdown starts, instead of
    waiting out their hold."""

    def __init__(self, config: uvicorn.Config, frontdesk: Frontdesk) -> None:
        super().__init__(config)
        self.frontdesk = frontdesk

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.frontdesk.polls.drain()
        await super().shutdown(sockets)


def connection_limits(frontdesk: Frontdesk) -> ConnectionLimits:
    settings = frontdesk.settings
    return ConnectionLimits(max_connections=settings.max_connections,
                            header_timeout_secs=settings.header_timeout_secs,
                            keep_alive_secs=settings.keep_alive_secs, max_header_bytes=settings.max_header_bytes)


def make_server(frontdesk: Frontdesk, host: str, port: int, log_level: str = "info") -> DrainingServer:
    """uvicorn on httptools with the connection bounds of ``frontdesk.connections`` (its own
    ``limit_concurrency`` stays off: it counts at request time and answers plain text)."""
    limits = fit_descriptor_limit(connection_limits(frontdesk))
    config = uvicorn.Config(frontdesk.asgi, host=host, port=port, log_level=log_level, lifespan="on",
                            loop="uvloop", http=guarded_protocol(limits), ws="websockets-sansio",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECS, access_log=False,
                            timeout_keep_alive=limits.keep_alive_secs)
    _redact_uvicorn_logs()  # after the Config, which (re)configures uvicorn's loggers
    return DrainingServer(config, frontdesk)


def tune_gc() -> None:
    """Raise the collector's thresholds and move everything built so far (modules, routes, the
    configuration) out of its sight: it lives as long as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(frontdesk: Frontdesk, host: str, port: int) -> None:
    tune_gc()
    make_server(frontdesk, host, port).run()
