"""Reload behaviour over real HTTP: a resuming web widget asks for the history and polls at the
same time and shows both answers, so every message must be in exactly one of them, whatever the
order in which the two requests reach the server (docs/event-delivery.md, "Reload behaviour")."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.delivery.longpoll import RELOAD_WINDOW_SECS
from tests.conftest import LiveServer

JsonObject = dict[str, Any]


def agent_texts(events: list[JsonObject], chat_id: str) -> list[str]:
    """The agent's messages among a history or poll answer (the customer's own are not polled)."""
    return [str(e["msg_text"]) for e in events
            if e["event"] == "chat_session_message" and e["party_id"] != chat_id and "msg_text" in e
            and str(e["msg_text"]).startswith("agent:")]


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("the server did not reach the expected state in time")
        await asyncio.sleep(0.005)


async def unload(live: LiveServer, browser: CustomerClient, chat_id: str) -> None:
    """The page goes away: the poll it holds is aborted (the browser closes its connection)."""
    async with httpx.AsyncClient(timeout=10.0, cookies=browser.http.cookies) as own:
        page = live.customer(client_id="WebChat", version="v1", http=own)
        task = asyncio.ensure_future(page.poll(chat_id))
        await wait_until(lambda: live.frontdesk.polls.held >= 1 or task.done())
        assert not task.done(), "the poll was answered before the page went away"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await wait_until(lambda: live.frontdesk.polls.held == 0)


async def old_page_gets(live: LiveServer, browser: CustomerClient, agent: AgentClient, chat_id: str,
                        text: str) -> list[str]:
    """A live page holds its poll when the agent writes: the poll wakes with the message."""
    task = asyncio.ensure_future(browser.poll(chat_id))
    await wait_until(lambda: live.frontdesk.polls.held >= 1)
    await agent.send_message(chat_id, text)
    return agent_texts(await task, chat_id)


async def web_chat(live: LiveServer) -> tuple[CustomerClient, AgentClient, str]:
    """A connected WebChat chat (the browser keeps its visitor cookie), setup events delivered."""
    browser = live.customer(client_id="WebChat", version="v1")
    await browser.configuration()  # the widget's first call: it sets the visitor cookie
    chat_id = str((await browser.request_chat({"first_name": "Rae"}))["chat_id"])
    agent = await live.agent()
    await agent.accept(chat_id)
    for _ in range(10):
        if "connected" in [e.get("state") for e in await browser.poll(chat_id)]:
            return browser, agent, chat_id
    pytest.fail("the chat never became connected")


async def test_history_first_then_poll_shows_each_message_once(live: LiveServer) -> None:
    browser, agent, chat_id = await web_chat(live)
    assert await old_page_gets(live, browser, agent, chat_id, "agent: before the reload") == \
        ["agent: before the reload"]
    await unload(live, browser, chat_id)
    await agent.send_message(chat_id, "agent: while away")  # no poll is held
    history = agent_texts(await browser.history(chat_id), chat_id)
    assert history == ["agent: before the reload", "agent: while away"]
    polled = agent_texts(await browser.poll(chat_id), chat_id)  # held: nothing new
    assert polled == []
    await agent.send_message(chat_id, "agent: after")
    assert agent_texts(await browser.poll(chat_id), chat_id) == ["agent: after"]
    await browser.aclose()
    await agent.aclose()


async def test_poll_first_then_history_shows_each_message_once(live: LiveServer) -> None:
    browser, agent, chat_id = await web_chat(live)
    assert await old_page_gets(live, browser, agent, chat_id, "agent: before the reload") == \
        ["agent: before the reload"]
    await unload(live, browser, chat_id)
    await agent.send_message(chat_id, "agent: while away")
    # the new page's poll reaches the server first and answers at once with what waited for it ...
    assert agent_texts(await browser.poll(chat_id), chat_id) == ["agent: while away"]
    # ... so the history that page asked for at the same time leaves it out
    history = await browser.history(chat_id)
    assert agent_texts(history, chat_id) == ["agent: before the reload"]
    # everything else is still there: the scenario's welcome, the agent joining, the customer's own
    assert "chat_session_party_joined" in [e["event"] for e in history]
    await browser.send_message(chat_id, "customer: hello again")
    history = await browser.history(chat_id)
    assert [e["msg_text"] for e in history if e.get("party_id") == chat_id] == ["customer: hello again"]
    await browser.aclose()
    await agent.aclose()


async def test_an_old_backlog_answer_is_not_left_out_of_a_later_history(live: LiveServer) -> None:
    """Only a history request right after the backlog answer comes from the page that got it: a
    page that was reloaded later needs the whole transcript."""
    browser, agent, chat_id = await web_chat(live)
    await unload(live, browser, chat_id)
    await agent.send_message(chat_id, "agent: while away")
    assert agent_texts(await browser.poll(chat_id), chat_id) == ["agent: while away"]
    live.clock.advance(RELOAD_WINDOW_SECS + 1)
    assert agent_texts(await browser.history(chat_id), chat_id) == ["agent: while away"]
    await browser.aclose()
    await agent.aclose()


async def test_a_backlog_answer_whose_page_went_away_is_not_left_out_of_history(live: LiveServer) -> None:
    """The new page got the backlog at once, polled again and was unloaded too: the page after it
    must see that backlog in its history (its own poll never will)."""
    browser, agent, chat_id = await web_chat(live)
    await unload(live, browser, chat_id)
    await agent.send_message(chat_id, "agent: while away")
    assert agent_texts(await browser.poll(chat_id), chat_id) == ["agent: while away"]
    await unload(live, browser, chat_id)
    assert agent_texts(await browser.history(chat_id), chat_id) == ["agent: while away"]
    await browser.aclose()
    await agent.aclose()


async def test_history_without_a_reload_is_the_whole_transcript(live: LiveServer) -> None:
    """A page that was not reloaded (its last poll was answered, not aborted) gets a full history
    even right after a poll that found events waiting."""
    browser, agent, chat_id = await web_chat(live)
    await agent.send_message(chat_id, "agent: between two polls")
    assert agent_texts(await browser.poll(chat_id), chat_id) == ["agent: between two polls"]
    assert agent_texts(await browser.history(chat_id), chat_id) == ["agent: between two polls"]
    await browser.aclose()
    await agent.aclose()


async def test_reloads_during_a_burst_show_every_message_exactly_once(live: LiveServer) -> None:
    """The issue's burst: each page goes away, messages arrive while no poll is held, and the next
    page sends history and poll together. Each page shows the whole conversation once."""
    browser, agent, chat_id = await web_chat(live)
    sent: list[str] = []
    for reload_ in range(10):
        await unload(live, browser, chat_id)
        for i in range(3):
            text = f"agent: {reload_}.{i}"
            await agent.send_message(chat_id, text)
            sent.append(text)
        history, polled = await asyncio.gather(browser.history(chat_id), browser.poll(chat_id))
        shown = Counter(agent_texts(history, chat_id) + agent_texts(polled, chat_id))
        assert shown == Counter(sent), f"reload {reload_}: {shown}"
    await browser.aclose()
    await agent.aclose()


async def test_mobile_history_is_a_plain_read(live: LiveServer) -> None:
    """Only web pages render history and poll answers together: for every other client history
    moves no cursor and leaves nothing out."""
    phone = live.customer(client_id="phone-reload")
    chat_id = str((await phone.request_chat({"first_name": "Pia"}))["chat_id"])
    agent = await live.agent()
    await agent.accept(chat_id)
    for _ in range(10):
        if "connected" in [e.get("state") for e in await phone.poll(chat_id)]:
            break
    await agent.send_message(chat_id, "agent: one")
    assert agent_texts(await phone.history(chat_id), chat_id) == ["agent: one"]
    assert agent_texts(await phone.poll(chat_id), chat_id) == ["agent: one"]
    await phone.aclose()
    await agent.aclose()


async def test_an_aborted_history_answer_loses_nothing(live: LiveServer) -> None:
    browser, agent, chat_id = await web_chat(live)
    await agent.send_message(chat_id, "agent: while away")
    polls = live.frontdesk.polls
    async with httpx.AsyncClient(timeout=10.0, cookies=browser.http.cookies) as own:  # the same browser
        aborted = live.customer(client_id="WebChat", version="v1", http=own)
        async with polls.delivery_lock(chat_id):  # the history request waits for the chat's lock ...
            task = asyncio.ensure_future(aborted.history(chat_id))
            await wait_until(lambda: len(polls.history_readers(chat_id)) == 1)
            task.cancel()  # ... and its client gives up meanwhile
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await wait_until(lambda: all(r.disconnected for r in polls.history_readers(chat_id)))
        await wait_until(lambda: not polls.history_readers(chat_id))
    # the answer nobody read moved no cursor: the next poll still delivers the message
    assert agent_texts(await browser.poll(chat_id), chat_id) == ["agent: while away"]
    await browser.aclose()
    await agent.aclose()


async def test_explicit_cursor_clients_are_unaffected_by_history(live: LiveServer) -> None:
    browser, agent, chat_id = await web_chat(live)
    everything = await browser.poll_after(chat_id, 0)
    cursor = int(everything[-1]["seq"])
    await agent.send_message(chat_id, "agent: one")
    await agent.send_message(chat_id, "agent: two")
    assert agent_texts(await browser.history(chat_id), chat_id) == ["agent: one", "agent: two"]
    # the client's own cursor wins: history moved only the server-side one
    assert agent_texts(await browser.poll_after(chat_id, cursor), chat_id) == ["agent: one", "agent: two"]
    # and a backlog answered with an explicit cursor leaves nothing out of the history
    await agent.send_message(chat_id, "agent: three")
    assert agent_texts(await browser.poll_after(chat_id, cursor), chat_id) == ["agent: one", "agent: two",
                                                                                "agent: three"]
    assert agent_texts(await browser.history(chat_id), chat_id) == ["agent: one", "agent: two", "agent: three"]
    await browser.aclose()
    await agent.aclose()
