"""Authentication and session end of the agent API's WebSockets (``/ws``, ``/supervisor/ws``).

``authenticate_websocket`` is the one way a socket learns its agent: a single-use ticket
(``?ticket=``, from ``POST /ws-ticket``) or a bearer token (``?token=``, for scripts); anything else
closes the socket with 4401. ``serve_while_session_lives`` runs a socket's work and is the one place
that closes it with 4410 when the session it was opened with ends while it is open (logout,
``DELETE /session``, a supervisor forcing ``logged_out``, expiry, a reload removing the agent).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fastapi import WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from frontdesk.bus.interfaces import agent_topic
from frontdesk.delivery.agent_stream import SessionEnded
from frontdesk.delivery.notifier import Notifier
from frontdesk.domain.access import AccessService, Credential
from frontdesk.domain.errors import Forbidden
from frontdesk.observability.context import bind
from frontdesk.observability.logs import get_logger

log = get_logger(__name__)

WS_CLOSE_BAD_HELLO = 4400
WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_FORBIDDEN = 4403
WS_CLOSE_SESSION_ENDED = 4410


async def authenticate_websocket(ws: WebSocket, access: AccessService, token: str = "",
                                 ticket: str = "") -> Credential | None:
    """Accept the socket and authenticate it by ``ticket`` (spent here) or else ``token``; None
    (the socket closed with 4401) when neither is good."""
    await ws.accept()
    try:
        credential = await access.redeem_ticket(ticket) if ticket else await access.authenticate(token.strip())
    except Forbidden:
        log.info("websocket refused: invalid, used or expired ticket or token")
        await ws.close(WS_CLOSE_UNAUTHORIZED, "invalid, used or expired ticket or token")
        return None
    bind(tenant=credential.agent.tenant, agent=credential.agent.agent_id)
    return credential


async def serve_while_session_lives(ws: WebSocket, access: AccessService, notifier: Notifier,
                                    credential: Credential,
                                    serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``serve(stop)``; ``stop`` is set when the session ends. A serve that raises
    ``SessionEnded`` ends the session too. Then the socket is closed: 4410 when the session
    ended, normally otherwise."""
    stop = asyncio.Event()
    ended = False
    wake = notifier.subscribe(agent_topic(credential.agent.agent_id))  # before the first check: no lost wake

    async def watch() -> None:
        nonlocal ended
        while await access.alive(credential.token_hash):
            # with a cross-process bus a lost wake-up is made up for by a re-check
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(notifier.recheck_secs):
                    await wake.wait()
            wake.clear()
        ended = True
        stop.set()

    watcher = asyncio.ensure_future(watch())
    try:
        await serve(stop)
    except SessionEnded:
        ended = True
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        notifier.unsubscribe(agent_topic(credential.agent.agent_id), wake)
    if ws.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError):
            if ended:
                await ws.close(WS_CLOSE_SESSION_ENDED, "the session has ended: log in again")
            else:
                await ws.close()


async def answer_pings_until_closed(ws: WebSocket, stop: asyncio.Event) -> None:
    """Read the client's side of an agent-API socket: answer ``ping`` with ``pong``, ignore anything
    else, and set ``stop`` once the client goes away (or sends something that is not JSON)."""
    try:
        while True:
            message = await ws.receive_json()
            if isinstance(message, dict) and message.get("type") == "ping":
                await ws.send_json({"type": "pong"})
    except (WebSocketDisconnect, ValueError, RuntimeError):
        pass
    finally:
        stop.set()
