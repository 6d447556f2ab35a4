"""Overload shedding (frontdesk.api.overload) over real HTTP against the real server, with the overload
signal injected (a fake loop-lag source and clock on the server's monitor), never a slow machine:
new chats and sends are refused with the documented answers while overloaded and accepted again
after; polls are still answered; a refused send commits nothing; a poll answer reached too late is
answered empty and moves no cursor; a poll answer written long after its wake-up counts as delivery lag,
and a sustained delivery lag sheds; the metrics move."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from frontdesk.api.overload import (
    DELIVERY_QUORUM,
    LAG_SAMPLE_SECS,
    LAG_WINDOW_SECS,
    LATE_POLL_SECS,
    MIN_SHED_SECS,
    SUSTAINED_SAMPLES,
    DeliveryLag,
    LoadInProgress,
    LoopLag,
    OverloadMonitor,
    ShedLimits,
    load_kind,
)
from frontdesk.client import AgentClient
from frontdesk.observability.metrics import Metrics
from tests.conftest import LiveServer
from tests.test_longpoll import wait_until

AUTH = {"Authorization": 'MOBILE-API-140-327-PLAIN appId="demo", clientId="shed-1"'}
PARAMS = {"tenantUrl": "demo.local"}
ORIGIN = {"Origin": "http://localhost:5173"}  # the demo entry allows localhost on any port
LIMITS = ShedLimits(shed_loop_lag_secs=0.5, shed_queue_age_secs=2.0, shed_delivery_lag_secs=0.5)


class Signals:
    """The monitor's lag source and clock, set by the test: ``sustained_secs`` is the lag the shedding
    follows, ``largest_secs`` the one a poll's arrival is estimated back by."""

    def __init__(self, monitor: OverloadMonitor) -> None:
        self.monitor = monitor
        self.limit = monitor.limits.shed_loop_lag_secs
        self.sustained_secs = self.largest_secs = 0.0
        self.clock = 1000.0
        monitor.lag = self
        monitor.now = lambda: self.clock

    def largest(self) -> float:
        return self.largest_secs

    def sustained(self) -> float:
        return self.sustained_secs

    def overload(self, times_the_limit: float = 2.0) -> None:
        self.sustained_secs = self.largest_secs = self.limit * times_the_limit
        self.monitor.update()

    def recover(self) -> None:
        self.sustained_secs = self.largest_secs = 0.0
        self.clock += MIN_SHED_SECS
        self.monitor.update()


@pytest.fixture
async def signals(live: LiveServer) -> Signals:
    return Signals(live.frontdesk.overload)


async def new_chat(http: httpx.AsyncClient, live: LiveServer) -> httpx.Response:
    return await http.post(f"{live.base_url}/clientweb/api/v2/chats", params=PARAMS, headers={**AUTH, **ORIGIN},
                           json={"parameters": {"first_name": "Ada"}})


async def connected(http: httpx.AsyncClient, live: LiveServer, anna: AgentClient) -> str:
    answer = await new_chat(http, live)
    assert answer.status_code == 200
    chat_id = str(answer.json()["chat_id"])
    await anna.accept(chat_id)
    return chat_id


def customer_texts(events: list[dict[str, Any]]) -> list[Any]:
    return [e.get("msg_text") for e in events if e.get("event") == "chat_session_message"]


def agent_texts(entries: list[dict[str, Any]]) -> list[Any]:
    return customer_texts([entry["event"] for entry in entries])


def metric(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.rsplit(" ", 1)[1])


async def test_an_overloaded_server_refuses_new_chats_and_sends_and_takes_them_again_after(
        live: LiveServer, http: httpx.AsyncClient, anna: AgentClient, signals: Signals) -> None:
    chat_id = await connected(http, live, anna)
    customer_events = f"{live.base_url}/clientweb/api/v2/chats/{chat_id}/events"
    agent_send = f"{live.base_url}/agent/api/v1/chats/{chat_id}/messages"
    bearer = {"Authorization": f"Bearer {anna.token}"}
    before = (await anna.chat(chat_id))["last_seq"]

    signals.overload()
    signals.largest_secs = 0.0  # (a lag this long would also make the poll below too late to answer)
    chat = await new_chat(http, live)
    assert chat.status_code == 503
    assert chat.json() == {"error_code": "5001", "error_message": "The server is busy; please try again in a moment"}
    assert chat.headers["retry-after"] == "2"
    assert chat.headers["access-control-allow-origin"] == "http://localhost:5173"  # the widget can read it
    sent = await http.post(customer_events, params=PARAMS, headers=AUTH,
                           json={"events": [{"event": "chat_session_message", "msg": "refused", "msg_id": "1"}]})
    assert (sent.status_code, sent.json()["error_code"], sent.headers["retry-after"]) == (503, "5001", "2")
    refused = await http.post(agent_send, headers=bearer, json={"text": "refused too"})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert "busy" in refused.json()["detail"]

    # what takes load away, and every read, is still served: the poll, the agent's reads, ending a state
    poll = await http.get(customer_events, params=PARAMS, headers=AUTH)
    assert poll.status_code == 200
    assert "chat_session_status" in [e["event"] for e in poll.json()["events"]]
    assert (await anna.chat(chat_id))["last_seq"] == before  # nothing of the refused sends was committed
    assert "refused too" not in agent_texts(await anna.events(chat_id))
    assert (await anna.set_state("ready"))["state"] == "ready"

    signals.recover()
    assert (await new_chat(http, live)).status_code == 200
    assert (await http.post(agent_send, headers=bearer, json={"text": "accepted"})).status_code == 200
    assert "accepted" in agent_texts(await anna.events(chat_id))


async def test_shedding_lasts_until_both_signals_are_calm(live: LiveServer, http: httpx.AsyncClient,
                                                          signals: Signals) -> None:
    signals.overload(times_the_limit=1.0)
    signals.sustained_secs = signals.limit * 0.75  # below the limit, not yet calm
    signals.clock += MIN_SHED_SECS
    signals.monitor.update()
    assert (await new_chat(http, live)).status_code == 503
    signals.recover()
    assert (await new_chat(http, live)).status_code == 200


async def test_the_metrics_count_shed_requests_by_kind_and_show_the_lag(
        live: LiveServer, http: httpx.AsyncClient, anna: AgentClient, signals: Signals) -> None:
    chat_id = await connected(http, live, anna)
    signals.overload(times_the_limit=1.5)
    for _ in range(2):
        assert (await new_chat(http, live)).status_code == 503
    typing = await http.post(f"{live.base_url}/agent/api/v1/chats/{chat_id}/typing",
                             headers={"Authorization": f"Bearer {anna.token}"}, json={"typing": True})
    assert typing.status_code == 503
    text = (await http.get(f"{live.base_url}/metrics")).text
    assert metric(text, 'frontdesk_requests_shed_total{kind="new_chat"}') == 2
    assert metric(text, 'frontdesk_requests_shed_total{kind="agent_send"}') == 1
    assert metric(text, 'frontdesk_requests_shed_total{kind="customer_events"}') == 0
    assert metric(text, "frontdesk_overloaded") == 1
    assert metric(text, "frontdesk_event_loop_lag_seconds") == signals.limit * 1.5
    signals.recover()
    assert metric((await http.get(f"{live.base_url}/metrics")).text, "frontdesk_overloaded") == 0


async def test_a_poll_answer_reached_too_late_is_empty_and_moves_no_cursor(
        live: LiveServer, http: httpx.AsyncClient, anna: AgentClient, signals: Signals) -> None:
    chat_id = await connected(http, live, anna)
    customer = live.customer(client_id="shed-1")
    try:
        while await customer.poll(chat_id):  # take what is waiting; an empty answer: nothing left
            pass
        await anna.send_message(chat_id, "late or not")
        # the loop lags so much that this poll must have waited in the socket and in the ready queue
        # longer than the widget waits for its answer: it answers empty and commits nothing
        signals.largest_secs = LATE_POLL_SECS / 2 + 1
        assert await customer.poll(chat_id) == []
        signals.largest_secs = 0.0
        assert customer_texts(await customer.poll(chat_id)) == ["late or not"]
    finally:
        await customer.aclose()
    assert metric((await http.get(f"{live.base_url}/metrics")).text, "frontdesk_polls_withheld_late_total") == 1


def test_what_is_shed_is_new_work_only() -> None:
    assert load_kind("POST", "/clientweb/api/v1/chats") == "new_chat"
    assert load_kind("POST", "/clientweb/api/v2/chats/c1/events") == "customer_events"
    assert load_kind("POST", "/clientweb/api/v1/files") == "customer_upload"
    assert load_kind("POST", "/agent/api/v1/chats/c1/messages") == "agent_send"
    assert load_kind("POST", "/agent/api/v1/chats/c1/files") == "agent_send"
    for method, path in (("GET", "/clientweb/api/v2/chats/c1/events"), ("GET", "/clientweb/api/v2/chats/c1/history"),
                         ("POST", "/clientweb/api/v2/chats/active"), ("POST", "/agent/api/v1/chats/c1/accept"),
                         ("POST", "/agent/api/v1/chats/c1/end"), ("POST", "/agent/api/v1/state"),
                         ("POST", "/agent/api/v1/login"), ("POST", "/agent/api/v1/chats/c1/transfer")):
        assert load_kind(method, path) is None, (method, path)


def test_the_queue_age_is_that_of_the_quorum_th_oldest_request() -> None:
    now = [0.0]
    queue = LoadInProgress(now=lambda: now[0])
    first = queue.begin()
    now[0] = 1.0
    keys = [queue.begin() for _ in range(3)]
    now[0] = 5.0
    assert queue.age(quorum=4) == 4.0  # one old request alone (stuck on one chat's lock) is not overload
    assert queue.age(quorum=5) == 0.0
    queue.end(first)
    assert queue.age(quorum=3) == 4.0
    for key in keys:
        queue.end(key)
    assert len(queue) == 0 and queue.age() == 0.0


def test_a_long_queue_wait_starts_shedding_without_loop_lag() -> None:
    monitor = OverloadMonitor(LIMITS, Metrics())
    now = [0.0]
    monitor.in_progress = LoadInProgress(now=lambda: now[0])
    monitor.now = lambda: now[0]
    keys = [monitor.in_progress.begin() for _ in range(4)]
    now[0] = 1.9
    monitor.update()
    assert not monitor.shedding
    now[0] = 2.0
    monitor.update()
    assert monitor.shedding
    for key in keys:
        monitor.in_progress.end(key)
    monitor.update()  # calm, but not shedding for MIN_SHED_SECS yet
    assert monitor.shedding
    now[0] = 2.0 + MIN_SHED_SECS
    monitor.update()
    assert not monitor.shedding


async def test_one_stall_of_the_loop_is_not_sustained_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("frontdesk.api.overload.time.monotonic", lambda: clock[0])
    lag = LoopLag()
    lag.start()
    try:
        def tick_after(secs: float) -> None:
            clock[0] += secs
            lag._tick()

        tick_after(LAG_SAMPLE_SECS)
        tick_after(LAG_SAMPLE_SECS + 1.7)  # one long callback stalled the loop once, longer than the window
        assert lag.largest() == pytest.approx(1.7)
        assert lag.sustained() == 0.0
        tick_after(LAG_SAMPLE_SECS)
        assert lag.sustained() == 0.0
        for _ in range(SUSTAINED_SAMPLES):  # behind on turn after turn
            tick_after(LAG_SAMPLE_SECS + 0.6)
        assert lag.sustained() == pytest.approx(0.6)
    finally:
        lag.stop()


async def test_a_poll_answer_counts_its_delivery_lag_from_its_wake_up_and_a_sustained_one_sheds(
        live: LiveServer, http: httpx.AsyncClient, anna: AgentClient) -> None:
    frontdesk = live.frontdesk
    monitor = frontdesk.overload
    clock = [5000.0]  # the notifier's stamps and the monitor's clock, moved by the test only
    monitor.now = frontdesk.notifier.clock = lambda: clock[0]
    monitor.limits = LIMITS
    chat_id = await connected(http, live, anna)
    customer = live.customer(client_id="shed-1")
    try:
        while await customer.poll(chat_id):
            pass
        # the chat's delivery lock keeps the poll from reading until the clock has moved on: it arrives
        # at 5000, is woken at 5005 and its answer is written at 5007, 2 s after its wake-up
        async with frontdesk.polls.delivery_lock(chat_id):
            poll = asyncio.ensure_future(customer.poll(chat_id))
            await wait_until(lambda: frontdesk.polls.held == 1)
            clock[0] = 5005.0
            await anna.send_message(chat_id, "waited for its lock")
            clock[0] = 5007.0
        assert customer_texts(await poll) == ["waited for its lock"]
    finally:
        await customer.aclose()
    assert monitor.delivery.sustained(clock[0]) == 0.0  # one answer: below the quorum
    assert list(monitor.delivery._recent) == [(5007.0, 2.0)]
    for _ in range(DELIVERY_QUORUM - 1):
        monitor.delivery.observe(clock[0], 2.0)
    monitor.update()
    assert monitor.shedding
    assert (await new_chat(http, live)).status_code == 503
    text = (await http.get(f"{live.base_url}/metrics")).text
    assert metric(text, "frontdesk_delivery_lag_seconds") == 2.0
    clock[0] += LAG_WINDOW_SECS + MIN_SHED_SECS  # no answers since: nothing is late any more
    monitor.update()
    assert not monitor.shedding
    assert (await new_chat(http, live)).status_code == 200


def test_the_sustained_delivery_lag_is_the_median_of_the_last_window_above_a_quorum() -> None:
    lags = DeliveryLag()
    for i in range(DELIVERY_QUORUM - 1):
        lags.observe(10.0, 3.0 + i)
    assert lags.sustained(10.0) == 0.0  # a few slow answers (each stuck on its chat's lock) are not overload
    lags.observe(10.0, 0.001)
    assert lags.sustained(10.0) == 3.0 + DELIVERY_QUORUM // 2 - 1  # the median: one fast answer moves it one place
    for _ in range(DELIVERY_QUORUM):
        lags.observe(10.5, 0.002)
    assert lags.sustained(10.5) < 0.01  # most answers are prompt again
    assert lags.sustained(10.0 + LAG_WINDOW_SECS + 0.01) == 0.002  # the first ones left the window
    assert lags.sustained(10.5 + LAG_WINDOW_SECS + 0.01) == 0.0


def test_a_sustained_delivery_lag_starts_shedding_without_loop_lag_or_queue_age() -> None:
    monitor = OverloadMonitor(LIMITS, Metrics())
    now = [0.0]
    monitor.now = lambda: now[0]
    for _ in range(DELIVERY_QUORUM):
        monitor.delivery.observe(now[0], LIMITS.shed_delivery_lag_secs * 0.9)
    monitor.update()
    assert not monitor.shedding
    for _ in range(DELIVERY_QUORUM + 1):
        monitor.delivery.observe(now[0], LIMITS.shed_delivery_lag_secs)
    monitor.update()
    assert monitor.shedding
    now[0] += MIN_SHED_SECS
    for _ in range(3 * DELIVERY_QUORUM):
        monitor.delivery.observe(now[0], LIMITS.shed_delivery_lag_secs * 0.6)  # better, not yet calm
    monitor.update()
    assert monitor.shedding
    for _ in range(6 * DELIVERY_QUORUM):
        monitor.delivery.observe(now[0], LIMITS.shed_delivery_lag_secs * 0.4)
    monitor.update()
    assert not monitor.shedding
