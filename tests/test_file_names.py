"""The file name a client gives in ``chat_session_file`` is the one agents, history and downloads
show (spchat uploads ``./tmp/<uuid>`` and names the file in the event), without path parts."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import unquote

import pytest

from frontdesk.client import AgentClient, CustomerClient
from tests.conftest import LiveServer

JsonObject = dict[str, Any]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def connected(live: LiveServer, client_id: str) -> tuple[CustomerClient, AgentClient, str]:
    customer = live.customer(client_id=client_id, version="v1")
    chat_id = str((await customer.request_chat({"first_name": "Sam"}))["chat_id"])
    agent = await live.agent()
    await agent.accept(chat_id)
    return customer, agent, chat_id


def download_name(content_disposition: str) -> str:
    """The file name of a Content-Disposition header (``filename*=utf-8''…`` or ``filename="…"``)."""
    encoded = re.search(r"filename\*=utf-8''([^;]+)", content_disposition)
    if encoded:
        return unquote(encoded.group(1))
    plain = re.search(r'filename="([^"]*)"', content_disposition)
    assert plain, content_disposition
    return plain.group(1)


def file_events(events: list[JsonObject]) -> list[JsonObject]:
    """``chat_session_file`` events of a customer history or of the agent API's ``{seq, event}`` list."""
    payloads = [e.get("event") if isinstance(e.get("event"), dict) else e for e in events]
    return [p for p in payloads if isinstance(p, dict) and p.get("event") == "chat_session_file"]


@pytest.mark.parametrize(("given", "shown"), [
    pytest.param("scan.pdf", "scan.pdf", id="plain"),
    pytest.param("./tmp/invoice.pdf", "invoice.pdf", id="relative-path"),
    pytest.param("../../etc/passwd", "passwd", id="traversal"),
    pytest.param("C:\\Users\\me\\My Scan.pdf", "My Scan.pdf", id="windows-path"),
    pytest.param("bad\x00na\x1bme.pdf", "badname.pdf", id="control-characters"),
])
async def test_the_events_file_name_is_what_agents_history_and_downloads_show(
        live: LiveServer, given: str, shown: str) -> None:
    customer, agent, chat_id = await connected(live, f"spchat-{uuid.uuid4().hex[:8]}")
    temporary = f"./tmp/{uuid.uuid4()}"
    uploaded = await customer.upload(temporary, PDF, "application/octet-stream", field="file")
    assert uploaded["file_name"] != shown  # the upload's name is the temporary one
    await customer.send_events(chat_id, {"event": "chat_session_file", "msg_id": "", "file_id": uploaded["file_id"],
                                         "file_type": "attachment", "file_name": given})
    agent_side = file_events(await agent.events(chat_id))
    assert [e["file_name"] for e in agent_side] == [shown]
    assert [e["file_name"] for e in file_events(await customer.history(chat_id))] == [shown]
    download = await customer.download(chat_id, uploaded["file_id"])
    assert download.content == PDF
    assert download_name(download.headers["content-disposition"]) == shown
    await customer.aclose()
    await agent.aclose()


@pytest.mark.parametrize("given", [pytest.param("", id="empty"), pytest.param("../", id="only-path-parts"),
                                   pytest.param(None, id="absent")])
async def test_without_a_usable_name_the_upload_name_stays(live: LiveServer, given: str | None) -> None:
    customer, agent, chat_id = await connected(live, f"web-{uuid.uuid4().hex[:8]}")
    uploaded = await customer.upload("report.pdf", PDF, "application/pdf")
    event: JsonObject = {"event": "chat_session_file", "msg_id": "", "file_id": uploaded["file_id"],
                         "file_type": "attachment"}
    if given is not None:
        event["file_name"] = given
    await customer.send_events(chat_id, event)
    assert [e["file_name"] for e in file_events(await agent.events(chat_id))] == ["report.pdf"]
    assert [e["file_name"] for e in file_events(await customer.history(chat_id))] == ["report.pdf"]
    download = await customer.download(chat_id, uploaded["file_id"])
    assert download_name(download.headers["content-disposition"]) == "report.pdf"
    await customer.aclose()
    await agent.aclose()
