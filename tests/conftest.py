"""Test fixtures: a real frontdesk server on a real port, in the test's event loop, on a fake clock."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from frontdesk.app import Frontdesk, build_app
from frontdesk.client import AgentClient, CustomerClient
from frontdesk.domain.clock import FakeClock
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.domain.ids import hash_password
from frontdesk.server import make_server
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME, Settings, demo_contact_center
from tests import pg

TEST_HOLD_SECS = 0.25  # an idle poll's real hold: short, tests wait for it
# Test servers shed load only far beyond the defaults: a test's client shares the server's event loop,
# on a machine other work loads too; tests/test_overload.py injects the signals it tests with
TEST_SHED_LOOP_LAG_SECS = 5.0
TEST_SHED_QUEUE_AGE_SECS = 30.0
TEST_SHED_DELIVERY_LAG_SECS = 30.0
# FRONTDESK_TEST_DATABASE=postgres: the servers the tests start keep their data in the local
# PostgreSQL (a schema per data directory) instead of SQLite; tests marked sqlite_only keep SQLite
TEST_DATABASE = os.environ.get("FRONTDESK_TEST_DATABASE", "sqlite")
# scrypt N = 2**4 for the demo agent and unknown usernames: logins and server starts cost
# microseconds, not a cheap-to-verify production hash (no file or flag can set this)
TEST_PASSWORD_COST = 4


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of this test session's own PostgreSQL database (tests/pg.py), dropped at the end."""
    url = pg.create_database()
    try:
        yield url
    finally:
        pg.drop_database(url)


@pytest.fixture
async def pg_url(pg_database: str) -> str:
    """A URL of the session's database whose connections use a fresh schema of their own."""
    return await pg.new_schema(pg_database)


@pytest.fixture(scope="session")
def demo_config() -> ContactCenterConfig:
    return demo_contact_center(password_cost=TEST_PASSWORD_COST)


@dataclass
class LiveServer:
    """A running server: its services (for the fake clock and timers) and its base URL."""

    frontdesk: Frontdesk
    clock: FakeClock
    base_url: str
    data_dir: Path
    stop: Callable[[], Awaitable[None]]

    def customer(self, client_id: str = "device-1", version: str = "v2", **kwargs: object) -> CustomerClient:
        return CustomerClient(self.base_url, app_id="demo", client_id=client_id, tenant_url="demo.local",
                              version=version, **kwargs)  # type: ignore[arg-type]

    async def agent(self, ready: bool = True) -> AgentClient:
        agent = AgentClient(self.base_url)
        await agent.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        if ready:
            await agent.set_state("ready")
        return agent

    async def advance(self, secs: float) -> int:
        """Move the fake clock and fire the timers that fell due; returns how many fired."""
        self.clock.advance(secs)
        return await self.frontdesk.timers.fire_due()


def cheap_hash(password: str) -> str:
    """A password hash at the tests' scrypt cost (``TEST_PASSWORD_COST``)."""
    return hash_password(password, cost=TEST_PASSWORD_COST)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


StartServer = Callable[..., Awaitable[LiveServer]]


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DATABASE not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"FRONTDESK_TEST_DATABASE must be sqlite or postgres, not {TEST_DATABASE!r}")
    config.addinivalue_line("markers", "sqlite_only: measures the SQLite backend itself (kept on "
                                       "FRONTDESK_TEST_DATABASE=postgres)")


@pytest.fixture
async def start_server(request: pytest.FixtureRequest, tmp_path: Path,
                       demo_config: ContactCenterConfig) -> AsyncIterator[StartServer]:
    """Start (and on teardown stop) servers; call again with the same data_dir (and ``port``, for
    clients that reconnect to the same address) to 'restart' (on PostgreSQL: the same schema)."""
    running: list[tuple[object, object]] = []
    database = ""
    if TEST_DATABASE == "postgres" and request.node.get_closest_marker("sqlite_only") is None:
        database = request.getfixturevalue("pg_database")
    schemas: dict[Path, str] = {}  # data directory → the URL of its schema

    async def start(data_dir: Path | None = None, settings: Settings | None = None,
                    clock: FakeClock | None = None, port: int | None = None) -> LiveServer:
        import asyncio

        base = settings or Settings(contact_center=demo_config)
        chosen = replace(base, data_dir=data_dir or tmp_path / "data", poll_hold_secs=base.poll_hold_secs
                         if settings else TEST_HOLD_SECS, timers_enabled=False, port=port or free_port(),
                         password_hash_cost=TEST_PASSWORD_COST,
                         shed_loop_lag_secs=max(base.shed_loop_lag_secs, TEST_SHED_LOOP_LAG_SECS),
                         shed_queue_age_secs=max(base.shed_queue_age_secs, TEST_SHED_QUEUE_AGE_SECS),
                         shed_delivery_lag_secs=max(base.shed_delivery_lag_secs, TEST_SHED_DELIVERY_LAG_SECS))
        if database and not chosen.database_url:
            if chosen.data_dir not in schemas:
                schemas[chosen.data_dir] = await pg.new_schema(database)
            chosen = replace(chosen, database_url=schemas[chosen.data_dir])
        fake = clock or FakeClock()
        frontdesk = build_app(chosen, clock=fake)
        server = make_server(frontdesk, "127.0.0.1", chosen.port, log_level="warning")
        task = asyncio.ensure_future(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        running.append((server, task))
        return LiveServer(frontdesk, fake, f"http://127.0.0.1:{chosen.port}", chosen.data_dir,
                          stop=lambda: _stop(server, task))

    async def _stop(server: object, task: object) -> None:
        import asyncio

        assert isinstance(task, asyncio.Future)
        if task.done():
            return
        server.should_exit = True  # type: ignore[attr-defined]
        await task

    yield start
    for server, task in reversed(running):
        await _stop(server, task)


@pytest.fixture
def restore_root_level() -> Iterator[None]:
    """The root logger's level is put back after the test (``configure_logging`` sets it)."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.fixture
async def live(start_server: StartServer) -> LiveServer:
    return await start_server()


@pytest.fixture
async def anna(live: LiveServer) -> AsyncIterator[AgentClient]:
    """The demo agent, signed in to ``live`` and ready."""
    agent = await live.agent()
    try:
        yield agent
    finally:
        await agent.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client
