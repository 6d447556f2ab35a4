"""Forcing an agent's state and reading the reports in the supervisor view (Chromium)."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from frontdesk.client import AgentClient
from frontdesk.client.agent import AgentError
from tests.browser.conftest import screenshot
from tests.browser.supervisor_team import SUE, TIMEOUT_MS, Team, connected_chat, live, sign_in_live, team

__all__ = ["live", "team"]  # the fixtures


async def bob_state(team: Team) -> str:
    sue = AgentClient(team.base_url)
    try:
        await sue.login(*SUE)
        overview = await sue.overview()
    finally:
        await sue.aclose()
    return str(next(a["state"] for a in overview["agents"] if a["username"] == "bob"))


async def test_the_supervisor_forces_an_agents_state_and_logs_it_out(page: Page, team: Team) -> None:
    await team.bob.set_state("ready")
    await sign_in_live(page)
    row = page.locator("tr[data-agent=bob]")
    await expect(row.locator("[data-field=state]")).to_have_text("Ready", timeout=TIMEOUT_MS)

    await row.get_by_role("button", name="Make not ready: Bob").click()
    await expect(row.locator("[data-field=state]")).to_have_text("Not ready", timeout=TIMEOUT_MS)
    await expect(page.get_by_role("status").filter(has_text="Bob is now Not ready.")).to_be_visible()
    assert await bob_state(team) == "not_ready"

    await row.get_by_role("button", name="Make ready: Bob").click()
    await expect(row.locator("[data-field=state]")).to_have_text("Ready", timeout=TIMEOUT_MS)
    assert await bob_state(team) == "ready"

    # logging out asks first, then revokes the agent's token
    await row.get_by_role("button", name="Log out: Bob").click()
    await expect(row).to_contain_text("Log Bob out? Their chats go back to the queue.")
    await screenshot(page, "supervisor-agent-logout-confirm")
    await row.get_by_role("group").get_by_role("button", name="Log out").click()
    await expect(row.locator("[data-field=state]")).to_have_text("Logged out", timeout=TIMEOUT_MS)
    assert await bob_state(team) == "logged_out"
    with pytest.raises(AgentError) as refused:
        await team.bob.chats()
    assert refused.value.status == 401
    # a logged-out agent cannot be made ready from here (the API would refuse it with 409)
    await expect(row.get_by_role("button", name="Make ready: Bob")).to_be_disabled()


async def test_the_reports_as_tables_over_a_date_range_with_their_csv(page: Page, team: Team) -> None:
    customer, chat_id = await connected_chat(team, "device-report")
    async with customer:
        await team.live.advance(30)
        await team.bob.end(chat_id)
    await sign_in_live(page)
    await page.get_by_role("button", name="Reports").click()
    # the server's (fake) clock is in November 2023: choose a range around it
    await page.get_by_label("From").fill("2023-11-13")
    await page.get_by_label("To (inclusive)").fill("2023-11-16")
    await page.get_by_role("button", name="Show").click()
    table = page.locator("table[data-report=queues]")
    general = table.locator("tbody tr").filter(has_text="general")
    await expect(general).to_be_visible(timeout=TIMEOUT_MS)
    headers = await table.locator("thead th").all_inner_texts()
    assert headers[:3] == ["Queue", "Offered", "Answered"]
    columns = [await th.get_attribute("data-column") for th in await table.locator("thead th").all()]
    cells = await general.locator("td").all_inner_texts()
    assert cells[:3] == ["general", "1", "1"]
    await screenshot(page, "supervisor-report-queues")

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download CSV").click()
    download = await downloading.value
    assert download.suggested_filename == "queues.csv"
    text = (await asyncio.to_thread(Path(await download.path()).read_bytes)).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["queue_id", "offered", "answered"]
    assert [r[:3] for r in rows[1:] if r[0] == "general"] == [["general", "1", "1"]]
    assert rows[0] == columns  # the table shows the CSV's columns, in its order
    # exactly the report endpoint's own CSV for that range
    sue = AgentClient(team.base_url)
    try:
        await sue.login(*SUE)
        async with httpx.AsyncClient() as http:
            direct = await http.get(download.url, headers={"Authorization": f"Bearer {sue.token}"})
    finally:
        await sue.aclose()
    assert direct.status_code == 200 and direct.text == text

    # the agent report and the survey reports over the same range
    await page.get_by_role("button", name="Agents", exact=True).click()
    bob = page.locator("table[data-report=agents] tbody tr").filter(has_text="demo.local/bob")
    await expect(bob).to_be_visible(timeout=TIMEOUT_MS)
    agent_headers = [await th.get_attribute("data-column")
                     for th in await page.locator("table[data-report=agents] thead th").all()]
    offers = agent_headers.index("offers")
    accepted = agent_headers.index("accepted")
    cells = await bob.locator("td").all_inner_texts()
    assert (cells[offers], cells[accepted]) == ("1", "1")
    await page.get_by_role("button", name="Surveys by queue").click()
    await expect(page.locator("table[data-report='surveys/queues'] tbody tr").first).to_contain_text(
        "general", timeout=TIMEOUT_MS)
    await page.get_by_role("button", name="Surveys by agent").click()
    await expect(page.locator("table[data-report='surveys/agents']")).to_be_visible(timeout=TIMEOUT_MS)

    # a range that ends before it starts is refused in the page, without a request
    await page.get_by_label("From").fill("2023-11-16")
    await page.get_by_label("To (inclusive)").fill("2023-11-10")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("alert")).to_have_text("Choose a start date before the end date.")
