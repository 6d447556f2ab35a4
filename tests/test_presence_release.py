"""The agents of a dead process are released at least once and exactly once, on the real Redis (a
unique prefix) and the engine (a real server on a fake clock, its SQLite or PostgreSQL).

A "dead" process is a ``RedisPresence`` that joined and then never renewed (a short lease). The
survivors are two ``AgentStream``s, as two processes would have them, over the server's services.
Lost answers are simulated at Redis's edge: the claim script runs, then its caller sees a timeout
(the reply was lost); a release whose handler raises after the claim; a confirmation that gets no
answer; two processes claiming at once. Each ends with exactly one release: one "agent lost" timer,
due a grace after the first release (a later one does not move it), then one logout and one
``party_left`` in the agent's chat. The tests wait for conditions (leases running out in Redis's
clock), never assert a duration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from frontdesk.bus.redis import RedisLink
from frontdesk.bus.redis_presence import RedisPresence
from frontdesk.client import AgentClient, CustomerClient
from frontdesk.delivery.agent_stream import AgentStream
from frontdesk.domain.lifecycle import AGENT_LOST, agent_key
from frontdesk.storage.records import TimerRecord
from tests.center import TENANT, Center, center_config, start_center
from tests.cluster import MACHINE_REDIS_URL, eventually, unique_prefix
from tests.conftest import StartServer

GRACE_SECS = 30
DEAD_LEASE_SECS = 0.2  # the dead process's leases: they run out at once
CLAIM_SECS = 0.3  # the survivors' claims: an unconfirmed one is offered again soon
BOB, CAT = f"{TENANT}/bob", f"{TENANT}/cat"


@dataclass
class Deployment:
    center: Center
    links: list[RedisLink]
    dead: RedisPresence  # the process that died holding the agents' desktops
    survivors: list[AgentStream]

    def survivor(self, index: int) -> RedisPresence:
        presence = self.survivors[index].presence
        assert isinstance(presence, RedisPresence)
        return presence

    async def timer(self, agent_id: str) -> TimerRecord | None:
        async with self.center.live.frontdesk.storage.read() as tx:
            return await tx.timers.get(agent_key(agent_id), AGENT_LOST)

    async def claims_open(self) -> int:
        return int(await self.links[0].client.zcard(self.links[0].key("releasing")))

    async def lapsed(self, *agents: str) -> None:
        """Wait until the dead process's leases of ``agents`` ran out (in Redis's clock)."""
        async def gone() -> bool:
            return not any([await self.survivor(0).present(a) for a in agents])
        await eventually(gone, what="the dead process's leases to run out")

    async def released_by(self, index: int, *agents: str) -> None:
        """Ask survivor ``index`` until it has released ``agents`` (claimed and confirmed)."""
        confirmed: list[str] = []

        async def done() -> bool:
            confirmed.extend(await self.survivors[index].release_lapsed())
            return sorted(confirmed) == sorted(agents)
        await eventually(done, what=f"{agents} released")


@asynccontextmanager
async def deployment(start_server: StartServer) -> AsyncIterator[Deployment]:
    center = await start_center(start_server, center_config(agent_lost_grace_secs=GRACE_SECS))
    prefix = unique_prefix()
    links = [RedisLink(MACHINE_REDIS_URL, prefix) for _ in range(3)]
    for link in links:
        link.mark_up()  # no bus here: the link is taken as up
    frontdesk = center.live.frontdesk
    survivors = [AgentStream(frontdesk.agents, frontdesk.notifier,
                             RedisPresence(link, renew_secs=0.01, claim_secs=CLAIM_SECS)) for link in links[1:]]
    try:
        yield Deployment(center, links, RedisPresence(links[0], lease_secs=DEAD_LEASE_SECS), survivors)
    finally:
        await center.close()
        keys = [k async for k in links[0].client.scan_iter(match=prefix + "*")]
        if keys:
            await links[0].client.delete(*keys)
        for link in links:
            await link.close()


@dataclass
class Held:
    """An agent in a chat, with its desktop on the dead process."""

    agent_id: str
    agent: AgentClient
    customer: CustomerClient
    chat_id: str


async def agent_in_chat(d: Deployment, username: str) -> Held:
    agent = await d.center.agent(username)
    customer, chat_id = await d.center.chat(f"customer-of-{username}")
    await agent.accept(chat_id)
    await d.dead.join(f"{TENANT}/{username}")
    return Held(f"{TENANT}/{username}", agent, customer, chat_id)


async def assert_released_once(d: Deployment, due_at: float, *held: Held) -> None:
    """Each agent's one release: its timer, due ``due_at``, logs it out once; its chat is queued again."""
    for h in held:
        timer = await d.timer(h.agent_id)
        assert timer is not None and timer.due_at == due_at
        assert (await h.agent.chat(h.chat_id))["state"] == "connected"  # within the grace nothing changed
    await d.center.live.advance(due_at - d.center.live.clock.now())
    for h in held:
        assert await d.timer(h.agent_id) is None
        events = await h.customer.poll_after(h.chat_id, 0)
        assert [e["event"] for e in events].count("chat_session_party_left") == 1
        assert events[-1]["event"] == "chat_session_status" and events[-1]["state"] == "queued"


def reply_lost(presence: RedisPresence, monkeypatch: pytest.MonkeyPatch, script: str, runs: bool) -> list[Any]:
    """Make ``presence``'s Redis script ``script`` time out for its caller: after it ran on the
    server (``runs``; its results are collected in the list returned), or without running."""
    original = getattr(presence, script)
    ran: list[Any] = []

    async def lost(**kwargs: Any) -> Any:
        if runs:
            ran.extend(await original(**kwargs))
        raise RedisTimeoutError("Timeout reading from socket")

    monkeypatch.setattr(presence, script, lost)
    return ran


async def test_a_claim_whose_reply_was_lost_is_offered_again_and_released_once(
        start_server: StartServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with deployment(start_server) as d:
        bob = await agent_in_chat(d, "bob")
        ran = reply_lost(d.survivor(0), monkeypatch, "_claim", runs=True)
        await d.lapsed(BOB)

        async def claimed_in_vain() -> bool:
            assert await d.survivors[0].release_lapsed() == []  # the claim ran, its reply was lost
            return bool(ran)
        await eventually(claimed_in_vain, what="the lost claim")
        assert ran == [BOB.encode()]
        assert await d.timer(BOB) is None  # nothing was released by it
        released_at = d.center.live.clock.now()
        await d.released_by(1, BOB)  # the other process gets it once the claim's lease ran out
        assert await d.claims_open() == 0  # confirmed
        d.center.live.clock.advance(5)
        assert await d.survivors[1].release_lapsed() == [] and await d.survivors[0].release_lapsed() == []
        await assert_released_once(d, released_at + GRACE_SECS, bob)


async def test_a_release_that_failed_after_its_claim_is_offered_again(
        start_server: StartServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with deployment(start_server) as d:
        bob = await agent_in_chat(d, "bob")
        agents = d.center.live.frontdesk.agents
        failed: list[str] = []

        async def database_gone(agent_id: str) -> None:
            failed.append(agent_id)
            raise ConnectionError("the database went away")

        monkeypatch.setattr(agents, "desktops_lapsed", database_gone)
        await d.lapsed(BOB)

        async def tried() -> bool:
            assert await d.survivors[0].release_lapsed() == []  # failed: not confirmed
            return bool(failed)
        await eventually(tried, what="the failing release")
        assert failed == [BOB] and await d.timer(BOB) is None and await d.claims_open() == 1
        monkeypatch.undo()  # the database is back
        released_at = d.center.live.clock.now()
        await d.released_by(1, BOB)
        assert await d.claims_open() == 0
        await assert_released_once(d, released_at + GRACE_SECS, bob)


async def test_a_release_whose_confirmation_was_lost_starts_once(
        start_server: StartServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with deployment(start_server) as d:
        bob = await agent_in_chat(d, "bob")
        reply_lost(d.survivor(0), monkeypatch, "_confirm", runs=False)
        await d.lapsed(BOB)
        released_at = d.center.live.clock.now()

        async def released() -> bool:
            return await d.survivors[0].release_lapsed() == [BOB]
        await eventually(released, what="the release")
        assert await d.claims_open() == 1  # the confirmation got no answer: the claim stays
        d.center.live.clock.advance(5)
        await d.released_by(1, BOB)  # offered again once its lease ran out: the second release ...
        assert await d.claims_open() == 0
        # ... changed nothing: the grace still runs from the first
        await assert_released_once(d, released_at + GRACE_SECS, bob)


async def test_two_processes_claiming_at_once_release_each_agent_once(start_server: StartServer) -> None:
    async with deployment(start_server) as d:
        bob = await agent_in_chat(d, "bob")
        await bob.agent.set_state("not_ready")  # so that the next chat goes to cat
        cat = await agent_in_chat(d, "cat")
        await bob.agent.set_state("ready")
        await d.lapsed(BOB, CAT)
        released_at = d.center.live.clock.now()
        first, second = await asyncio.gather(d.survivors[0].release_lapsed(), d.survivors[1].release_lapsed())
        assert sorted(first + second) == [BOB, CAT]  # each agent to one of them
        assert await d.claims_open() == 0
        d.center.live.clock.advance(5)
        assert await d.survivors[0].release_lapsed() == [] and await d.survivors[1].release_lapsed() == []
        await assert_released_once(d, released_at + GRACE_SECS, bob, cat)


async def test_an_agent_whose_desktop_came_back_during_the_claim_is_not_released(
        start_server: StartServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with deployment(start_server) as d:
        bob = await agent_in_chat(d, "bob")
        other = RedisPresence(d.links[2])  # the process the agent's desktop reconnects to
        original = d.survivor(0)._claim

        async def claim_then_reconnect(**kwargs: Any) -> Any:
            claimed = await original(**kwargs)
            if claimed:
                await other.join(BOB)
            return claimed

        monkeypatch.setattr(d.survivor(0), "_claim", claim_then_reconnect)
        await d.lapsed(BOB)
        await d.released_by(0, BOB)  # claimed and confirmed: there was nothing to release
        assert await d.timer(BOB) is None and await d.claims_open() == 0
        await d.center.live.advance(GRACE_SECS + 1)
        assert (await bob.agent.chat(bob.chat_id))["state"] == "connected"


async def test_a_lost_claim_of_an_agent_who_came_back_is_dropped(
        start_server: StartServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with deployment(start_server) as d:
        bob = await agent_in_chat(d, "bob")
        other = RedisPresence(d.links[2])
        ran = reply_lost(d.survivor(0), monkeypatch, "_claim", runs=True)
        await d.lapsed(BOB)

        async def claimed_in_vain() -> bool:
            await d.survivors[0].release_lapsed()
            return bool(ran)
        await eventually(claimed_in_vain, what="the lost claim")
        await other.join(BOB)  # the desktop reconnects on another process (its "agent lost" timer is off)
        await d.center.live.frontdesk.agents.desktop_connected(BOB)

        async def dropped() -> bool:
            assert await d.survivors[1].release_lapsed() == []
            return await d.claims_open() == 0
        await eventually(dropped, what="the stale claim to be dropped")
        assert await d.timer(BOB) is None
        await d.center.live.advance(GRACE_SECS + 1)
        assert (await bob.agent.chat(bob.chat_id))["state"] == "connected"
