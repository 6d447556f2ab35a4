"""Forms in the widget, in real Chromium: a form the agent pushes (rendered from the widget document,
answered as chat_session_form_data), a one-line question, the location request (asked first, sent only
after consent), and End chat with the post-chat survey the entry's survey scenario runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from frontdesk.domain.config import FormConfig, FormField, ScenarioConfig, Step
from tests.browser.conftest import PageProblems, open_page, screenshot
from tests.browser.widget_driver import TIMEOUT_MS, connected_chat, log, message_box, send_keys, widget_settings
from tests.conftest import LiveServer, StartServer

FIT = FormConfig("bike_fit", "Find your frame size", (
    FormField("height_cm", "Your height in cm", "number", True),
    FormField("style", "Riding style", "choice", True, ("city", "touring", "cargo")),
    FormField("email", "Email for the offer", "email"),
))
SURVEY_FORM = FormConfig("survey", "How did we do?", (FormField("rating", "Rating", "rating", True),
                                                       FormField("comment", "Anything else?")))
SURVEY = ScenarioConfig("survey", (Step("form", {"form": "survey", "timeout_secs": 120, "on_timeout": "bye"}),
                                   Step("end", {"end": "Thanks for the feedback, ride safe!"}, "bye")))


@pytest.fixture
async def forms_server(start_server: StartServer) -> LiveServer:
    return await start_server(settings=widget_settings(forms=(FIT, SURVEY_FORM), scenarios=(SURVEY,), survey="survey"))


@pytest.fixture
async def customer_page(browser: Browser, forms_server: LiveServer, page_problems: PageProblems) -> AsyncIterator[Page]:
    opened = await open_page(browser, forms_server, page_problems, permissions=["geolocation"],
                             geolocation={"latitude": 53.5438, "longitude": 9.9668})
    try:
        yield opened
    finally:
        await opened.context.close()


async def test_a_pushed_form_and_a_question_round_trip(customer_page: Page, forms_server: LiveServer) -> None:
    page = customer_page
    agent = await forms_server.agent()
    try:
        chat_id, side = await connected_chat(page, agent)
        request_id = await agent.show_form(chat_id, "bike_fit")
        card = log(page).locator("[data-kind=form]")
        await expect(card.get_by_text("Find your frame size")).to_be_visible(timeout=TIMEOUT_MS)
        await card.get_by_label("Your height in cm").fill("182")
        await card.get_by_label("Riding style").select_option("touring")
        await card.get_by_label("Email for the offer").fill("rae@example.com")
        await screenshot(page, "widget-form")
        await card.get_by_role("button", name="Submit").click()
        answer = await side.wait_for(lambda e: e["event"] == "chat_session_form_data", "the form answer")
        assert answer["form_request_id"] == request_id and answer["form_name"] == "bike_fit"
        assert answer["data"] == {"height_cm": "182", "style": "touring", "email": "rae@example.com"}
        await expect(card).to_contain_text("Thank you, your answer was sent.")

        # a one-line question: the next typed message is its answer
        await agent.send_message(chat_id, "Which town do you ride in?")
        question_id = await agent.show_form(chat_id, "")
        await expect(page.get_by_text("Your next message answers this question.")).to_be_visible(timeout=TIMEOUT_MS)
        await send_keys(page, "Altona")
        text_answer = await side.wait_for(lambda e: e["event"] == "chat_session_form_data"
                                          and e["form_request_id"] == question_id, "the question's answer")
        assert text_answer["data"] == {"text": "Altona"}
        await side.customer_message("Altona")
        await expect(page.get_by_text("Your next message answers this question.")).to_be_hidden()
    finally:
        await agent.aclose()


async def test_the_location_is_sent_only_after_consent(customer_page: Page, forms_server: LiveServer) -> None:
    page = customer_page
    agent = await forms_server.agent()
    try:
        chat_id, side = await connected_chat(page, agent)
        first = await agent.request_location(chat_id)
        card = log(page).locator("[data-kind=location]")
        await expect(card).to_contain_text("Anna asks for your location", timeout=TIMEOUT_MS)
        await screenshot(page, "widget-location-request")
        # asked, not answered: nothing about a location reached the agent yet
        await agent.send_message(chat_id, "Only if you like.")
        await expect(log(page)).to_contain_text("Only if you like.", timeout=TIMEOUT_MS)
        assert side.events_named("chat_session_form_data") == []
        await card.get_by_role("button", name="Don't share").click()
        cancel = await side.wait_for(lambda e: e["event"] == "chat_form_data_cancel", "the refusal")
        assert cancel["form_request_id"] == first
        await expect(card).to_contain_text("You did not share your location.")

        second = await agent.request_location(chat_id)
        card = log(page).locator("[data-kind=location]").last
        await card.get_by_role("button", name="Share my location").click()
        shared = await side.wait_for(lambda e: e["event"] == "chat_session_form_data", "the location")
        assert shared["form_request_id"] == second and shared["form_name"] == "RequestLocation"
        assert shared["data"]["location_lat"] == "53.543800" and shared["data"]["location_lon"] == "9.966800"
        await expect(card).to_contain_text("You shared your location.")
    finally:
        await agent.aclose()


async def test_end_chat_runs_the_survey_then_ends(customer_page: Page, forms_server: LiveServer) -> None:
    page = customer_page
    agent = await forms_server.agent()
    try:
        chat_id, side = await connected_chat(page, agent)
        await page.get_by_role("button", name="End chat").click()
        await side.wait_for(lambda e: e["event"] == "chat_session_disconnect", "the customer's disconnect")
        survey = log(page).locator("[data-kind=form]")
        await expect(survey.get_by_text("How did we do?")).to_be_visible(timeout=TIMEOUT_MS)
        await survey.get_by_role("radio", name="9", exact=True).check()
        await survey.get_by_label("Anything else?").fill("Quick and friendly")
        await screenshot(page, "widget-survey")
        await survey.get_by_role("button", name="Submit").click()
        await expect(log(page)).to_contain_text("Thanks for the feedback, ride safe!", timeout=TIMEOUT_MS)
        await expect(log(page)).to_contain_text("The chat has ended.", timeout=TIMEOUT_MS)
        await expect(message_box(page)).to_be_hidden()
        answers = [e for e in await agent.events(chat_id) if e["event"]["event"] == "chat_session_form_data"]
        assert answers[-1]["event"]["data"] == {"rating": "9", "comment": "Quick and friendly"}
        # a new chat can start from here
        await page.get_by_role("button", name="Start a new chat").click()
        await expect(page.get_by_role("button", name="Start chat")).to_be_visible(timeout=TIMEOUT_MS)
    finally:
        await agent.aclose()
