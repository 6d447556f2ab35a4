"""A small process harness for the multi-process tests: a private ``redis-server`` of the test's
own (on a free port, no persistence, so it can be stopped and restarted at will without touching
the machine's Redis), unique Redis key prefixes, and ``Cluster``: ``frontdesk serve`` nodes as real
processes over one fresh PostgreSQL database (``tests.pg``), one Redis key prefix and one shared
directory of uploaded files. Everything started here is stopped in ``finally`` (a kill of the
process it started, by pid), the database dropped and the prefix's keys deleted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import redis.asyncio as redis

from frontdesk.client import AgentClient, CustomerClient
from tests.conftest import TEST_SHED_DELIVERY_LAG_SECS, TEST_SHED_LOOP_LAG_SECS, TEST_SHED_QUEUE_AGE_SECS, free_port
from tests.pg import create_database, drop_database

MACHINE_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_SECS = 60.0
TENANT = "demo.local"
APP_ID = "demo"
QUICK_APP_ID = "quick"  # an entry whose offers lapse after QUICK_OFFER_SECS
QUICK_OFFER_SECS = 5
PASSWORD = "cluster-test-pass"  # the test agents' password
AGENTS = ("anna", "bob", "cleo")
MAX_CHATS = 2
AGENT_LOST_GRACE_SECS = 5
RECHECK_SECS = 0.5
CONFIG = f"""
[server]
cookie_secure = false

[[tenants]]
name = "{TENANT}"
aliases = ["localhost", "127.0.0.1"]
agent_lost_grace_secs = {AGENT_LOST_GRACE_SECS}

[[tenants.queues]]
id = "general"
name = "General"

[[tenants.queues]]
id = "quick"
name = "Quick offers"
offer_timeout_secs = {QUICK_OFFER_SECS}

[[tenants.entries]]
app_id = "{APP_ID}"
name = "Demo chat"
queue = "general"
welcome_message = ""

[[tenants.entries]]
app_id = "{QUICK_APP_ID}"
name = "Quick offers"
queue = "quick"
welcome_message = ""
""" + "".join(f"""
[[tenants.agents]]
username = "{name}"
password = "{PASSWORD}"
first_name = "{name.title()}"
last_name = "Test"
display_name = "{name.title()}"
max_chats = {MAX_CHATS}
role = "admin"
""" for name in AGENTS)


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


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0, what: str = "condition") -> None:
    """Ask ``check`` (an async question to the servers) until it answers True; AssertionError after
    ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() <= deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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


class Node:
    """One ``frontdesk serve`` process of a cluster."""

    def __init__(self, name: str, workdir: Path, env: dict[str, str], config: Path, workers: int = 1) -> None:
        self.name = name
        self.port = free_port()
        self.data_dir = workdir / name
        self.log = workdir / f"{name}.log"
        self.env = env
        self.config = config
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "frontdesk", "serve", "--config", str(self.config), "--port",
                   str(self.port), "--data-dir", str(self.data_dir)]
        if self.workers != 1:
            command += ["--workers", str(self.workers)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                            start_new_session=True)

    async def ready(self) -> None:
        """Wait until the node answers."""
        deadline = time.monotonic() + START_TIMEOUT_SECS
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                assert self.process is not None and self.process.poll() is None, \
                    f"node {self.name} exited: {self.log.read_text(errors='replace')[-3000:]}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.base_url}/api")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(f"node {self.name} did not start: {self.log.read_text(errors='replace')}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """kill -9 the node (all its processes: it runs in a session of its own)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def terminate(self) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.kill()

    def customer(self, client_id: str, app_id: str = APP_ID) -> CustomerClient:
        return CustomerClient(self.base_url, app_id=app_id, client_id=client_id, tenant_url=TENANT)

    async def agent(self, username: str, ready: bool = True) -> AgentClient:
        agent = AgentClient(self.base_url)
        await agent.login(username, PASSWORD)
        if ready:
            await agent.set_state("ready")
        return agent

    def same_agent(self, agent: AgentClient) -> AgentClient:
        """The agent's session (its token) on this node."""
        other = AgentClient(self.base_url)
        other.token, other.agent = agent.token, agent.agent
        return other


class Cluster:
    """Nodes sharing one PostgreSQL database, one Redis key prefix and one files directory."""

    def __init__(self, workdir: Path, redis_url: str = MACHINE_REDIS_URL) -> None:
        self.workdir = workdir
        self.redis_url = redis_url
        self.prefix = unique_prefix()
        self.database_url = ""
        self.nodes: list[Node] = []
        self.config = workdir / "frontdesk.toml"
        self.files_dir = workdir / "files"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        env.update({"FRONTDESK_DATABASE_URL": self.database_url, "FRONTDESK_REDIS_URL": self.redis_url,
                    "FRONTDESK_REDIS_PREFIX": self.prefix, "FRONTDESK_FILES_DIR": str(self.files_dir),
                    "FRONTDESK_BUS_RECHECK_SECS": str(RECHECK_SECS), "FRONTDESK_COOKIE_SECURE": "false",
                    "FRONTDESK_SHED_LOOP_LAG_SECS": str(TEST_SHED_LOOP_LAG_SECS),
                    "FRONTDESK_SHED_QUEUE_AGE_SECS": str(TEST_SHED_QUEUE_AGE_SECS),
                    "FRONTDESK_SHED_DELIVERY_LAG_SECS": str(TEST_SHED_DELIVERY_LAG_SECS)})
        return env

    async def add(self, workers: int = 1) -> Node:
        node = Node(f"node{len(self.nodes) + 1}", self.workdir, self.env(), self.config, workers)
        self.nodes.append(node)
        node.start()
        await node.ready()
        return node

    async def restart(self, node: Node) -> None:
        node.kill()
        node.start()
        await node.ready()

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


@contextlib.asynccontextmanager
async def cluster(workdir: Path, nodes: int = 2, redis_url: str = MACHINE_REDIS_URL) -> AsyncIterator[Cluster]:
    """``nodes`` running nodes over a fresh database and key prefix; everything is stopped,
    dropped and deleted afterwards, whatever happens."""
    made = Cluster(workdir, redis_url)
    made.config.write_text(CONFIG, encoding="utf-8")
    made.files_dir.mkdir(parents=True, exist_ok=True)
    made.database_url = await asyncio.to_thread(create_database)
    try:
        for _ in range(nodes):
            await made.add()
        yield made
    finally:
        made.stop()
        await asyncio.to_thread(drop_database, made.database_url)
        with contextlib.suppress(OSError, redis.RedisError):
            await delete_prefix(redis_url, made.prefix)


async def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
