"""What the supervisor view stands on: fifty open views cost little (fifty plain WebSockets on
``/supervisor/ws`` of one tenant, one change of the tenant, one overview computation, and every socket
receives the new overview), and the overview names each chat's customer."""

from __future__ import annotations

import asyncio
import contextlib

from websockets.asyncio.client import connect

from tests.test_supervision import Team, bob_state, next_overview, stream_url, team

__all__ = ["team"]  # the fixture

VIEWS = 50


async def test_fifty_supervisor_views_cost_one_overview_computation_per_change(team: Team) -> None:
    feed = team.live.frontdesk.supervisor_feed
    feed.recheck_secs = 600.0  # no periodic re-check during the test: only the change computes
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connect(stream_url(team, team.sue))) for _ in range(VIEWS)]
        firsts = await asyncio.gather(*(next_overview(ws, timeout=30) for ws in sockets))
        assert {bob_state(view) for view in firsts} == {"ready"}
        assert feed.open_sockets == VIEWS
        before = feed.computations

        await team.bob.set_state("not_ready")  # one change of the tenant
        updates = await asyncio.gather(*(next_overview(ws, lambda v: bob_state(v) == "not_ready", timeout=30)
                                         for ws in sockets))
        assert len(updates) == VIEWS and all(bob_state(v) == "not_ready" for v in updates)
        assert feed.computations == before + 1
        # all fifty received the very same overview (one computation fanned out)
        assert all(update == updates[0] for update in updates)



async def test_the_overview_names_each_chats_customer_from_the_pre_chat_data(team: Team) -> None:
    await team.bob.set_state("not_ready")
    async with team.live.customer("device-named") as named, team.live.customer("device-anonymous") as anonymous, \
            team.live.customer("device-first") as first_only:
        named_id = (await named.request_chat({"first_name": " Ada ", "last_name": "Lovelace"}))["chat_id"]
        anonymous_id = (await anonymous.request_chat({"first_name": 42}))["chat_id"]
        first_id = (await first_only.request_chat({"first_name": "Grace", "last_name": ""}))["chat_id"]
        overview = await team.sue.overview()
        names = {c["chat_id"]: c["customer_name"] for c in overview["chats"]}
        assert names == {named_id: "Ada Lovelace", anonymous_id: "", first_id: "Grace"}
        async with connect(stream_url(team, team.sue)) as ws:
            pushed = await next_overview(ws)
        assert {c["chat_id"]: c["customer_name"] for c in pushed["chats"]} == names
