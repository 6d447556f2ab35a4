"""The supervisor view's browser tests share this: a server whose demo tenant has an agent (bob) and a
supervisor (sue) besides the demo admin, and signing in to ``/supervisor`` as a person would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from playwright.async_api import Page, expect

from frontdesk.client import AgentClient
from frontdesk.settings import Settings
from tests.conftest import LiveServer, StartServer
from tests.test_supervision import team_config

TIMEOUT_MS = 15_000  # generous: the machine is shared


@dataclass
class Team:
    live: LiveServer
    bob: AgentClient

    @property
    def base_url(self) -> str:
        return self.live.base_url


@pytest.fixture
async def live(start_server: StartServer) -> LiveServer:
    """Replaces the demo server of ``tests/conftest.py`` in the supervisor tests (the ``page`` fixture
    opens this one): the demo tenant with bob and sue."""
    return await start_server(settings=replace(Settings(contact_center=team_config()), poll_hold_secs=0.3))


@pytest.fixture
async def team(live: LiveServer) -> AsyncIterator[Team]:
    bob = AgentClient(live.base_url)
    await bob.login(*BOB)
    try:
        yield Team(live, bob)
    finally:
        await bob.aclose()


SUE = ("sue", "pw-sue")  # the supervisor of team_config (username, password)
BOB = ("bob", "pw-bob")  # an agent, not a supervisor


async def sign_in(page: Page, who: tuple[str, str] = SUE) -> None:
    """Open the supervisor view and sign in through its form."""
    username, password = who
    await page.goto("/supervisor")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def sign_in_live(page: Page) -> None:
    """Sign in as the supervisor and wait until the live overview arrived over the push stream."""
    await sign_in(page)
    await expect(page.locator("[data-status=live]")).to_be_visible(timeout=TIMEOUT_MS)
