"""The login throttle over real HTTP: refused logins per account and per client address answer
429 with Retry-After until the window ends (on the fake clock); concurrent guesses cannot slip past
an account's bound, while many agents behind one address still log in at once; refusals are logged
without the password; password hashing runs off the event loop, so other requests are served
meanwhile."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import replace

import httpx
import pytest

from frontdesk.client import AgentClient
from frontdesk.domain import access as access_module
from frontdesk.domain.config import AgentConfig
from frontdesk.domain.ids import hash_password, verify_password
from frontdesk.domain.login_throttle import ACCOUNT_MAX_FAILURES, ADDRESS_MAX_FAILURES, WINDOW_SECS
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME, DEMO_TENANT, Settings, demo_contact_center
from tests.conftest import LiveServer, StartServer


async def login(live: LiveServer, http: httpx.AsyncClient, password: str, username: str = DEMO_AGENT_USERNAME,
                path: str = "login") -> httpx.Response:
    return await http.post(f"{live.base_url}/agent/api/v1/{path}", json={"username": username, "password": password})


def assert_throttled(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= WINDOW_SECS
    assert response.json() == {"detail": f"Too many login attempts; try again in {retry_after} s"}
    return retry_after


async def test_wrong_passwords_lock_the_account_even_for_the_right_one_until_the_window_ends(
        live: LiveServer, http: httpx.AsyncClient) -> None:
    for _ in range(ACCOUNT_MAX_FAILURES):
        assert (await login(live, http, "wrong")).status_code == 401
    retry_after = assert_throttled(await login(live, http, DEMO_AGENT_PASSWORD))
    assert retry_after == WINDOW_SECS
    assert_throttled(await login(live, http, DEMO_AGENT_PASSWORD, path="session"))  # browsers alike
    assert (await login(live, http, "wrong", username="nobody")).status_code == 401  # per account
    await live.advance(WINDOW_SECS / 2)
    assert assert_throttled(await login(live, http, DEMO_AGENT_PASSWORD)) == WINDOW_SECS / 2
    await live.advance(WINDOW_SECS / 2)
    assert (await login(live, http, DEMO_AGENT_PASSWORD)).status_code == 200


async def test_a_right_password_starts_the_account_count_again(live: LiveServer, http: httpx.AsyncClient) -> None:
    for _ in range(3):
        for _ in range(ACCOUNT_MAX_FAILURES - 1):
            assert (await login(live, http, "wrong")).status_code == 401
        assert (await login(live, http, DEMO_AGENT_PASSWORD)).status_code == 200


async def test_an_address_is_throttled_across_accounts_at_a_higher_bound(live: LiveServer,
                                                                        http: httpx.AsyncClient) -> None:
    assert ADDRESS_MAX_FAILURES > ACCOUNT_MAX_FAILURES
    for i in range(ADDRESS_MAX_FAILURES):  # one wrong guess per account: no account reaches its bound
        assert (await login(live, http, "wrong", username=f"user{i}")).status_code == 401
    assert_throttled(await login(live, http, DEMO_AGENT_PASSWORD))  # an account never guessed, same address
    await live.advance(WINDOW_SECS)
    assert (await login(live, http, DEMO_AGENT_PASSWORD)).status_code == 200


async def test_many_agents_behind_one_address_log_in_at_the_same_moment(start_server: StartServer,
                                                                       http: httpx.AsyncClient) -> None:
    demo = demo_contact_center()
    password_hash = hash_password("pw-team")
    team = tuple(AgentConfig(username=f"agent{i}", password_hash=password_hash, first_name=f"Agent {i}",
                             last_name="", display_name=f"Agent {i}") for i in range(ADDRESS_MAX_FAILURES + 5))
    tenant = replace(demo.tenants[DEMO_TENANT], agents=team)
    live = await start_server(settings=Settings(contact_center=replace(demo, tenants={DEMO_TENANT: tenant})))
    answers = await asyncio.gather(*(login(live, http, "pw-team", username=a.username) for a in team))
    assert [a.status_code for a in answers] == [200] * len(team)


async def test_concurrent_guesses_cannot_slip_past_the_bound(live: LiveServer, http: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(*(login(live, http, f"guess-{i}") for i in range(3 * ACCOUNT_MAX_FAILURES)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * ACCOUNT_MAX_FAILURES + [429] * (2 * ACCOUNT_MAX_FAILURES)


async def test_refused_logins_are_logged_without_the_password(live: LiveServer, http: httpx.AsyncClient,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="frontdesk")
    for _ in range(ACCOUNT_MAX_FAILURES):
        await login(live, http, "hunter2-secret")
    await login(live, http, DEMO_AGENT_PASSWORD)
    refusals = [r for r in caplog.records if r.levelno == logging.WARNING and "login refused" in r.getMessage()]
    assert len(refusals) == ACCOUNT_MAX_FAILURES + 1
    assert all(DEMO_AGENT_USERNAME in r.getMessage() for r in refusals)
    assert "throttled" in refusals[-1].getMessage()
    good = await login(live, http, DEMO_AGENT_PASSWORD, username=DEMO_AGENT_USERNAME.upper())
    assert good.status_code == 401
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "hunter2-secret" not in text and DEMO_AGENT_PASSWORD not in text


async def test_password_hashing_runs_off_the_event_loop(live: LiveServer, http: httpx.AsyncClient,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A login whose hash cannot finish until the test says so: the server answers another
    request meanwhile. Were the hash on the event loop, nothing else could run until its wait gave
    up, and the wait would report that nobody released it."""
    async with AgentClient(live.base_url) as script:
        await script.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        started, release = threading.Event(), threading.Event()
        released: list[bool] = []
        real_verify = verify_password

        def held_verify(password: str, stored: str) -> bool:
            started.set()
            released.append(release.wait(timeout=10))
            return real_verify(password, stored)

        monkeypatch.setattr(access_module, "verify_password", held_verify)
        pending = asyncio.ensure_future(login(live, http, DEMO_AGENT_PASSWORD))
        assert await asyncio.to_thread(started.wait, 10)
        assert await script.offers() == []  # served while the login's hash is still running
        release.set()
        assert (await pending).status_code == 200
        assert released == [True]
