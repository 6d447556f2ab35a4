"""``deploy/haproxy.cfg`` run for real in front of two ``frontdesk serve`` nodes (``tests.cluster``):
with no sticky sessions one chat's requests are served by both nodes and every message arrives once,
in order; when a node is killed, the balancer takes it out and the chat carries on through the other.

Only the example's ``bind`` line, its ``server`` lines (a free local port, the nodes' ports) and its
``maxconn`` (which needs twice as many descriptors as a test process may open) are replaced; its
timeouts, balancing, health check and retry rules are the ones tested."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.client.customer import ClientError
from tests.cluster import APP_ID, PASSWORD, START_TIMEOUT_SECS, TENANT, Node, cluster, eventually
from tests.conftest import free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"
GUARD_SECS = 60.0  # against a hang only
TEST_MAXCONN = 1000
POLL_PATH = re.compile(r"path='?/clientweb/api/v2/chats/(?P<chat>[^/ ]+)/events[?' ]")  # access log lines

JsonObject = dict[str, Any]


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    assert found, "haproxy is not installed (scripts/test installs Debian's haproxy)"
    return found


def balancer_config(port: int, nodes: list[Node]) -> str:
    """The example with its listening address and its servers replaced."""
    lines: list[str] = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("bind "):
            line = f"    bind 127.0.0.1:{port}"
        elif stripped.startswith("maxconn "):
            line = f"    maxconn {TEST_MAXCONN}"
        elif stripped.startswith("server "):
            if stripped.startswith("server node1 "):
                lines.extend(f"    server {n.name} 127.0.0.1:{n.port} check" for n in nodes)
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def start_haproxy(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """HAProxy in the foreground (``-db``), its output into ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([haproxy_binary(), "-db", "-f", str(config)],  # noqa: S603
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.asynccontextmanager
async def balancer(workdir: Path, nodes: list[Node]) -> AsyncIterator[str]:
    """HAProxy with the example's configuration in front of ``nodes``; yields its base URL."""
    port = free_port()
    config = workdir / "haproxy.cfg"
    config.write_text(balancer_config(port, nodes), encoding="utf-8")
    log = workdir / "haproxy.log"
    process = start_haproxy(config, log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                assert process.poll() is None, f"haproxy exited: {log.read_text(errors='replace')}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base_url}/readyz")).status_code == 200:
                        break
                assert time.monotonic() < deadline, f"haproxy did not answer: {log.read_text(errors='replace')}"
                await asyncio.sleep(0.1)
        yield base_url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)


def polls_served(node: Node, chat_id: str) -> int:
    """How many polls of the chat the node's access log shows."""
    text = node.log.read_text(errors="replace")
    return sum(1 for match in POLL_PATH.finditer(text) if match["chat"] == chat_id)


def messages(events: list[JsonObject]) -> list[str]:
    return [str(e["msg_text"]) for e in events if e["event"] == "chat_session_message"]


async def chat_through(base_url: str) -> tuple[AgentClient, CustomerClient, str]:
    agent = AgentClient(base_url)
    await agent.login("anna", PASSWORD)
    await agent.set_state("ready")
    customer = CustomerClient(base_url, app_id=APP_ID, client_id="behind-the-balancer", tenant_url=TENANT)
    chat_id = str((await customer.request_chat({"first_name": "Ada"}))["chat_id"])

    async def offered() -> bool:
        return chat_id in [o["chat_id"] for o in await agent.offers()]

    await eventually(offered, what="the offer")
    await agent.accept(chat_id)
    return agent, customer, chat_id


async def poll_until(customer: CustomerClient, chat_id: str, text: str, into: list[JsonObject],
                     after: int | None = None) -> None:
    """Poll through the balancer until message ``text`` arrived: the Bright Pattern way (the
    server-side cursor), or with an explicit cursor (``after``, then the last event of ``into``).
    An answer of the balancer itself (502/503 while a node is going away) or a dropped connection
    is polled again."""
    while not any(e["event"] == "chat_session_message" and e["msg_text"] == text for e in into):
        try:
            if after is None:
                batch = await customer.poll(chat_id)
            else:
                batch = await customer.poll_after(chat_id, int(into[-1]["seq"]) if into else after)
        except (httpx.TransportError, ClientError) as error:
            if isinstance(error, ClientError) and error.status not in (502, 503, 504):
                raise
            await asyncio.sleep(0.2)
            continue
        into.extend(batch)


async def test_one_chat_is_served_by_every_node_behind_the_balancer_and_survives_one_dying(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c, balancer(tmp_path, c.nodes) as base_url:
        agent, customer, chat_id = await chat_through(base_url)
        try:
            got: list[JsonObject] = []
            for n in range(1, 9):
                reader = asyncio.ensure_future(poll_until(customer, chat_id, f"m{n}", got))
                await asyncio.sleep(0.05)  # the poll is held (or about to be) when the message comes
                await agent.send_message(chat_id, f"m{n}")
                await asyncio.wait_for(reader, GUARD_SECS)
            # the Bright Pattern way (no cursor from the client): each message once, in order
            assert messages(got) == [f"m{n}" for n in range(1, 9)]
            served = {node.name: polls_served(node, chat_id) for node in c.nodes}
            assert all(count > 0 for count in served.values()), served  # no stickiness: both nodes polled

            start = int((await customer.poll_after(chat_id, 0))[-1]["seq"])  # the log's tail so far
            dying, survivor = c.nodes
            dying.kill()
            tail: list[JsonObject] = []
            for n in range(1, 6):
                reader = asyncio.ensure_future(poll_until(customer, chat_id, f"k{n}", tail, after=start))
                await agent.send_message(chat_id, f"k{n}")  # the token and the chat work on the survivor
                await asyncio.wait_for(reader, GUARD_SECS)
            assert messages(tail) == [f"k{n}" for n in range(1, 6)]
            seqs = [int(e["seq"]) for e in tail]
            assert seqs == sorted(set(seqs))
            assert polls_served(survivor, chat_id) > served[survivor.name]
        finally:
            await agent.aclose()
            await customer.aclose()
