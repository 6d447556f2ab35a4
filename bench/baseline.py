"""The baseline: the least a long-poll chat server on frontdesk's server stack can do.

A raw ASGI application (no framework, no storage: per-session lists in memory) served by uvicorn
with the same settings as frontdesk (httptools, uvloop, websockets-sansio, no access log). It
speaks just enough of the customer wire for the harness: create a chat, long-poll its events with
the same hold (a newer poll completes the older one; the server-side cursor moves only after a
completed write; an optional ``after`` cursor), post client events; plus an agent send endpoint
and an agent WebSocket that streams the customers' events. What frontdesk spends beyond this is
the price of its features: routing, durable storage, validation, the full protocol.

    python -m bench.baseline --port 8181 --hold-secs 10 --agents 120
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import uuid
from typing import Any

import orjson
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from frontdesk.collector import Collector

MAX_BATCH_EVENTS = 500
_CLIENT_ID = re.compile(r'clientId\s*=\s*"?([^",]*)')
_JSON_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
_EMPTY = b'{"events":[]}'


class _Poll:
    __slots__ = ("disconnected", "expired", "signal", "superseded")

    def __init__(self) -> None:
        self.signal = asyncio.Event()
        self.superseded = False
        self.disconnected = False
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        self.signal.set()


class _Session:
    __slots__ = ("agent", "chat_id", "client_id", "current", "cursor", "events", "lock")

    def __init__(self, chat_id: str, client_id: str, agent: int) -> None:
        self.chat_id = chat_id
        self.client_id = client_id
        self.agent = agent
        self.events: list[dict[str, Any]] = []  # the customer's events; seq = index + 1
        self.cursor = 0
        self.current: _Poll | None = None
        self.lock = asyncio.Lock()

    def append(self, event: dict[str, Any]) -> int:
        self.events.append(event)
        if self.current is not None:
            self.current.signal.set()
        return len(self.events)


class _AgentFeed:
    """Events for one agent's WebSocket; dropped while nobody watches."""

    __slots__ = ("pending", "signal", "watchers")

    def __init__(self) -> None:
        self.pending: list[bytes] = []
        self.signal = asyncio.Event()
        self.watchers = 0


class Baseline:
    def __init__(self, hold_secs: float, agents: int) -> None:
        self.hold_secs = hold_secs
        self.sessions: dict[str, _Session] = {}
        self.feeds = [_AgentFeed() for _ in range(max(1, agents))]
        self._created = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        parts = [p for p in scope["path"].split("/") if p]
        if kind == "websocket":
            if parts == ["bench", "agent", "ws"]:
                await self._watch(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 4404})
            return
        method = scope["method"]
        query = _query(scope)
        if len(parts) >= 4 and parts[:2] == ["clientweb", "api"] and parts[3] == "chats":
            if len(parts) == 4 and method == "POST":
                await self._create(scope, receive, send)
                return
            session = self.sessions.get(parts[4]) if len(parts) == 6 and parts[5] == "events" else None
            if session is None:
                await _json(send, 404, b'{"error_code":"5005","error_message":"Chat not found"}')
                return
            if method == "GET":
                after = query.get("after")
                await self._poll(session, int(after) if after is not None else None, receive, send)
                return
            if method == "POST":
                await self._client_events(session, await _body(receive), send)
                return
        if len(parts) == 5 and parts[:3] == ["bench", "agent", "chats"] and parts[4] == "messages" and method == "POST":
            await self._agent_message(parts[3], await _body(receive), send)
            return
        if not parts:
            await _json(send, 200, b'{"name":"baseline"}')
            return
        await _json(send, 404, b'{"error_code":"1000","error_message":"No such API method"}')

    async def _create(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _body(receive)
        auth = _header(scope, b"authorization")
        match = _CLIENT_ID.search(auth)
        client_id = match.group(1) if match else ""
        chat_id = str(uuid.uuid4())
        agent = self._created % len(self.feeds)
        self._created += 1
        session = self.sessions[chat_id] = _Session(chat_id, client_id, agent)
        session.append({"event": "chat_session_status", "state": "connected", "ewt": "0"})
        await _json(send, 200, orjson.dumps({"state": "queued", "ewt": "0", "chat_id": chat_id, "is_new_chat": True,
                                             "phone_number": "", "agent": agent}))

    async def _poll(self, session: _Session, after: int | None, receive: Receive, send: Send) -> None:
        poll = _Poll()
        if session.current is not None:
            session.current.superseded = True
            session.current.signal.set()
        session.current = poll

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            poll.disconnected = True
            poll.signal.set()

        watcher = asyncio.ensure_future(watch_disconnect())
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.hold_secs, poll.expire)
        try:
            while True:
                async with session.lock:
                    poll.signal.clear()
                    cursor = session.cursor if after is None else after
                    done = poll.superseded or poll.disconnected or poll.expired
                    if cursor < len(session.events) and not poll.disconnected:
                        batch = session.events[cursor:cursor + MAX_BATCH_EVENTS]
                        if after is not None:
                            batch = [{**e, "seq": cursor + 1 + i} for i, e in enumerate(batch)]
                        watcher.cancel()
                        await _json(send, 200, orjson.dumps({"events": batch}))
                        if after is None:
                            session.cursor = max(session.cursor, cursor + len(batch))
                        return
                    if done:
                        if not poll.disconnected:
                            watcher.cancel()
                            await _json(send, 200, _EMPTY)
                        return
                await poll.signal.wait()
        finally:
            timer.cancel()
            watcher.cancel()
            if session.current is poll:
                session.current = None

    async def _client_events(self, session: _Session, body: bytes, send: Send) -> None:
        events = orjson.loads(body).get("events", []) if body else []
        feed = self.feeds[session.agent]
        now = str(int(time.time()))
        for event in events:
            staff_event = {**event, "party_id": session.chat_id, "timestamp": now}
            if feed.watchers:
                feed.pending.append(orjson.dumps({"type": "event", "chat_id": session.chat_id, "event": staff_event}))
                feed.signal.set()
        await _json(send, 200, _EMPTY)

    async def _agent_message(self, chat_id: str, body: bytes, send: Send) -> None:
        session = self.sessions.get(chat_id)
        if session is None:
            await _json(send, 404, b'{"detail":"no such chat"}')
            return
        text = orjson.loads(body)["text"]
        msg_id = uuid.uuid4().hex
        seq = session.append({"event": "chat_session_message", "party_id": f"agent-{session.agent}",
                              "msg_id": msg_id, "msg": text, "msg_text": text, "timestamp": str(int(time.time()))})
        await _json(send, 200, orjson.dumps({"seq": seq, "msg_id": msg_id}))

    async def _watch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        agent = int(_query(scope).get("agent", "0"))
        if not 0 <= agent < len(self.feeds):
            await send({"type": "websocket.close", "code": 4404})
            return
        await send({"type": "websocket.accept"})
        if (await receive())["type"] != "websocket.receive":  # the hello
            return
        feed = self.feeds[agent]
        feed.watchers += 1
        gone = asyncio.Event()

        async def read_client() -> None:
            while (await receive())["type"] != "websocket.disconnect":
                pass
            gone.set()
            feed.signal.set()

        reader = asyncio.ensure_future(read_client())
        try:
            while not gone.is_set():
                await feed.signal.wait()
                feed.signal.clear()
                pending, feed.pending = feed.pending, []
                for text in pending:
                    await send({"type": "websocket.send", "text": text.decode()})
        finally:
            feed.watchers -= 1
            reader.cancel()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _query(scope: Scope) -> dict[str, str]:
    raw: bytes = scope.get("query_string", b"")
    result: dict[str, str] = {}
    for pair in raw.decode("latin-1").split("&"):
        if pair:
            name, _, value = pair.partition("=")
            result[name] = value
    return result


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hold-secs", type=float, default=10.0)
    parser.add_argument("--agents", type=int, default=1)
    args = parser.parse_args(argv)
    app = Baseline(args.hold_secs, args.agents)
    # the same server settings as frontdesk.server.make_server
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", lifespan="on",
                            loop="uvloop", http="httptools", ws="websockets-sansio", access_log=False,
                            timeout_keep_alive=30)
    print(f"baseline on http://{args.host}:{args.port}", flush=True)
    collector = Collector()  # as frontdesk.server.serve: both run under the same collector policy
    collector.start()
    try:
        uvicorn.Server(config).run()
    finally:
        collector.stop()


if __name__ == "__main__":
    main()
