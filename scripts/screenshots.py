"""Takes the README's screenshots: starts ``frontdesk serve`` (the embedded demo, real clock) on a free
port with a scratch data directory, then plays one chat in Debian's Chromium — a customer in the widget
on the demo site, Anna in the agent desktop, Anna again in the supervisor view — and saves
``docs/images/{demo,widget-phone,desktop,supervisor}.png``. Run with ``.venv/bin/python scripts/screenshots.py``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import Page, ViewportSize, async_playwright, expect

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "images"
WAIT_MS = 30_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"frontdesk exited with {process.returncode}")
        try:
            if httpx.get(base + "/api", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    sys.exit("frontdesk did not start within 60 s")


async def sign_in(page: Page, base: str, path: str) -> None:
    await page.goto(base + path)
    await page.get_by_label("Username").fill("anna")
    await page.get_by_label("Password").fill("frontdesk-demo")
    await page.get_by_role("button", name="Sign in").click()


async def play(base: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                   args=["--no-sandbox", "--disable-gpu"])
        try:
            viewport: ViewportSize = {"width": 1280, "height": 800}
            customer = await (await browser.new_context(viewport=viewport)).new_page()
            agent = await (await browser.new_context(viewport=viewport)).new_page()
            supervisor = await (await browser.new_context(viewport=viewport)).new_page()

            await sign_in(agent, base, "/agent")
            await expect(agent.get_by_test_id("agent-state")).to_have_text("Not ready", timeout=WAIT_MS)
            await agent.get_by_test_id("toggle-state").click()
            await expect(agent.get_by_test_id("agent-state")).to_have_text("Ready", timeout=WAIT_MS)

            await customer.goto(base + "/")
            await customer.locator("#frontdesk-widget .launcher").click()
            await customer.get_by_label("First name").fill("Rae")
            question = "Hi! Do you have the Quayside City 7 in a medium frame?"
            await customer.get_by_label("How can we help?").fill(question)
            await customer.get_by_role("button", name="Start chat").click()

            offer = agent.get_by_role("article", name="Rae wants to chat")
            await offer.get_by_role("button", name="Accept").click(timeout=WAIT_MS)
            composer = agent.get_by_label("Message", exact=True)
            await composer.fill("Hello Rae! Yes, we have two in green and one in grey. Shall I hold one for you?")
            await composer.press("Enter")
            await expect(customer.get_by_role("log")).to_contain_text("Shall I hold one", timeout=WAIT_MS)
            box = customer.locator("#frontdesk-widget textarea.message-input")
            await box.fill("The green one, please. I can come by on Saturday morning.")
            await box.press("Enter")
            await expect(agent.locator(".fd-log")).to_contain_text("Saturday morning", timeout=WAIT_MS)
            await composer.fill("Done: it's reserved under your name until Saturday 1 pm.")
            await composer.press("Enter")
            await expect(customer.get_by_role("log")).to_contain_text("reserved under your name", timeout=WAIT_MS)
            await customer.locator("#frontdesk-widget textarea.message-input").type("Perfect, thank")
            await agent.wait_for_timeout(1500)

            await sign_in(supervisor, base, "/supervisor")
            await expect(supervisor.get_by_text("Rae").first).to_be_visible(timeout=WAIT_MS)
            await supervisor.wait_for_timeout(1500)

            IMAGES.mkdir(parents=True, exist_ok=True)
            await customer.screenshot(path=str(IMAGES / "demo.png"))
            await agent.screenshot(path=str(IMAGES / "desktop.png"))
            await supervisor.screenshot(path=str(IMAGES / "supervisor.png"))

            phone = await (await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                     has_touch=True)).new_page()
            await phone.goto(base + "/")
            await phone.locator("#frontdesk-widget .launcher").click()
            await phone.get_by_label("First name").fill("Sam")
            await phone.wait_for_timeout(500)
            await phone.screenshot(path=str(IMAGES / "widget-phone.png"))
        finally:
            await browser.close()


def main() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        command = [str(REPO / ".venv" / "bin" / "frontdesk"), "serve", "--port", str(port), "--data-dir", data]
        process = subprocess.Popen(command, cwd=REPO, start_new_session=True,  # noqa: S603 - our own CLI
                                   stdout=subprocess.DEVNULL)
        try:
            wait_until_up(base, process)
            asyncio.run(play(base))
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    print(f"saved {', '.join(sorted(p.name for p in IMAGES.glob('*.png')))} in {IMAGES}")


if __name__ == "__main__":
    main()
