"""Running the ASGI application under uvicorn with a drain of held polls at shutdown."""

from __future__ import annotations

import gc
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time

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


# ---- several workers on one machine (frontdesk serve --workers N) -----------------------------------

workers_log = logging.getLogger("frontdesk.server.workers")
WORKER_SOCKET_ENV = "FRONTDESK_WORKER_FD"  # internal: the listening socket a worker inherits from its parent
WORKER_RESTART_FIRST_SECS = 1.0  # a worker that died is started again after this, doubling ...
WORKER_RESTART_MAX_SECS = 30.0  # ... up to this
WORKER_STOP_SECS = SHUTDOWN_GRACE_SECS + 10  # after SIGTERM, a worker still running this long is killed


def inherited_socket() -> socket.socket | None:
    """The listening socket of a worker started by ``serve_workers`` (None otherwise)."""
    fd = os.environ.pop(WORKER_SOCKET_ENV, "")
    return socket.socket(fileno=int(fd)) if fd else None


def serve_workers(argv: list[str], host: str, port: int, workers: int) -> int:
    """Run ``workers`` processes of ``frontdesk serve`` (``argv``: its arguments without
    ``--workers``) on one listening socket bound here, so that they share the port: the kernel hands
    each new connection to one of them. SIGTERM and SIGINT stop them all (each drains its held polls),
    SIGHUP reaches every one (each re-reads the configuration file); a worker that dies is started
    again after a growing delay. Returns when all have stopped after a SIGTERM or SIGINT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        print(f"frontdesk: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    listener.listen(2048)
    listener.set_inheritable(True)
    env = {**os.environ, WORKER_SOCKET_ENV: str(listener.fileno())}
    command = [sys.executable, "-m", "frontdesk", *argv]
    stopping: list[int] = []

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, pass_fds=(listener.fileno(),))  # noqa: S603

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            for child in running:
                if child.poll() is None:
                    child.send_signal(signal.SIGHUP)
            return
        stopping.append(signum)

    running = [start() for _ in range(workers)]
    workers_log.info("%d workers on %s:%d: pids %s", workers, host, port, " ".join(str(c.pid) for c in running))
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    restarts: dict[int, tuple[int, float]] = {}  # slot → (failures in a row, when to start it again)
    try:
        while not stopping:
            time.sleep(0.2)
            for slot, child in enumerate(running):
                if child.poll() is None or stopping:
                    continue
                failures, at = restarts.get(slot, (0, 0.0))
                if at == 0.0:
                    failures += 1
                    delay = min(WORKER_RESTART_MAX_SECS, WORKER_RESTART_FIRST_SECS * 2 ** (failures - 1))
                    workers_log.error("worker %d exited with %s; starting another in %.0f s", child.pid,
                                      child.returncode, delay)
                    restarts[slot] = (failures, time.monotonic() + delay)
                elif time.monotonic() >= at:
                    running[slot] = start()
                    restarts[slot] = (failures, 0.0)
                    workers_log.info("worker %d started", running[slot].pid)
    finally:
        for child in running:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + WORKER_STOP_SECS
        for child in running:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listener.close()
    return 0
