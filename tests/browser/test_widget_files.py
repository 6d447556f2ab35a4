"""Files in the widget, in real Chromium: the customer sends one (the agent downloads the same bytes),
the agent sends an image (shown inline) and a document (a download link), and an upload over the
server's limit shows the server's error."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import FilePayload, Page, expect

from frontdesk.domain.files import MAX_UPLOAD_BYTES
from tests.browser.conftest import PageProblems, screenshot
from tests.browser.widget_driver import TIMEOUT_MS, connected_chat, log, png_bytes
from tests.conftest import LiveServer

FILE_INPUT = "#frontdesk-widget input[type=file]"


async def test_a_file_each_way(page: Page, live: LiveServer) -> None:
    agent = await live.agent()
    try:
        chat_id, side = await connected_chat(page, agent)
        # customer → agent: picked in the file input (the attach button opens it)
        receipt = b"%PDF-1.4\n% Harbour Lane Cycles order 1187\n"
        await page.set_input_files(FILE_INPUT, files=[FilePayload(name="order-1187.pdf", mimeType="application/pdf",
                                                                  buffer=receipt)])
        sent = await side.wait_for(lambda e: e["event"] == "chat_session_file" and e.get("party_id") == chat_id,
                                   "the customer's file")
        assert sent["file_name"] == "order-1187.pdf" and sent["file_type"] == "attachment"
        assert await agent.download(chat_id, str(sent["file_id"])) == receipt
        await expect(log(page).get_by_role("link", name="order-1187.pdf")).to_be_visible(timeout=TIMEOUT_MS)

        # agent → customer: an image inline, a document as a link to the file
        image = png_bytes(40, 24)
        await agent.send_file(chat_id, "frame-size.png", image, "image/png")
        shown = log(page).get_by_role("img", name="Image frame-size.png")
        await expect(shown).to_be_visible(timeout=TIMEOUT_MS)
        await page.wait_for_function(
            "() => { const img = document.querySelector('#frontdesk-widget').shadowRoot"
            ".querySelector('img'); return img && img.complete && img.naturalWidth === 40; }", timeout=TIMEOUT_MS)
        await agent.send_file(chat_id, "service-plan.txt", b"Full service: 2 days\n", "text/plain")
        link = log(page).get_by_role("link", name="service-plan.txt")
        await expect(link).to_be_visible(timeout=TIMEOUT_MS)
        href = await link.get_attribute("href")
        assert href is not None and href.startswith(f"{live.base_url}/clientweb/api/v1/chats/{chat_id}/files/")
        download = await page.request.get(href)
        assert download.status == 200 and await download.body() == b"Full service: 2 days\n"
        await screenshot(page, "widget-files")
    finally:
        await agent.aclose()


async def test_an_upload_over_the_limit_shows_the_servers_error(page: Page, live: LiveServer, tmp_path: Path,
                                                                page_problems: PageProblems) -> None:
    # a file on disk (sparse: made at once), which the local browser reads itself
    big = tmp_path / "ride-video.mp4"
    with big.open("wb") as out:
        out.truncate(MAX_UPLOAD_BYTES + 1)
    agent = await live.agent()
    try:
        chat_id, side = await connected_chat(page, agent)
        await page.set_input_files(FILE_INPUT, files=[big])
        alert = log(page).get_by_role("alert")
        await expect(alert).to_contain_text("ride-video.mp4 was not sent", timeout=TIMEOUT_MS * 3)
        await expect(alert).to_contain_text("files are limited to 25 MB")  # the server's error_message
        await screenshot(page, "widget-upload-too-large")
        # nothing reached the agent, and the chat goes on
        await agent.send_message(chat_id, "No problem, send a link instead.")
        await expect(log(page)).to_contain_text("No problem, send a link instead.", timeout=TIMEOUT_MS)
        assert side.events_named("chat_session_file") == []
    finally:
        await agent.aclose()
    # the browser reports the refused request itself; nothing else may have gone wrong
    page_problems.errors = [e for e in page_problems.errors
                            if "the server responded with a status of 400" not in e]
