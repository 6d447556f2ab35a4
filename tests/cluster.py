"""A small process harness for the multi-process tests: a private ``redis-server`` of the test's
own (on a free port, no persistence, so it can be stopped and restarted at will without touching
the machine's Redis), unique Redis key prefixes, and ``frontdesk serve`` nodes as real processes.
Everything started here is stopped in ``finally`` (``kill`` of the process it started, by pid)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

MACHINE_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_SECS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unused_redis_url() -> str:
    """A Redis URL nothing listens on (a port that was free a moment ago)."""
    return f"redis://127.0.0.1:{free_port()}/0"


def unique_prefix() -> str:
    """A key prefix no other test run uses (each run's keys are its own)."""
    return f"fdtest:{secrets.token_hex(6)}:"


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait (for real) until ``predicate()``; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class RedisServer:
    """A ``redis-server`` of the test's own on a free port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is required (apt-get install redis-server)"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the test's redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
