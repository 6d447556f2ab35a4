"""`frontdesk serve` as a newcomer runs it: a real process, the demo, a chat, a clean stop (SIGTERM and
Ctrl-C alike, the held poll drained); the socket bound before the banner (a taken port: one line,
exit 1), impossible ports refused, port 0 named."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME
from tests.conftest import free_port

FRONTDESK = [sys.executable, "-m", "frontdesk"]


async def _wait_until_up(url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise AssertionError(f"frontdesk exited with {process.returncode}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError("frontdesk did not start within 20 s")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_runs_the_demo_and_stops_cleanly_with_a_held_poll(tmp_path: Path, stop_signal: int) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    process = await asyncio.create_subprocess_exec(
        *FRONTDESK, "serve", "--port", str(port), "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_up(base + "/api", process)
        async with CustomerClient(base, app_id="demo", client_id="cli-test", tenant_url=None) as customer, \
                AgentClient(base) as agent:
            chat_id = (await customer.request_chat({"first_name": "Ada"}))["chat_id"]
            await agent.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
            await agent.set_state("ready")
            await agent.accept(chat_id)
            await agent.send_message(chat_id, "Hello from the demo")
            texts = [e.get("msg") for e in await customer.poll(chat_id)]
            assert "Hello from the demo" in texts
            # a poll held by the real 10 s hold, then a stop: the poll is answered at once, empty
            held = asyncio.ensure_future(customer.poll(chat_id))
            await asyncio.sleep(0.5)
            process.send_signal(stop_signal)
            assert await asyncio.wait_for(held, timeout=10) == []
        # a clean end: exit status 0 (not death by the signal), no traceback
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stdout is not None
    output = (await process.stdout.read()).decode()
    assert f"username {DEMO_AGENT_USERNAME}  password {DEMO_AGENT_PASSWORD}" in output
    assert "appId demo" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert f"signal={signal.Signals(stop_signal).name}" in output  # "shutting down", logged
    assert (data_dir / "frontdesk.sqlite3").is_file()


async def _run(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``frontdesk`` to its end (it is killed if it outlives ``timeout``)."""
    process = await asyncio.create_subprocess_exec(*FRONTDESK, *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_taken_port_is_one_clear_line_without_a_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await _run("serve", "--port", str(port), "--data-dir", str(tmp_path / "data"))
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == f"frontdesk: cannot listen on 127.0.0.1:{port}: address already in use"
    assert "Traceback" not in err and "frontdesk 0.1" not in err
    assert not (tmp_path / "data").exists()  # nothing was built for a server that cannot listen


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
async def test_an_impossible_port_is_refused(tmp_path: Path, port: str) -> None:
    code, out, err = await _run("serve", "--port", port, "--data-dir", str(tmp_path / "data"))
    assert (code, out) == (2, "")
    assert err.splitlines() == ["frontdesk: invalid configuration: --port: must be between 0 and 65535"]


async def test_port_0_listens_on_a_free_port_and_names_it(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *FRONTDESK, "serve", "--port", "0", "--data-dir", str(tmp_path / "data"), "--log-format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        match = re.match(r"^frontdesk \S+ on http://127\.0\.0\.1:(\d+)  ", banner)
        assert match, banner
        port = int(match.group(1))
        assert port != 0
        pages = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        base = f"http://127.0.0.1:{port}"
        assert pages.split() == ["open", "in", "a", "browser:", "demo", "site", f"{base}/", "agent", "desktop",
                                 f"{base}/agent", "supervisor", "view", f"{base}/supervisor"]
        await _wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        listening = None
        while listening is None:
            line = orjson.loads(await asyncio.wait_for(process.stderr.readline(), timeout=30))
            if line["event"] == "listening":
                listening = line
        assert listening["address"] == f"http://127.0.0.1:{port}" and listening["level"] == "info"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                assert await asyncio.wait_for(process.wait(), timeout=20) == 0
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[tenants]]\nname = 'a.example'\n[[tenants.entries]]\napp_id = 'x'\nqueue = 'nope'\n",
         "tenants[0].entries[0].queue: unknown queue 'nope'"),
        ("[server]\nport = 'eighty'\n", "server.port: expected int"),
        ("[server]\npoll_hold_secs = 30\n[[tenants]]\nname = 'a.example'\n", "server.poll_hold_secs"),
        ("[[tenants]]\nname = 'a.example'\ncolour = 'blue'\n", "tenants[0].colour: unknown setting"),
        ("this is not toml", "invalid configuration"),
    ],
)
async def test_an_invalid_configuration_names_the_field_and_exits_2(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text(toml)
    process = await asyncio.create_subprocess_exec(
        *FRONTDESK, "serve", "--config", str(config), "--port", str(free_port()),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 2
    assert message in stderr.decode()


async def test_a_configuration_file_serves_its_tenant_entry_and_agents(tmp_path: Path) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text(
        "[server]\npoll_hold_secs = 1\n"
        "[[tenants]]\nname = 'support.example.com'\n"
        "[[tenants.queues]]\nid = 'general'\n"
        "[[tenants.entries]]\napp_id = 'web'\nqueue = 'general'\nwelcome_message = ''\n"
        "[[tenants.entries.parameters]]\nname = 'email'\ntype = 'EMAIL'\n"
        "[[tenants.entries.ice_servers]]\nurl = 'stun:stun.example.com:3478'\n"
        "[[tenants.agents]]\nusername = 'sam'\npassword = 'pw-sam'\nauto_accept = true\n")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *FRONTDESK, "serve", "--config", str(config), "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_up(base + "/api", process)
        assert (tmp_path / "data" / "frontdesk.sqlite3").is_file()  # data_dir is relative to the file
        async with CustomerClient(base, app_id="web", client_id="c-1", tenant_url="support.example.com") as customer, \
                AgentClient(base) as agent:
            assert (await customer.parameters()) == {"parameters": [{"email": "EMAIL"}]}
            assert (await customer.ice_servers()) == {"servers": [{"url": "stun:stun.example.com:3478"}]}
            await agent.login("sam", "pw-sam", tenant="support.example.com")
            await agent.set_state("ready")
            chat_id = (await customer.request_chat())["chat_id"]
            events = await customer.poll(chat_id)  # auto_accept: connected without an accept
            assert [e["state"] for e in events if e["event"] == "chat_session_status"][-1] == "connected"
            assert [c["chat_id"] for c in await agent.chats()] == [chat_id]
            demo = CustomerClient(base, app_id="demo", client_id="c-2", tenant_url="demo.local")
            with pytest.raises(Exception, match="1000"):
                await demo.availability()
            await demo.aclose()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
