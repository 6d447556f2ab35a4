"""Browser fixtures: Debian's Chromium (``/usr/bin/chromium``) driven by Playwright against a real
frontdesk server on a real port. The browser is never downloaded; without it these tests fail (they
do not skip): ``scripts/test`` installs it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

from tests.conftest import LiveServer

CHROMIUM = Path(os.environ.get("FRONTDESK_TEST_CHROMIUM", "/usr/bin/chromium"))
REPO = Path(__file__).resolve().parents[2]
# Every browser test saves what it shows here (gitignored); FRONTDESK_SCREENSHOTS=DIR chooses another place.
SCREENSHOTS = Path(os.environ.get("FRONTDESK_SCREENSHOTS", "") or REPO / "test-artifacts" / "screenshots")
CHROMIUM_INSTALLED = CHROMIUM.is_file()
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            await launched.close()


class PageProblems:
    """Script errors and console errors a page raised; a test fails on any it did not expect."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"page error: {error}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")


async def open_page(browser: Browser, live: LiveServer, problems: PageProblems, **context: object) -> Page:
    """A new page in a fresh browser context (own cookies and storage) on the live server."""
    ctx = await browser.new_context(base_url=live.base_url, **context)  # type: ignore[arg-type]
    page = await ctx.new_page()
    page.on("pageerror", problems.on_page_error)
    page.on("console", problems.on_console)
    return page


@pytest.fixture
async def page_problems() -> AsyncIterator[PageProblems]:
    problems = PageProblems()
    yield problems
    assert problems.errors == [], problems.errors


@pytest.fixture
async def page(browser: Browser, live: LiveServer, page_problems: PageProblems) -> AsyncIterator[Page]:
    opened = await open_page(browser, live, page_problems)
    try:
        yield opened
    finally:
        await opened.context.close()


async def screenshot(page: Page, name: str) -> Path:
    """Saves a screenshot of the page as ``SCREENSHOTS/<name>.png`` and returns its path."""
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path
