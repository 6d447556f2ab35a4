"""The systems under test, as server processes, and the few requests in which they differ.

All speak the same customer wire (create a chat, long-poll, post events). Agents differ:
frontdesk's agents log in and hold chats through routing (auto-accept, so a new chat is connected
at once); the baseline's agents are just an index the baseline assigns round-robin.

- ``frontdesk``: one process on the embedded SQLite store.
- ``frontdesk-pg1`` / ``frontdesk-pg2``: PostgreSQL + Redis, one process or ``--workers 2``, each
  with a database and a Redis key prefix of its own, created and removed by the harness.
- ``baseline``: ``bench/baseline.py``, the floor of the server stack.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import procstats
from bench.loadgen import ConnectionPool, HttpConnection, HttpError, Reply, build_request
from bench.processes import ServerProcess
from bench.services import Analyzer, Database, RedisKeys, ServiceUrls, unique_name

TENANT = "bench.local"
APP_ID = "bench"
AGENT_PASSWORD = "bench-agent-password"  # noqa: S105 - a throwaway account of a local benchmark server
READY_TIMEOUT_SECS = 60.0
PROBE_CONNECTIONS = 8  # opened at a time while waiting for every worker to accept connections


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pin_prefix(cpus: tuple[int, ...] | None) -> list[str]:
    return ["taskset", "-c", ",".join(str(c) for c in cpus)] if cpus else []


def frontdesk_config(port: int, hold_secs: float, agents: int, password_hash: str,
                     server_extra: tuple[str, ...] = ()) -> str:
    """The bench configuration: one tenant, one entry without bot or inactivity timers, and
    auto-accepting agents of 100 chats each; ``server_extra``: more ``[server]`` lines."""
    lines = [
        "[server]", 'host = "127.0.0.1"', f"port = {port}", f"poll_hold_secs = {hold_secs}",
        "cookie_secure = false", *server_extra, "",
        "[[tenants]]", f'name = "{TENANT}"', "",
        "[[tenants.queues]]", 'id = "bench"', 'name = "Bench"', "",
        "[[tenants.entries]]", f'app_id = "{APP_ID}"', 'name = "Bench"', 'queue = "bench"', 'welcome_message = ""',
        "inactivity_warning_secs = 0", "inactivity_timeout_secs = 0", "",
    ]
    for i in range(agents):
        lines += ["[[tenants.agents]]", f'username = "{agent_username(i)}"', f'password_hash = "{password_hash}"',
                  "max_chats = 100", "auto_accept = true", ""]
    return "\n".join(lines)


def agent_username(index: int) -> str:
    return f"agent{index:04d}"


@dataclass
class Holding:
    """Which agent holds a chat, and (frontdesk) the chat's last seq when that was read."""

    agent: int
    last_seq: int = 0


@dataclass
class System(ABC):
    name: str
    hold_secs: float
    agents: int
    run_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    workers: int = 1  # serving processes
    process: ServerProcess | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def services_database(self) -> str | None:
        """The PostgreSQL database whose backends work for this system (None: no services)."""
        return None

    @property
    def uses_services(self) -> bool:
        return False

    def describe(self) -> str:
        """One line for the report: what runs."""
        return self.name

    # ---- process ----------------------------------------------------------------------------

    @abstractmethod
    def command(self) -> list[str]: ...

    def prepare(self) -> None:  # noqa: B027 - most systems need nothing prepared
        """Create what the server needs before it starts (files, a database)."""

    def cleanup(self) -> None:  # noqa: B027 - nor anything cleaned up
        """Remove what :meth:`prepare` created, after the server stopped."""

    def launch(self, cpus: tuple[int, ...] | None) -> None:
        """Start the server (pinned to ``cpus`` with taskset when given) in its own process group."""
        self.port = free_port(self.host)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        self.process = ServerProcess(pin_prefix(cpus) + self.command(), self.run_dir / f"{self.name}-server.log",
                                     self.run_dir, self.environment())

    async def wait_ready(self) -> None:
        """Until the server answers ``GET /``, and with several workers until every one of them
        accepts connections (a customer's keep-alive connection stays with the process that
        accepted it: connections opened while one worker is still starting would all stay on the
        others)."""
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECS
        while True:
            self._check_running()
            try:
                conn = await HttpConnection.open(self.host, self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start listening in time") from None
                await asyncio.sleep(0.05)
                continue
            try:
                reply = await conn.request(build_request("GET", "/", self.hostport), 10)
            except HttpError:
                # with --workers the supervisor listens before any worker serves: not ready yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not answer GET / in time") from None
                continue
            finally:
                conn.close()
            if reply.status == 200:
                break
        if self.workers > 1:
            await self._wait_workers(deadline)

    def _check_running(self) -> None:
        assert self.process is not None
        code = self.process.exited()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with {code}; see {self.name}-server.log in the results directory")

    async def _wait_workers(self, deadline: float) -> None:
        probes: list[HttpConnection] = []
        answers: list[asyncio.Future[Reply]] = []
        try:
            while True:
                self._check_running()
                for _ in range(PROBE_CONNECTIONS):
                    conn = await HttpConnection.open(self.host, self.port)
                    probes.append(conn)
                    # a probe accepted by a worker still starting answers when it is up
                    answers.append(conn.request(build_request("GET", "/", self.hostport), READY_TIMEOUT_SECS))
                serving = [n for n in self.connections_by_process().values() if n > 0]
                if len(serving) >= self.workers:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name}: only {len(serving)} of {self.workers} workers accepted "
                                       f"connections within {READY_TIMEOUT_SECS:g} s")
                await asyncio.sleep(0.2)
        finally:
            for conn in probes:
                conn.close()
            for answer in answers:
                if answer.done() and not answer.cancelled():
                    answer.exception()  # a probe closed unanswered is expected: retrieved, not raised

    def connections_by_process(self) -> dict[int, int]:
        """pid → established client connections it holds, for every process of the server."""
        assert self.process is not None
        return procstats.established_by_pid(self.process.members(), self.port)

    def sample(self) -> procstats.ProcSample:
        return procstats.sample(self.pid, group=True, services_database=self.services_database,
                                with_services=self.uses_services)

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def stop(self) -> None:
        try:
            if self.process is not None:
                self.process.stop()
        finally:
            self.cleanup()

    # ---- the customer wire (shared) --------------------------------------------------------------

    def authorization(self, client_id: str) -> str:
        return f'MOBILE-API-140-327-PLAIN appId="{APP_ID}", clientId="{client_id}"'

    def create_request(self, client_id: str) -> bytes:
        return build_request("POST", f"/clientweb/api/v2/chats?tenantUrl={TENANT}", self.hostport,
                             [("Authorization", self.authorization(client_id)),
                              ("Content-Type", "application/json")], b'{"parameters":{}}')

    def poll_request(self, chat_id: str, client_id: str, after: int | None = None) -> bytes:
        query = f"tenantUrl={TENANT}" + (f"&after={after}" if after is not None else "")
        return build_request("GET", f"/clientweb/api/v2/chats/{chat_id}/events?{query}", self.hostport,
                             [("Authorization", self.authorization(client_id))])

    def post_events_request(self, chat_id: str, client_id: str, body: bytes) -> bytes:
        return build_request("POST", f"/clientweb/api/v2/chats/{chat_id}/events?tenantUrl={TENANT}", self.hostport,
                             [("Authorization", self.authorization(client_id)),
                              ("Content-Type", "application/json")], body)

    # ---- agents (different) ---------------------------------------------------------------------

    @abstractmethod
    async def prepare_agents(self, pool: ConnectionPool) -> None:
        """Log in and make every agent ready (before chats are created)."""

    @abstractmethod
    async def holdings(self, pool: ConnectionPool, created: dict[str, Any]) -> dict[str, Holding]:
        """chat_id → holding agent, for the chats created so far (``created``: creation answers)."""

    @abstractmethod
    def send_request(self, agent: int, chat_id: str, text: str) -> bytes: ...

    @abstractmethod
    def watch_target(self, agent: int) -> str: ...

    @abstractmethod
    def watch_hello(self, agent: int, cursors: dict[str, int]) -> str: ...


class Frontdesk(System):
    """``frontdesk serve``: one process on the embedded SQLite store in its data directory."""

    tokens: list[str]

    @property
    def data_dir(self) -> Path:
        return self.run_dir / f"{self.name}-data"

    @property
    def config_path(self) -> Path:
        return self.run_dir / f"{self.name}.toml"

    def describe(self) -> str:
        return f"{self.name}: `frontdesk serve`, one process, embedded SQLite (WAL, synchronous=NORMAL) on local disk"

    def server_lines(self) -> tuple[str, ...]:
        """More ``[server]`` options of this system's configuration."""
        return ()

    def prepare(self) -> None:
        from frontdesk.domain.ids import hash_password

        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.config_path.write_text(frontdesk_config(self.port, self.hold_secs, self.agents,
                                                     hash_password(AGENT_PASSWORD), self.server_lines()),
                                    encoding="utf-8")

    def command(self) -> list[str]:
        script = Path(sys.executable).with_name("frontdesk")
        program = [str(script)] if script.exists() else [sys.executable, "-m", "frontdesk"]
        return [*program, "serve", "--config", str(self.config_path), "--data-dir", str(self.data_dir)]

    def cleanup(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)

    async def _call(self, pool: ConnectionPool, method: str, path: str, token: str = "",
                    body: Any = None) -> Any:
        headers = [("Content-Type", "application/json")]
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        conn = await pool.acquire()
        try:
            reply = await conn.request(build_request(method, f"/agent/api/v1{path}", self.hostport, headers,
                                                     orjson.dumps(body) if body is not None else b""), 60)
        finally:
            pool.release(conn)
        if reply.status != 200:
            raise HttpError(f"{method} {path}: HTTP {reply.status} {reply.body[:200]!r}")
        return orjson.loads(reply.body)

    async def prepare_agents(self, pool: ConnectionPool) -> None:
        async def one(i: int) -> str:
            answer = await self._call(pool, "POST", "/login", body={"username": agent_username(i),
                                                                    "password": AGENT_PASSWORD, "tenant": TENANT})
            token = str(answer["token"])
            await self._call(pool, "POST", "/state", token, {"state": "ready"})
            return token

        self.tokens = list(await asyncio.gather(*(one(i) for i in range(self.agents))))

    async def holdings(self, pool: ConnectionPool, created: dict[str, Any]) -> dict[str, Holding]:
        result: dict[str, Holding] = {}

        async def one(i: int) -> None:
            for chat in await self._call(pool, "GET", "/chats", self.tokens[i]):
                result[chat["chat_id"]] = Holding(i, int(chat["last_seq"]))

        await asyncio.gather(*(one(i) for i in range(self.agents)))
        return result

    def send_request(self, agent: int, chat_id: str, text: str) -> bytes:
        return build_request("POST", f"/agent/api/v1/chats/{chat_id}/messages", self.hostport,
                             [("Authorization", f"Bearer {self.tokens[agent]}"), ("Content-Type", "application/json")],
                             orjson.dumps({"text": text}))

    def watch_target(self, agent: int) -> str:
        return f"/agent/api/v1/ws?token={self.tokens[agent]}"

    def watch_hello(self, agent: int, cursors: dict[str, int]) -> str:
        return orjson.dumps({"type": "hello", "cursors": cursors}).decode()


@dataclass
class FrontdeskCluster(Frontdesk):
    """``frontdesk serve`` on PostgreSQL + Redis: the deployment of several processes, here on one
    machine with ``--workers`` (one process when ``workers`` is 1). The database and the Redis key
    prefix are this system's own, made in :meth:`prepare` and removed in :meth:`cleanup`."""

    services: ServiceUrls = field(default_factory=ServiceUrls)
    database: Database | None = None
    redis: RedisKeys | None = None
    analyzer: Analyzer | None = None

    @property
    def services_database(self) -> str | None:
        return self.database.name if self.database is not None else None

    @property
    def uses_services(self) -> bool:
        return True

    def describe(self) -> str:
        processes = "one process" if self.workers == 1 else f"`--workers {self.workers}`"
        analyzed = (f"; the machine's PostgreSQL has autovacuum off, so the harness ran `ANALYZE` on the run's "
                    f"database every {self.analyzer.every_secs:g} s in its stead") if self.analyzer is not None else ""
        return (f"{self.name}: `frontdesk serve` {processes} on PostgreSQL (`database_url`, a database made for "
                f"this run) and Redis (`redis_url`, a key prefix of this run){analyzed}")

    def server_lines(self) -> tuple[str, ...]:
        assert self.database is not None and self.redis is not None
        return (f'database_url = "{self.database.url}"', f'redis_url = "{self.services.redis_url}"',
                f'redis_prefix = "{self.redis.prefix}"')

    def prepare(self) -> None:
        label = self.name.removeprefix("frontdesk-")
        self.redis = RedisKeys(self.services, unique_name(label).replace("_", ":") + ":")
        self.redis.check()
        self.database = Database(self.services, unique_name(label))
        self.database.create()
        if not self.database.autovacuum_on():
            self.analyzer = Analyzer(self.database)
            self.analyzer.start()
        super().prepare()

    def command(self) -> list[str]:
        workers = ["--workers", str(self.workers)] if self.workers > 1 else []
        return [*super().command(), *workers]

    def cleanup(self) -> None:
        try:
            if self.analyzer is not None:
                self.analyzer.stop()
                self.extra["analyze_runs"] = self.analyzer.runs
            super().cleanup()
            if self.redis is not None:
                self.extra["redis_keys_deleted"] = self.redis.delete_all()
        finally:
            if self.database is not None:
                self.database.drop()


class Baseline(System):
    def describe(self) -> str:
        return (f"{self.name}: `bench/baseline.py`, a raw ASGI long-poll app with in-memory lists on the same "
                "uvicorn settings")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.baseline", "--host", self.host, "--port", str(self.port),
                "--hold-secs", str(self.hold_secs), "--agents", str(self.agents)]

    def environment(self) -> dict[str, str]:
        # ``python -m bench.baseline`` must find the bench package from the server's working directory
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                          env.get("PYTHONPATH", "")]))
        return env

    async def prepare_agents(self, pool: ConnectionPool) -> None:
        return None

    async def holdings(self, pool: ConnectionPool, created: dict[str, Any]) -> dict[str, Holding]:
        return {chat_id: Holding(int(answer["agent"])) for chat_id, answer in created.items()}

    def send_request(self, agent: int, chat_id: str, text: str) -> bytes:
        return build_request("POST", f"/bench/agent/chats/{chat_id}/messages?agent={agent}", self.hostport,
                             [("Content-Type", "application/json")], orjson.dumps({"text": text}))

    def watch_target(self, agent: int) -> str:
        return f"/bench/agent/ws?agent={agent}"

    def watch_hello(self, agent: int, cursors: dict[str, int]) -> str:
        return '{"type":"hello","cursors":{}}'
