"""Running the ASGI application under uvicorn: the listening socket bound before anything else,
a clean shutdown on SIGINT (Ctrl-C) and SIGTERM that drains held polls, and every log line through
frontdesk's logging (``frontdesk.observability``)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import uvicorn

from frontdesk.app import Frontdesk
from frontdesk.collector import Collector
from frontdesk.connections import ConnectionLimits, backlog_drain, fit_descriptor_limit, guarded_protocol
from frontdesk.observability.logs import get_logger
from frontdesk.observability.redact import RedactingFilter

log = get_logger(__name__)

SHUTDOWN_GRACE_SECS = 5
LISTEN_BACKLOG = 2048
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# uvicorn's loggers that print request lines (``WebSocket /agent/api/v1/ws?ticket=…``)
UVICORN_LOGGERS = ("uvicorn.error", "uvicorn.access")


class ListenError(Exception):
    """The address cannot be listened on (taken, not local, unknown name); the message says why."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (0: a free port; ``bound_address`` tells which)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc)).lower()
        raise ListenError(f"cannot listen on {format_address(host, port)}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bound_address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


class DrainingServer(uvicorn.Server):
    """uvicorn's server that, as soon as shutdown starts, marks the server draining (``/readyz``
    503) and completes held long polls with ``{"events": []}`` instead of waiting out their hold;
    SIGINT and SIGTERM both end it normally (exit status 0, no traceback)."""

    def __init__(self, config: uvicorn.Config, frontdesk: Frontdesk) -> None:
        super().__init__(config)
        self.frontdesk = frontdesk

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own version re-raises the signal after its graceful shutdown, so that Ctrl-C
        # ends in a KeyboardInterrupt traceback and SIGTERM in death by signal; this one returns
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in SHUTDOWN_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        drain = backlog_drain(self.config)
        if drain is not None:
            drain.listen([listener for server in self.servers for listener in server.sockets])

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        drain = backlog_drain(self.config)
        if drain is not None:
            drain.close()
        signals = [signal.Signals(s).name for s in self._captured_signals]
        log.info("shutting down", signal=",".join(signals) or None, held_polls=self.frontdesk.polls.held)
        self.frontdesk.begin_drain()
        await super().shutdown(sockets)
        log.info("stopped")


def connection_limits(frontdesk: Frontdesk) -> ConnectionLimits:
    settings = frontdesk.settings
    return ConnectionLimits(max_connections=settings.max_connections,
                            header_timeout_secs=settings.header_timeout_secs,
                            keep_alive_secs=settings.keep_alive_secs, max_header_bytes=settings.max_header_bytes)


def make_server(frontdesk: Frontdesk, host: str, port: int, log_level: str = "warning") -> DrainingServer:
    """uvicorn on httptools with the connection bounds of ``frontdesk.connections`` (its own
    ``limit_concurrency`` stays off: it counts at request time and answers plain text). uvicorn
    installs no log handlers of its own (its lines go through frontdesk's) and its access log is
    off: ``frontdesk.observability.access`` writes ours. ``log_level`` is uvicorn's own loggers':
    at info they repeat what frontdesk's start-up and access lines say."""
    limits = fit_descriptor_limit(connection_limits(frontdesk))
    config = uvicorn.Config(frontdesk.asgi, host=host, port=port, log_level=log_level, log_config=None,
                            lifespan="on", loop="uvloop", http=guarded_protocol(limits), ws="websockets-sansio",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECS, access_log=False, backlog=LISTEN_BACKLOG,
                            timeout_keep_alive=limits.keep_alive_secs,
                            # no "server: uvicorn" on every answer: it tells nothing a client needs,
                            # names the software to scanners, and costs a header per response
                            server_header=False)
    _redact_uvicorn_logs()
    return DrainingServer(config, frontdesk)


def _redact_uvicorn_logs() -> None:
    """The redaction rule on uvicorn's loggers themselves, so that it holds for whichever handler
    prints their records (frontdesk's, an embedding program's, a test's)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def serve(frontdesk: Frontdesk, sock: socket.socket, server: DrainingServer | None = None) -> None:
    """Serve on the bound ``sock`` until SIGINT or SIGTERM."""
    collector = Collector()
    collector.start()
    try:
        host, port = bound_address(sock)
        (server or make_server(frontdesk, host, port)).run(sockets=[sock])
    finally:
        collector.stop()


# ---- several workers on one machine (frontdesk serve --workers N) -----------------------------------

workers_log = get_logger("frontdesk.server.workers")
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
    try:
        listener = listen(host, port)
    except ListenError as exc:
        print(f"frontdesk: {exc}", file=sys.stderr)
        return 1
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
