"""The composition root: builds storage, bus, clock, services and routes from ``Settings``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from frontdesk import __version__
from frontdesk.agents.api import AgentApi, build_agent_app
from frontdesk.agents.handoff_api import HandoffApi
from frontdesk.agents.message_route import MessageRoute
from frontdesk.agents.supervisor_api import overview_body
from frontdesk.api.customer import ANY_METHOD, CustomerApi, LongPollRoute, build_customer_routes
from frontdesk.api.middleware import BodySizeLimit, CollapseSlashes, CustomerCors
from frontdesk.api.overload import OverloadMonitor, ShedLimits, ShedWhenOverloaded
from frontdesk.api.static import build_static_routes
from frontdesk.api.wire import json_error, json_ok
from frontdesk.bus.interfaces import CONFIG_TOPIC, EVERY_TOPIC, Bus, ChatLocks, Presence
from frontdesk.bus.local import LocalBus, LocalChatLocks, LocalPresence
from frontdesk.bus.redis import RedisBus, RedisLink
from frontdesk.bus.redis_locks import RedisChatLocks
from frontdesk.bus.redis_presence import RENEW_SECS, RedisPresence
from frontdesk.delivery.agent_stream import AgentStream
from frontdesk.delivery.longpoll import CustomerPolls
from frontdesk.delivery.notifier import Notifier
from frontdesk.delivery.supervisor_feed import SupervisorFeed
from frontdesk.domain.access import AccessService
from frontdesk.domain.agents import AgentService
from frontdesk.domain.clock import Clock, SystemClock
from frontdesk.domain.config import LiveConfig
from frontdesk.domain.customers import CustomerService
from frontdesk.domain.files import MAX_UPLOAD_BYTES, FileService
from frontdesk.domain.gauges import live_chats, queue_rows
from frontdesk.domain.handoffs import HandoffService
from frontdesk.domain.journal import Journal
from frontdesk.domain.left_messages import LeftMessageService
from frontdesk.domain.reports import ReportService
from frontdesk.domain.supervision import SupervisorService
from frontdesk.domain.timers import TimerService
from frontdesk.observability.access import AccessLog
from frontdesk.observability.health import Probes
from frontdesk.observability.logs import ensure_configured, get_logger
from frontdesk.observability.metrics import Metrics
from frontdesk.protocol.errors import ApiError, ErrorCode
from frontdesk.reload import ConfigAdmin, adopt_applied_config, follow_applied_config
from frontdesk.settings import Settings
from frontdesk.storage.blobs import LocalBlobStore
from frontdesk.storage.interfaces import Storage
from frontdesk.storage.postgres.store import PostgresStorage
from frontdesk.storage.sqlite.store import SqliteStorage

log = get_logger(__name__)

AGENT_MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # a 25 MB file plus its multipart framing
READY_TIMEOUT_SECS = 2.0  # a storage that does not answer /readyz's check within this is not ready


@dataclass
class Frontdesk:
    """One assembled server: its services and its ASGI application."""

    settings: Settings
    clock: Clock
    storage: Storage
    notifier: Notifier
    customers: CustomerService
    agents: AgentService
    access: AccessService
    files: FileService
    timers: TimerService
    live: LiveConfig
    polls: CustomerPolls
    supervisor_feed: SupervisorFeed
    bus: Bus
    presence: Presence
    stream: AgentStream
    metrics: Metrics
    overload: OverloadMonitor
    asgi: ASGIApp = field(init=False)
    draining: bool = False
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    applied_version: int = 0  # of the stored applied configuration (frontdesk.reload)
    _config_notice: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> list[asyncio.Task[None]]:
        await self.storage.open()
        await adopt_applied_config(self)
        await self.bus.start()
        await self.presence.start()
        await self.agents.provision()
        self.overload.start()
        self.metrics.seed_chats(await live_chats(self.agents.journal, self.live.current))
        if self.settings.timers_enabled:
            self._tasks.append(asyncio.ensure_future(self.timers.run(self._stop)))
        if self.bus.cross_process:
            self._tasks.append(asyncio.ensure_future(self.notifier.run_rechecks(self._stop)))
            self._tasks.append(asyncio.ensure_future(self._release_lapsed_agents()))
            self._tasks.append(asyncio.ensure_future(self._follow_config()))
        return list(self._tasks)

    def on_config_notice(self, topic: str, seq: int) -> None:
        """A bus listener: another process may have applied a configuration."""
        if topic == EVERY_TOPIC or (topic == CONFIG_TOPIC and seq > self.applied_version):
            self._config_notice.set()

    async def _follow_config(self) -> None:
        """Run the configurations other processes apply: on their notice, and every
        ``bus_recheck_secs`` without one (a lost notice costs at most that long)."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._config_notice.wait(), timeout=self.settings.bus_recheck_secs)
            self._config_notice.clear()
            if self._stop.is_set():
                return
            try:
                await follow_applied_config(self)
            except Exception:
                log.exception("following the applied configuration failed")

    async def _release_lapsed_agents(self) -> None:
        """Every ``RENEW_SECS``: agents whose process died (their presence leases ran out) get
        their "agent lost" timer."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=RENEW_SECS)
            if self._stop.is_set():
                return
            try:
                await self.stream.release_lapsed()
            except Exception:
                log.exception("releasing the agents of a lost process failed")

    def begin_drain(self) -> None:
        """Shutdown begins: ``/readyz`` answers 503 from now on and every held poll is answered
        ``{"events": []}`` at once (new ones too)."""
        if not self.draining:
            self.draining = True
            log.info("draining: held polls answered, not ready", held_polls=self.polls.held)
        self.polls.drain()

    async def not_ready(self) -> list[str]:
        """Why the server should get no work now (``/readyz``); empty when it is ready."""
        reasons = []
        if self.draining:
            reasons.append("draining: the server is shutting down")
        try:
            problem = await asyncio.wait_for(self.storage.ready(), READY_TIMEOUT_SECS)
        except TimeoutError:
            problem = f"storage: no answer within {READY_TIMEOUT_SECS:g} s"
        if problem:
            reasons.append(problem)
        if any(task.done() for task in self._tasks):
            reasons.append("background: a background task (timers, agent release) has stopped")
        return reasons

    async def scrape(self) -> bytes:
        """The metrics text, with the queue gauges read now."""
        self.metrics.set_queues(await queue_rows(self.agents.journal, self.live.current))
        return self.metrics.render()

    async def stop(self, tasks: list[asyncio.Task[None]]) -> None:
        self._stop.set()
        self._config_notice.set()  # _follow_config waits for a notice (or bus_recheck_secs): stop now
        self.begin_drain()
        self.overload.stop()
        await self.supervisor_feed.close()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.presence.close()
        await self.bus.close()
        if self.link is not None:
            await self.link.close()
        await self.storage.close()

    @property
    def link(self) -> RedisLink | None:
        return self.bus.link if isinstance(self.bus, RedisBus) else None


def build_storage(settings: Settings) -> Storage:
    """The backend the settings choose: PostgreSQL for a ``database_url``, else the embedded SQLite
    database in ``data_dir``."""
    if settings.database_url:
        return PostgresStorage(settings.database_url)
    return SqliteStorage(settings.data_dir / "frontdesk.sqlite3", synchronous=settings.sqlite_synchronous)


def build_app(settings: Settings, clock: Clock | None = None) -> Frontdesk:
    ensure_configured()
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = build_storage(settings)
    link = RedisLink(settings.redis_url, settings.redis_prefix) if settings.redis_url else None
    bus: Bus = RedisBus(link) if link else LocalBus()
    locks: ChatLocks = RedisChatLocks(link) if link else LocalChatLocks()
    presence: Presence = RedisPresence(link) if link else LocalPresence()
    notifier = Notifier(settings.bus_recheck_secs if bus.cross_process else None)
    bus.add_listener(notifier.wake)
    metrics = Metrics()
    overload = OverloadMonitor(ShedLimits(settings.shed_loop_lag_secs, settings.shed_queue_age_secs,
                                          settings.shed_delivery_lag_secs), metrics, notifier.woken_at)
    journal = Journal(storage, bus, clock, metrics)
    live = LiveConfig(settings.contact_center)
    config = live.current
    customers = CustomerService(journal, live)
    agents = AgentService(journal, live)
    access = AccessService(journal, live, settings.token_ttl_secs, settings.password_hash_cost)
    max_files = min((t.max_stored_files for t in config.tenants.values()), default=1000)
    files = FileService(journal, LocalBlobStore(settings.files_dir or settings.data_dir / "files"), max_files)
    timers = TimerService(journal, live, access, presence)
    polls = CustomerPolls(customers, notifier, settings.poll_hold_secs, locks,
                          announce=bus.publish if bus.cross_process else None)
    bus.add_listener(polls.on_notice)
    stream = AgentStream(agents, notifier, presence)
    supervision = SupervisorService(journal, live)
    supervisor_feed = SupervisorFeed(notifier, lambda tenant: overview_body(supervision, tenant))
    server = Frontdesk(settings=settings, clock=clock, storage=storage, notifier=notifier, customers=customers,
                       agents=agents, access=access, files=files, timers=timers, live=live, polls=polls,
                       supervisor_feed=supervisor_feed, bus=bus, presence=presence, stream=stream,
                       metrics=metrics, overload=overload)
    probes = Probes(server.not_ready, server.scrape)

    customer_routes = build_customer_routes(CustomerApi(live=live, customers=customers, polls=polls,
                                                        files=files, server_version=__version__,
                                                        cookie_secure=settings.cookie_secure,
                                                        poll_deadline=overload.poll_deadline))
    agent_app = build_agent_app(AgentApi(live=live, agents=agents, access=access, files=files,
                                         stream=stream, notifier=notifier,
                                         version=__version__, cookie_secure=settings.cookie_secure,
                                         admin=ConfigAdmin(server),
                                         handoffs=HandoffApi(agents, HandoffService(journal, live),
                                                             LeftMessageService(journal)),
                                         supervision=supervision, supervisor_feed=supervisor_feed,
                                         reports=ReportService(journal, live)))

    async def unknown_method(request: Request) -> Response:
        return json_error(ApiError(ErrorCode.UNSPECIFIED, "No such API method", status=404))

    async def index(request: Request) -> Response:
        return json_ok({"name": "frontdesk", "version": __version__, "customer_api": "/clientweb/api/v1/",
                        "agent_api": "/agent/api/v1/", "agent_api_docs": "/agent/api/v1/docs",
                        "demo_site": "/", "widget": "/widget.js", "agent_desktop": "/agent",
                        "supervisor_view": "/supervisor"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = await server.start()
        try:
            yield
        finally:
            await server.stop(tasks)

    starlette = Starlette(
        routes=[
            # first: every agent request (a message is one) is matched at once, not after the customer
            # routes; no other route matches a path under /agent/api/v1 (tests/test_route_order.py)
            Mount("/agent/api/v1", app=BodySizeLimit(MessageRoute(agent_app, agents, access), AGENT_MAX_BODY_BYTES)),
            Route("/api", index, methods=["GET"]),
            # outside /clientweb and /agent: no CORS, no tenant, no authentication (docs/operations.md)
            Route("/healthz", probes.healthz),
            Route("/readyz", probes.readyz),
            Route("/metrics", probes.metrics),
            *customer_routes,
            Route("/clientweb/{rest:path}", unknown_method, methods=list(ANY_METHOD)),
            *build_static_routes(),
        ],
        lifespan=lifespan,
    )
    bus.add_listener(server.on_config_notice)
    # polls go straight to their endpoint (never shed); everything else passes the overload guard
    shedding = ShedWhenOverloaded(starlette, overload)
    server.asgi = AccessLog(CollapseSlashes(CustomerCors(LongPollRoute(shedding, customer_routes), live)))
    return server
