"""Files each way (picker, drag and drop, the server's error for a file over the limit; images
inline, other files as links), a named form and a one-line question with their answers, and the
customer's location, between the desktop in Chromium and a customer on the API."""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import replace

import pytest
from playwright.async_api import Browser, FilePayload, Page, expect

from frontdesk.client import CustomerClient
from frontdesk.domain import files as files_module
from frontdesk.domain.config import ContactCenterConfig, FormConfig, FormField
from frontdesk.settings import Settings
from tests.browser.conftest import screenshot
from tests.browser.desktop_pages import (
    WAIT_MS,
    CustomerTail,
    ExpectedProblems,
    desktop_page,
    go_ready,
    named,
    sign_in,
)
from tests.conftest import LiveServer, StartServer


def tiny_png() -> bytes:
    """A valid 96×64 PNG in the desktop's accent blue."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x1f\x5f\xd6" * 96 for _ in range(64))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 96, 64, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


async def chat_with(page: Page, live: LiveServer, first_name: str) -> tuple[CustomerClient, str, CustomerTail]:
    await sign_in(page)
    await go_ready(page)
    customer = live.customer(client_id=f"{first_name}-device")
    chat_id = str((await customer.request_chat({"first_name": first_name}))["chat_id"])
    await page.get_by_role("article", name=f"{first_name} wants to chat").get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("heading", name=first_name)).to_be_visible(timeout=WAIT_MS)
    tail = CustomerTail(customer, chat_id)
    await tail.until(named("chat_session_status", state="connected"))
    return customer, chat_id, tail


async def test_files_each_way(browser: Browser, live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # the server (in this process) limits uploads to 1 MB instead of 25 MB: the same check and the
    # same answer, without pushing 25 MB through a loaded machine
    monkeypatch.setattr(files_module, "MAX_UPLOAD_BYTES", 1024 * 1024)
    problems = ExpectedProblems("status of 413")  # the refused upload, logged by the browser itself
    page = await desktop_page(browser, live, problems)
    try:
        customer, chat_id, tail = await chat_with(page, live, "Femi")
        log = page.locator(".fd-log")

        # agent → customer by the picker
        await page.get_by_test_id("file-input").set_input_files(
            files=[FilePayload(name="receipt.txt", mimeType="text/plain", buffer=b"total: 42 EUR")])
        sent = await tail.until(named("chat_session_file", file_name="receipt.txt"))
        assert (await customer.download(chat_id, sent["file_id"])).content == b"total: 42 EUR"
        await expect(log.get_by_role("link", name="receipt.txt")).to_be_visible(timeout=WAIT_MS)

        # agent → customer by drag and drop onto the composer
        drop = await page.evaluate_handle("""() => {
            const data = new DataTransfer();
            data.items.add(new File(["dropped notes"], "notes.txt", { type: "text/plain" }));
            return data;
        }""")
        composer = page.locator(".fd-composer")
        await composer.dispatch_event("dragover", {"dataTransfer": drop})
        await expect(page.get_by_text("Drop files to send them")).to_be_visible()
        await composer.dispatch_event("drop", {"dataTransfer": drop})
        dropped = await tail.until(named("chat_session_file", file_name="notes.txt"))
        assert (await customer.download(chat_id, dropped["file_id"])).content == b"dropped notes"

        # over the limit: the server's own words
        await page.get_by_test_id("file-input").set_input_files(
            files=[FilePayload(name="huge.bin", mimeType="application/octet-stream",
                               buffer=b"\0" * (1024 * 1024 + 1))])
        await expect(page.get_by_role("alert")).to_contain_text("files are limited to 1 MB", timeout=WAIT_MS)
        await page.get_by_role("alert").get_by_role("button", name="Dismiss").click()

        # customer → agent: an image inline, a document as a download link
        await customer.send_file(chat_id, "tyre.png", tiny_png(), "image/png")
        image = log.get_by_role("img", name="tyre.png")
        await expect(image).to_be_visible(timeout=WAIT_MS)
        await page.wait_for_function("img => img.complete && img.naturalWidth === 96", arg=await image.element_handle())
        await customer.send_file(chat_id, "invoice.pdf", b"%PDF-1.4 not really", "application/pdf")
        document = log.get_by_role("link", name="invoice.pdf")
        await expect(document).to_be_visible(timeout=WAIT_MS)
        assert await document.get_attribute("download") == "invoice.pdf"
        href = await document.get_attribute("href")
        assert href is not None and re.fullmatch(rf"/agent/api/v1/chats/{chat_id}/files/[^/]+", href)
        await screenshot(page, "desktop-files")
        await customer.aclose()
    finally:
        await page.context.close()
    assert problems.errors == [], problems.errors


def with_forms(config: ContactCenterConfig) -> ContactCenterConfig:
    tenant = config.tenants[config.default_tenant]
    address = FormConfig("address", "Delivery address", fields=(FormField("street", "Street", required=True),
                                                                FormField("city", "City")))
    return replace(config, tenants={tenant.name: replace(tenant, forms={"address": address})})


async def test_a_form_a_question_and_the_location(browser: Browser, start_server: StartServer,
                                                  demo_config: ContactCenterConfig) -> None:
    live = await start_server(settings=Settings(contact_center=with_forms(demo_config), poll_hold_secs=0.25))
    problems = ExpectedProblems()
    page = await desktop_page(browser, live, problems)
    try:
        customer, chat_id, tail = await chat_with(page, live, "Ola")
        log = page.locator(".fd-log")

        # a named form
        await page.get_by_label("Push a form").select_option("address")
        await page.get_by_role("button", name="Send form").click()
        shown = await tail.until(named("chat_session_form_show", form_name="address"))
        await expect(log.get_by_text("Form “address” sent")).to_be_visible(timeout=WAIT_MS)
        await customer.send_events(chat_id, {"event": "chat_session_form_data",
                                             "form_request_id": shown["form_request_id"], "form_name": "address",
                                             "data": {"street": "1 Harbour Lane", "city": "Kiel"}})
        answer = log.locator(".fd-card").filter(has_text="Answer to “address”")
        await expect(answer).to_contain_text("1 Harbour Lane", timeout=WAIT_MS)
        await expect(answer).to_contain_text("Kiel")

        # a one-line question: the next typed message is the answer
        await page.get_by_label("Question (one line)").fill("What is your order number?")
        await page.get_by_role("button", name="Ask", exact=True).click()
        await tail.until(named("chat_session_message", msg_text="What is your order number?"))
        asked = await tail.until(named("chat_session_form_show", form_name=""))
        # as the web widget answers a text form: the message, then form_data with the text
        await customer.send_message(chat_id, "A-1234")
        await customer.send_events(chat_id, {"event": "chat_session_form_data",
                                             "form_request_id": asked["form_request_id"], "form_name": "",
                                             "data": "A-1234"})
        question = log.locator(".fd-card").filter(has_text="Answer to your question")
        await expect(question).to_contain_text("A-1234", timeout=WAIT_MS)

        # the location
        await page.get_by_role("button", name="Ask for location").click()
        await tail.until(named("chat_session_form_show", form_name="RequestLocation"))
        await customer.send_events(chat_id, {"event": "chat_session_location", "msg_id": customer.next_msg_id(),
                                             "latitude": "54.3233", "longitude": "10.1228"})
        place = log.locator(".fd-card").filter(has_text="Location: 54.3233, 10.1228")
        await expect(place).to_be_visible(timeout=WAIT_MS)
        link = place.get_by_role("link", name="Open map")
        assert (await link.get_attribute("href") or "").startswith("https://www.openstreetmap.org/?mlat=54.3233")
        assert await link.get_attribute("rel") == "noopener noreferrer"
        await screenshot(page, "desktop-forms")
        await customer.aclose()
    finally:
        await page.context.close()
    assert problems.errors == [], problems.errors
