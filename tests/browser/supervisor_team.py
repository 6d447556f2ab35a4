"""The supervisor view's browser tests share this: a server whose demo tenant has an agent (bob) and a
supervisor (sue) besides the demo admin, and signing in to ``/supervisor`` as a person would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from playwright.async_api import Page, ViewportSize, expect

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.settings import Settings
from tests.conftest import LiveServer, StartServer
from tests.test_supervision import team_config

JsonObject = dict[str, Any]
TIMEOUT_MS = 15_000  # generous: the machine is shared
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


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
    if page.viewport_size is not None and page.viewport_size["width"] > 1000:
        await page.set_viewport_size(DESKTOP)  # the desktop screenshots are 1280×800
    await page.goto("/supervisor")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def sign_in_live(page: Page) -> None:
    """Sign in as the supervisor and wait until the live overview arrived over the push stream."""
    await sign_in(page)
    await expect(page.locator("[data-status=live]")).to_be_visible(timeout=TIMEOUT_MS)


async def connected_chat(team: Team, client_id: str, parameters: dict[str, object] | None = None
                         ) -> tuple[CustomerClient, str]:
    """A customer's chat that bob accepted (the customer client is open; the caller closes it)."""
    await team.bob.set_state("ready")
    customer = team.live.customer(client_id=client_id)
    chat_id = str((await customer.request_chat(parameters or {"first_name": "Ada"}))["chat_id"])
    await team.bob.accept(chat_id)
    return customer, chat_id


async def customer_events_until(customer: CustomerClient, chat_id: str, after: int,
                                done: Callable[[JsonObject], bool], timeout: float = 15.0) -> list[JsonObject]:
    """The customer's events after ``after`` (read by polling as the widget does) up to the first for
    which ``done`` is true."""
    seen: list[JsonObject] = []
    async with asyncio.timeout(timeout):
        while True:
            for event in await customer.poll_after(chat_id, after):
                seen.append(event)
                after = max(after, int(event["seq"]))
                if done(event):
                    return seen
