"""Logs: the context on every line (a chat's id on the lines of its actions, request ids), both
formats, and no secret in any line: a whole tour (login, browser session, WebSocket ticket, chat,
messages both ways) is captured and grepped for every token, ticket, cookie, password and body."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from typing import Any

import httpx
import orjson
import pytest
import structlog
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from frontdesk.observability.context import bound
from frontdesk.observability.logs import configure_logging, get_logger, log_direct, remove_handler
from frontdesk.observability.redact import MASK, redact_text
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME
from tests.conftest import LiveServer

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_logs() -> Iterator[tuple[io.StringIO, Lines]]:
    """Every log line of the test, rendered as the server would in ``--log-format json --log-level debug``."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", "debug", stream)

    def lines() -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    try:
        yield stream, lines
    finally:
        remove_handler(handler)
        root.setLevel(level)


def _with(lines: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == event]


async def test_a_tour_logs_its_actions_with_their_chat_and_never_a_secret(
        live: LiveServer, json_logs: tuple[io.StringIO, Lines]) -> None:
    stream, lines = json_logs
    api = f"{live.base_url}/agent/api/v1"
    secrets: list[str] = [DEMO_AGENT_PASSWORD, "wrong-password-xyz"]
    bodies = ["customer body: my account number is 12345", "agent body: your order ships today"]
    async with httpx.AsyncClient(timeout=10.0) as http, live.customer("device-tour", version="v2") as customer:
        refused = await http.post(f"{api}/login", json={"username": DEMO_AGENT_USERNAME,
                                                        "password": "wrong-password-xyz"})
        assert refused.status_code == 401
        login = await http.post(f"{api}/login", json={"username": DEMO_AGENT_USERNAME,
                                                      "password": DEMO_AGENT_PASSWORD})
        token = login.json()["token"]
        secrets.append(token)
        bearer = {"Authorization": f"Bearer {token}"}
        # a browser session: its cookies are secrets too
        session = await http.post(f"{api}/session", json={"username": DEMO_AGENT_USERNAME,
                                                          "password": DEMO_AGENT_PASSWORD})
        cookies = {name: morsel.value for header in session.headers.get_list("set-cookie")
                   for name, morsel in SimpleCookie(header).items()}
        secrets.extend(value for value in cookies.values() if value)
        me = await http.get(f"{api}/me", headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
        assert me.status_code == 200
        assert (await http.post(f"{api}/state", json={"state": "ready"}, headers=bearer)).status_code == 200
        ticket = (await http.post(f"{api}/ws-ticket", headers=bearer)).json()["ticket"]
        secrets.append(ticket)
        ws_url = api.replace("http://", "ws://") + f"/ws?ticket={ticket}"
        async with connect(ws_url) as ws:
            await ws.send(orjson.dumps({"type": "hello", "cursors": {}}).decode())
            assert orjson.loads(await ws.recv())["type"] == "snapshot"
            chat_id = (await customer.request_chat({"first_name": "Ada"}))["chat_id"]
            accepted = await http.post(f"{api}/chats/{chat_id}/accept", headers=bearer)
            assert accepted.status_code == 200, accepted.text
            await customer.send_message(chat_id, bodies[0])
            sent = await http.post(f"{api}/chats/{chat_id}/messages", json={"text": bodies[1]}, headers=bearer)
            assert sent.status_code == 200, sent.text
            texts = [e.get("msg") for e in await customer.poll(chat_id)]
            assert bodies[1] in texts
            # a socket opened with a spent ticket is refused (and logged without the ticket)
            async with connect(ws_url) as reused:
                with pytest.raises(ConnectionClosedError):
                    await reused.recv()
                assert reused.close_code == 4401
    captured = stream.getvalue()
    for secret in secrets:
        assert secret not in captured, "a secret reached the log"
    for body in bodies:
        assert body not in captured, "a message body reached the log"
    assert "Bearer" not in captured and "fd_session" not in captured

    logged = lines()
    (requested,) = _with(logged, "chat requested")
    assert (requested["chat"], requested["tenant"]) == (chat_id, "demo.local")
    (offered,) = _with(logged, "chat offered")
    (accepted_line,) = _with(logged, "offer accepted")
    assert offered["chat"] == accepted_line["chat"] == chat_id
    assert offered["agent"] == accepted_line["agent"] != ""
    # every request line of the chat's own routes carries its chat and a request id
    chat_requests = [line for line in _with(logged, "request") if f"/chats/{chat_id}" in line["path"]]
    assert len(chat_requests) >= 4  # accept, the customer's message, the agent's message, the poll
    assert all(line["chat"] == chat_id and line["request_id"] for line in chat_requests)
    assert all(line["agent"] == offered["agent"] for line in chat_requests if line["path"].startswith("/agent"))
    ws_lines = [line for line in _with(logged, "request") if line["path"].startswith("/agent/api/v1/ws?")]
    assert ws_lines and all(line["path"] == f"/agent/api/v1/ws?ticket={MASK}" for line in ws_lines)
    (joined,) = _with(logged, "party joined")
    assert (joined["chat"], joined["agent"]) == (chat_id, offered["agent"]) and joined["party"]
    customer_lines = [line for line in chat_requests if line["path"].startswith("/clientweb")]
    assert customer_lines and all(line["party"] == chat_id for line in customer_lines)
    refusals = _with(logged, "login refused")
    assert [r["reason"] for r in refusals] == ["wrong username or password"]
    assert refusals[0]["level"] == "warning" and refusals[0]["username"] == DEMO_AGENT_USERNAME
    assert len(_with(logged, "agent logged in")) == 2
    assert len({line["request_id"] for line in _with(logged, "request")}) == len(_with(logged, "request"))


async def test_a_request_id_is_answered_and_an_incoming_one_kept(live: LiveServer,
                                                                 json_logs: tuple[io.StringIO, Lines]) -> None:
    _, lines = json_logs
    async with httpx.AsyncClient(timeout=10.0) as http:
        fresh = await http.get(f"{live.base_url}/api")
        kept = await http.get(f"{live.base_url}/api", headers={"X-Request-ID": "edge-42.a"})
        odd = await http.get(f"{live.base_url}/api", headers={"X-Request-ID": "not ok;drop"})
    assert len(fresh.headers["x-request-id"]) == 16
    assert kept.headers["x-request-id"] == "edge-42.a"
    assert odd.headers["x-request-id"] not in ("not ok;drop", "")
    ids = [line["request_id"] for line in _with(lines(), "request")]
    assert ids == [fresh.headers["x-request-id"], "edge-42.a", odd.headers["x-request-id"]]


def test_the_text_format_is_one_line_of_key_values_with_the_context() -> None:
    stream = io.StringIO()
    handler = configure_logging("text", "info", stream)
    try:
        with bound(chat="chat-7", agent="agent-3"):
            get_logger("frontdesk.test").info("offer accepted", queue="general", token="t0ps3cret")
        get_logger("frontdesk.test").debug("not at info")
    finally:
        remove_handler(handler)
    (line,) = stream.getvalue().splitlines()
    assert "offer accepted" in line and "[info" in line and "[frontdesk.test]" in line
    assert "chat=chat-7" in line and "agent=agent-3" in line and "queue=general" in line
    assert "t0ps3cret" not in line and f"token={MASK}" in line


def test_a_logged_exception_is_plain_text_without_locals_and_redacted() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", "info", stream)
    try:
        def failing(authorization_header: str) -> None:
            raise RuntimeError(f"upstream refused /ws?ticket={authorization_header}")

        secret = "-".join(("tkt", "abcdef"))  # built at run time: the traceback's source lines do not show it
        try:
            failing(secret)
        except RuntimeError:
            get_logger("frontdesk.test").exception("it failed")
    finally:
        remove_handler(handler)
    (line,) = [orjson.loads(text) for text in stream.getvalue().splitlines()]
    assert "Traceback" in line["exception"] and "RuntimeError" in line["exception"]
    assert "tkt-abcdef" not in stream.getvalue()


@pytest.mark.parametrize(("text", "expected"), [
    ("GET /agent/api/v1/ws?token=abc.def&x=1", f"GET /agent/api/v1/ws?token={MASK}&x=1"),
    ("/ws?ticket=T1", f"/ws?ticket={MASK}"),
    ("Authorization: Bearer eyJhbGciOi.x-y", f"Authorization: {MASK}"),
    ("sent Bearer abc123 upstream", f"sent Bearer {MASK} upstream"),
    ("cookie=fd_session=s3cr3t", f"cookie={MASK}"),
    ("[(b'set-cookie', b'fd_session=abc; HttpOnly'), (b'x', b'y')]", f"[(b'set-cookie', b'{MASK}'), (b'x', b'y')]"),
    ("{'Cookie': 'fd_csrf=1'}", f"{{'Cookie': '{MASK}'}}"),
    ("connecting to postgresql://fd:hunter2@db.internal:5432/frontdesk",
     f"connecting to postgresql://fd:{MASK}@db.internal:5432/frontdesk"),
    ("redis://:s3cret@127.0.0.1:6379/0 unreachable", f"redis://:{MASK}@127.0.0.1:6379/0 unreachable"),
    ("http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api"),
    ("nothing to hide here", "nothing to hide here"),
])
def test_redaction_masks_credentials_inside_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_uvicorn_lines_go_through_the_same_format_and_redaction() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", "info", stream)
    try:
        logging.getLogger("uvicorn.error").warning('%s - "WebSocket %s" [rejected]', "127.0.0.1:5000",
                                                   "/agent/api/v1/ws?ticket=leaked-ticket")
    finally:
        remove_handler(handler)
    (line,) = [orjson.loads(text) for text in stream.getvalue().splitlines()]
    assert line["logger"] == "uvicorn.error" and line["level"] == "warning"
    assert "leaked-ticket" not in line["event"] and f"ticket={MASK}" in line["event"]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_direct_line_is_the_line_structlog_writes(log_format: str) -> None:
    stream = io.StringIO()
    handler = configure_logging(log_format, "info", stream)
    fields = {"method": "GET", "path": "/agent/api/v1/ws?ticket=t-123", "status": 200, "client": "10.0.0.1:5000"}
    try:
        with structlog.contextvars.bound_contextvars(request_id="r-1", chat="c-1"):
            get_logger("frontdesk.access").info("request", **fields)
            log_direct(logging.getLogger("frontdesk.access"), logging.INFO, "request", dict(fields))
            log_direct(logging.getLogger("frontdesk.access"), logging.DEBUG, "request", dict(fields))
    finally:
        remove_handler(handler)
    standard, direct = (_without_timestamp(line) for line in stream.getvalue().splitlines())
    assert direct == standard and "t-123" not in direct and "r-1" in direct


def _without_timestamp(line: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<ts>", line)
