"""The two systems under test, as server processes, and the few requests in which they differ.

Both speak the same customer wire (create a chat, long-poll, post events). Agents differ:
frontdesk's agents log in and hold chats through routing (auto-accept, so a new chat is connected
at once); the baseline's agents are just an index the baseline assigns round-robin.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from bench.loadgen import ConnectionPool, HttpConnection, HttpError, build_request

TENANT = "bench.local"
APP_ID = "bench"
AGENT_PASSWORD = "bench-agent-password"  # noqa: S105 - a throwaway account of a local benchmark server
STOP_TIMEOUT_SECS = 20.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pin_prefix(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def frontdesk_config(port: int, hold_secs: float, agents: int, password_hash: str) -> str:
    """The bench configuration: one tenant, one entry without bot or inactivity timers, and
    auto-accepting agents of 100 chats each."""
    lines = [
        "[server]", 'host = "127.0.0.1"', f"port = {port}", f"poll_hold_secs = {hold_secs}",
        "cookie_secure = false", "",
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
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    # ---- process ----------------------------------------------------------------------------

    @abstractmethod
    def command(self) -> list[str]: ...

    def launch(self, cpu: int | None) -> None:
        """Start the server process (pinned to ``cpu`` with taskset when given)."""
        self.port = free_port(self.host)
        cmd = pin_prefix(cpu) + self.command()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.run_dir / f"{self.name}-server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.run_dir,
                                        env=self.environment(), start_new_session=True)

    async def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see the server log")
            try:
                conn = await HttpConnection.open(self.host, self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start listening in time") from None
                await asyncio.sleep(0.05)
                continue
            try:
                reply = await conn.request(build_request("GET", "/", self.hostport), 10)
            finally:
                conn.close()
            if reply.status == 200:
                return

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

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
    tokens: list[str]

    def command(self) -> list[str]:
        from frontdesk.domain.ids import hash_password

        data_dir = self.run_dir / "frontdesk-data"
        if data_dir.exists():
            shutil.rmtree(data_dir)
        config = self.run_dir / "frontdesk-bench.toml"
        config.write_text(frontdesk_config(self.port, self.hold_secs, self.agents, hash_password(AGENT_PASSWORD)),
                          encoding="utf-8")
        script = Path(sys.executable).with_name("frontdesk")
        program = [str(script)] if script.exists() else [sys.executable, "-m", "frontdesk"]
        return [*program, "serve", "--config", str(config), "--data-dir", str(data_dir)]

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

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.run_dir / "frontdesk-data", ignore_errors=True)

    def send_request(self, agent: int, chat_id: str, text: str) -> bytes:
        return build_request("POST", f"/agent/api/v1/chats/{chat_id}/messages", self.hostport,
                             [("Authorization", f"Bearer {self.tokens[agent]}"), ("Content-Type", "application/json")],
                             orjson.dumps({"text": text}))

    def watch_target(self, agent: int) -> str:
        return f"/agent/api/v1/ws?token={self.tokens[agent]}"

    def watch_hello(self, agent: int, cursors: dict[str, int]) -> str:
        return orjson.dumps({"type": "hello", "cursors": cursors}).decode()


class Baseline(System):
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
