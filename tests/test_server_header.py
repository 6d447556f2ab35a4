"""Answers name no server software (no ``server`` header), and still carry a ``date``."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer


async def test_answers_carry_a_date_but_no_server_header(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        for path in ("/api", "/clientweb/api/v2/chats/no-such-chat/events?tenantUrl=demo.local", "/agent"):
            response = await http.get(path)
            assert "server" not in response.headers, (path, response.headers)
            assert response.headers.get("date"), path
