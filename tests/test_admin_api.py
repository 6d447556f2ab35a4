"""The admin API and configuration reloads, over HTTP against a real server (and SIGHUP against a
real `frontdesk serve --config` process): live chats carry on; a refused reload changes nothing."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from frontdesk.client import AgentClient
from frontdesk.client.agent import AgentError
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME, contact_center_to_document, load_settings
from tests.conftest import LiveServer, StartServer, free_port
from tests.test_cli import FRONTDESK, _wait_until_up

JsonObject = dict[str, Any]


class Admin:
    """The admin API as an admin (or any agent) calls it."""

    def __init__(self, base_url: str, token: str) -> None:
        self.url = f"{base_url}/agent/api/v1/admin"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(self, method: str, path: str, document: JsonObject | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10.0) as http:
            return await http.request(method, f"{self.url}/{path}", headers=self.headers, json=document)

    async def get(self) -> JsonObject:
        response = await self.call("GET", "config")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def put(self, document: JsonObject, status: int = 200) -> JsonObject:
        response = await self.call("PUT", "config", document)
        assert response.status_code == status, response.text
        return dict(response.json())


async def admin_of(live: LiveServer) -> Admin:
    async with AgentClient(live.base_url) as anna:
        await anna.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        return Admin(live.base_url, anna.token)


def with_billing(doc: JsonObject) -> JsonObject:
    """The document with a second queue, a changed greeting and a new agent, bob."""
    doc = copy.deepcopy(doc)
    tenant = doc["tenants"][0]
    tenant["queues"].append({"id": "billing", "name": "Billing", "skills": {"billing": 2}, "priority": 5})
    tenant["entries"][0]["welcome_message"] = "Hello again, after a reload."
    tenant["agents"].append({"username": "bob", "password": "pw-bob", "max_chats": 1})
    return doc


async def test_get_config_answers_the_running_document_without_password_hashes(live: LiveServer) -> None:
    admin = await admin_of(live)
    doc = await admin.get()
    assert doc == contact_center_to_document(live.frontdesk.live.current)
    assert doc["tenants"][0]["agents"][0]["role"] == "admin"
    assert "scrypt$" not in str(doc)
    assert "password" not in str(doc)


async def test_a_new_config_applies_while_a_live_chat_carries_on(live: LiveServer) -> None:
    admin = await admin_of(live)
    async with live.customer("reload-1") as customer:
        chat_id = (await customer.request_chat({"first_name": "Ada"}))["chat_id"]
        assert [e["event"] for e in await customer.poll(chat_id)]
        new = await admin.put(with_billing(await admin.get()))
        assert [q["id"] for q in new["tenants"][0]["queues"]] == ["general", "billing"]
        assert new == await admin.get()
        running = live.frontdesk.live.current.tenants["demo.local"]
        assert running.queues["billing"].skills == {"billing": 2}
        assert running.entries["demo"].welcome_message == "Hello again, after a reload."
        # the chat still polls, and an agent can still take it
        assert await customer.poll(chat_id) == []
        async with AgentClient(live.base_url) as anna:
            await anna.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)  # the password was kept
            await anna.set_state("ready")
            assert [o["chat_id"] for o in await anna.offers()] == [chat_id]
            await anna.accept(chat_id)
            await anna.send_message(chat_id, "Still here after the reload")
            texts = [e.get("msg") for e in await customer.poll(chat_id)]
            assert "Still here after the reload" in texts
        async with AgentClient(live.base_url) as bob:
            assert (await bob.login("bob", "pw-bob"))["max_chats"] == 1
        # and the next chat meets the new greeting
        async with live.customer("reload-2") as other:
            second = (await other.request_chat())["chat_id"]
            assert "Hello again, after a reload." in [e.get("msg") for e in await other.poll(second)]


async def test_a_bad_field_is_refused_and_the_old_config_keeps_running(live: LiveServer) -> None:
    admin = await admin_of(live)
    before = await admin.get()
    bad = with_billing(before)
    bad["tenants"][0]["queues"][1]["priority"] = 500
    answer = await admin.put(bad, status=400)
    assert answer == {"detail": "tenants[0].queues[1].priority: must be between -100 and 100"}
    bad["tenants"][0]["queues"][1]["priority"] = 5
    bad["tenants"][0]["scenarios"] = [{"name": "s", "steps": [{"goto": "nowhere"}]}]
    assert (await admin.put(bad, status=400))["detail"] == "tenants[0].scenarios[0].steps[0].goto: unknown step id " \
                                                           "'nowhere'"
    assert await admin.get() == before
    with pytest.raises(AgentError):  # bob was never added
        async with AgentClient(live.base_url) as bob:
            await bob.login("bob", "pw-bob")


async def test_removing_what_a_live_chat_uses_is_refused(live: LiveServer) -> None:
    admin = await admin_of(live)
    before = await admin.get()
    async with live.customer("remove-1") as customer:
        chat_id = (await customer.request_chat())["chat_id"]
        # the chat waits in queue general: the queue may not go
        moved = with_billing(before)
        moved["tenants"][0]["queues"] = moved["tenants"][0]["queues"][1:]
        moved["tenants"][0]["entries"][0]["queue"] = "billing"
        answer = await admin.put(moved, status=400)
        assert "queue 'general' is removed but 1 chat is still live in it" in answer["detail"]
        validated = await admin.call("POST", "config/validate", moved)
        assert (validated.status_code, validated.json()) == (400, answer)
        # nor its entry
        no_entry = copy.deepcopy(before)
        no_entry["tenants"][0]["entries"][0]["app_id"] = "other"
        assert "entry 'demo' is removed" in (await admin.put(no_entry, status=400))["detail"]
        # nor its tenant
        no_tenant = copy.deepcopy(before)
        no_tenant["tenants"][0]["name"] = "other.example"
        no_tenant["tenants"][0]["agents"][0]["password"] = "pw"
        no_tenant["default_tenant"] = ""
        assert (await admin.put(no_tenant, status=400))["detail"] == \
            "tenants: tenant 'demo.local' is removed but 1 chat is still live in it"
        assert await admin.get() == before
        assert await customer.poll(chat_id)
        # once the chat has ended, the queue may go
        await customer.end(chat_id)
    assert [q["id"] for q in (await admin.put(moved))["tenants"][0]["queues"]] == ["billing"]


async def test_validate_checks_and_never_applies(live: LiveServer) -> None:
    admin = await admin_of(live)
    before = await admin.get()
    response = await admin.call("POST", "config/validate", with_billing(before))
    assert (response.status_code, response.json()) == (200, {"ok": True})
    bad = with_billing(before)
    bad["tenants"][0]["hours"] = [{"id": "office", "weekly": {"mon": "17:00-09:00"}}]
    response = await admin.call("POST", "config/validate", bad)
    assert (response.status_code, response.json()) == (
        400, {"detail": "tenants[0].hours[0].weekly.mon: '17:00-09:00' must end after it starts"})
    assert await admin.get() == before


async def test_only_admins_may_call_it(live: LiveServer) -> None:
    admin = await admin_of(live)
    doc = with_billing(await admin.get())
    await admin.put(doc)
    async with AgentClient(live.base_url) as bob:
        await bob.login("bob", "pw-bob")
        as_bob = Admin(live.base_url, bob.token)
        for method, path in (("GET", "config"), ("PUT", "config"), ("POST", "config/validate"), ("POST", "reload")):
            response = await as_bob.call(method, path, doc if method != "GET" else None)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json() == {"detail": "this needs an agent whose role is admin"}
    for token in ("", "not-a-token"):
        assert (await Admin(live.base_url, token).call("GET", "config")).status_code == 401
    # a supervisor is not an admin either
    doc["tenants"][0]["agents"][1]["role"] = "supervisor"
    await admin.put(doc)
    async with AgentClient(live.base_url) as bob:
        await bob.login("bob", "pw-bob")
        assert (await Admin(live.base_url, bob.token).call("GET", "config")).status_code == 403
    # an admin again: now it may
    doc["tenants"][0]["agents"][1]["role"] = "admin"
    await admin.put(doc)
    async with AgentClient(live.base_url) as bob:
        await bob.login("bob", "pw-bob")
        assert (await Admin(live.base_url, bob.token).call("GET", "config")).status_code == 200


async def test_a_body_that_is_not_an_object_is_refused(live: LiveServer) -> None:
    admin = await admin_of(live)
    before = await admin.get()
    async with httpx.AsyncClient() as http:
        response = await http.put(f"{admin.url}/config", headers=admin.headers, content=b"[1, 2]")
    assert response.status_code in (400, 422)
    assert (await admin.call("PUT", "config", {"tenants": "x"})).json() == {
        "detail": "tenants: expected list, got str"}
    assert await admin.get() == before


async def test_a_removed_agent_is_logged_out_and_its_chat_goes_back_to_the_queue(live: LiveServer) -> None:
    admin = await admin_of(live)
    original = await admin.get()
    await admin.put(with_billing(original))
    async with live.customer("removed-1") as customer, AgentClient(live.base_url) as bob, \
            AgentClient(live.base_url) as anna:
        await bob.login("bob", "pw-bob")
        await bob.set_state("ready")
        chat_id = (await customer.request_chat({"first_name": "Ada"}))["chat_id"]
        await bob.accept(chat_id)
        without_bob = await admin.get()
        without_bob["tenants"][0]["agents"] = without_bob["tenants"][0]["agents"][:1]
        await admin.put(without_bob)
        with pytest.raises(AgentError) as caught:
            await bob.chats()
        assert caught.value.status == 401  # the token is gone
        with pytest.raises(AgentError) as caught:
            await bob.login("bob", "pw-bob")
        assert caught.value.status == 401  # and the account can no longer log in
        record = (await live.frontdesk.access.authenticate(admin.headers["Authorization"].split()[1])).agent
        assert record.username == DEMO_AGENT_USERNAME
        # the chat went back to the queue: anna takes it
        await anna.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        await anna.set_state("ready")
        assert [o["chat_id"] for o in await anna.offers()] == [chat_id]
        await anna.accept(chat_id)
        events = await customer.poll(chat_id)
        assert [e["state"] for e in events if e["event"] == "chat_session_status"][-1] == "connected"
    # listed again (with a password), bob is back
    await admin.put(with_billing(original))
    async with AgentClient(live.base_url) as bob:
        await bob.login("bob", "pw-bob")


async def test_reload_needs_a_file(live: LiveServer) -> None:
    admin = await admin_of(live)
    response = await admin.call("POST", "reload")
    assert response.status_code == 409
    assert "embedded demo" in response.json()["detail"]


CONFIG = """
[server]
poll_hold_secs = 1

[[tenants]]
name = "support.example.com"

[[tenants.queues]]
id = "general"

[[tenants.entries]]
app_id = "web"
queue = "general"
welcome_message = "{welcome}"

[[tenants.agents]]
username = "root"
password = "pw-root"
role = "admin"
"""


async def test_reload_rereads_the_file(tmp_path: Path, start_server: StartServer) -> None:
    path = tmp_path / "frontdesk.toml"
    path.write_text(CONFIG.format(welcome="first"))
    live = await start_server(settings=load_settings(path))
    async with AgentClient(live.base_url) as root:
        await root.login("root", "pw-root")
        admin = Admin(live.base_url, root.token)
    path.write_text(CONFIG.format(welcome="second") + '[[tenants.queues]]\nid = "sales"\n')
    response = await admin.call("POST", "reload")
    assert response.status_code == 200, response.text
    assert [q["id"] for q in response.json()["tenants"][0]["queues"]] == ["general", "sales"]
    assert response.json()["tenants"][0]["entries"][0]["welcome_message"] == "second"
    before = await admin.get()
    # a broken file: 400 naming the field, nothing changes
    path.write_text(CONFIG.format(welcome="third") + '[[tenants.queues]]\nid = "sales"\noverflow = "nope"\n')
    response = await admin.call("POST", "reload")
    assert (response.status_code, response.json()) == (400, {"detail": "tenants[0].queues[1].overflow: unknown "
                                                                       "queue 'nope'"})
    # server settings are validated but not applied
    path.write_text(CONFIG.replace("poll_hold_secs = 1", "poll_hold_secs = 60").format(welcome="third"))
    assert (await admin.call("POST", "reload")).json()["detail"].startswith("server.poll_hold_secs")
    path.write_text(CONFIG.replace("poll_hold_secs = 1", "poll_hold_secs = 2").format(welcome="third"))
    assert (await admin.call("POST", "reload")).status_code == 200
    assert live.frontdesk.settings.poll_hold_secs == 1
    assert (await admin.get())["tenants"][0]["entries"][0]["welcome_message"] == "third"
    assert before != await admin.get()


async def _read_until(stream: asyncio.StreamReader, needle: str, lines: list[str]) -> None:
    async with asyncio.timeout(15):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"the process ended before logging {needle!r}: {''.join(lines)}")
            lines.append(line)
            if needle in line:
                return


async def test_sighup_reloads_the_file_of_a_running_server(tmp_path: Path) -> None:
    path = tmp_path / "frontdesk.toml"
    path.write_text(CONFIG.format(welcome="first"))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *FRONTDESK, "serve", "--config", str(path), "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    assert process.stderr is not None
    try:
        await _wait_until_up(base + "/api", process)
        async with AgentClient(base) as root:
            await root.login("root", "pw-root", tenant="support.example.com")
            admin = Admin(base, root.token)
            assert [q["id"] for q in (await admin.get())["tenants"][0]["queues"]] == ["general"]
            path.write_text(CONFIG.format(welcome="second") + '[[tenants.queues]]\nid = "sales"\n'
                            '[[tenants.agents]]\nusername = "sam"\npassword = "pw-sam"\n')
            process.send_signal(signal.SIGHUP)
            await _read_until(process.stderr, "configuration applied", lines)
            assert [q["id"] for q in (await admin.get())["tenants"][0]["queues"]] == ["general", "sales"]
            async with AgentClient(base) as sam:
                await sam.login("sam", "pw-sam", tenant="support.example.com")
            before = await admin.get()
            # a broken file: logged, the server keeps running the configuration it had
            path.write_text(CONFIG.format(welcome="third") + "[[tenants.queues]]\nid = 'x'\ncolour = 'red'\n")
            process.send_signal(signal.SIGHUP)
            await _read_until(process.stderr, "configuration refused", lines)
            assert "tenants[0].queues[1].colour: unknown setting" in lines[-1]
            assert await admin.get() == before
            assert process.returncode is None
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=10)


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGHUP")
async def test_sighup_to_the_demo_is_logged_and_ignored(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *FRONTDESK, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    assert process.stderr is not None
    try:
        await _wait_until_up(f"http://127.0.0.1:{port}/", process)
        process.send_signal(signal.SIGHUP)
        await _read_until(process.stderr, "configuration not reloaded", lines)
        assert "embedded demo" in lines[-1] and "[warning" in lines[-1]
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=10)


async def test_a_tenant_without_live_chats_may_go_and_its_agents_with_it(live: LiveServer) -> None:
    admin = await admin_of(live)
    original = await admin.get()
    added = copy.deepcopy(original)
    added["tenants"].append({"name": "b.example", "queues": [{"id": "q"}],
                             "entries": [{"app_id": "b-web", "queue": "q"}],
                             "agents": [{"username": "carol", "password": "pw-carol"}]})
    assert [t["name"] for t in (await admin.put(added))["tenants"]] == ["demo.local", "b.example"]
    async with AgentClient(live.base_url) as carol:
        await carol.login("carol", "pw-carol", tenant="b.example")
        await carol.set_state("ready")
        assert await admin.put(original) == original
        with pytest.raises(AgentError) as caught:
            await carol.chats()
        assert caught.value.status == 401
        with pytest.raises(AgentError) as caught:
            await carol.login("carol", "pw-carol", tenant="b.example")
        assert caught.value.status == 401
    record = (await live.frontdesk.access.authenticate(admin.headers["Authorization"].split()[1])).agent
    assert record.role == "admin"


async def test_the_admin_api_is_in_the_openapi_document(live: LiveServer, http: httpx.AsyncClient) -> None:
    paths = (await http.get(f"{live.base_url}/agent/api/v1/openapi.json")).json()["paths"]
    assert {"/admin/config", "/admin/config/validate", "/admin/reload"} <= set(paths)
    assert set(paths["/admin/config"]) == {"get", "put"}
