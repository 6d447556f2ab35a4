"""Agent presence across processes: leases in Redis.

A process with a desktop (WebSocket) of an agent holds a lease on it: member ``<node id>`` of the
sorted set ``<prefix>desk:<agent id>``, scored with the lease's end, renewed every
``RENEW_SECS`` for every agent the process holds. ``<prefix>desks`` scores each agent with the
latest end of its leases. Times are Redis's own clock (``TIME``), so the nodes' clocks do not matter.

* ``leave`` drops this process's lease and answers whether any other lease of the agent is still
  running (then the agent stays present: its "agent lost" timer is not set).
* ``claim_lapsed`` claims the agents whose every lease ran out without a ``leave``: a process that
  died or lost Redis for longer than ``LEASE_SECS``. Whoever claims one sets its "agent lost" timer, so
  a crashed node's agents are released ``LEASE_SECS`` plus the tenant's grace after its last renewal.
  The claim is at least once: it moves the agent to ``<prefix>releasing``, scored with the claim's
  end (``CLAIM_SECS`` later), with the claim's id in the hash ``<prefix>claims``. Only
  ``confirm_released`` with that id ends it, and the caller confirms only after the timer is
  committed. A claim still there at its end (the claim's reply was lost, the caller failed before
  committing, or died) is offered again to the next caller, on any process; one whose agent has a
  live lease again (a desktop came back) is dropped instead.
* ``present`` is asked when that timer fires: a desktop that opened on another node meanwhile
  keeps the agent.

While Redis is unreachable each answer is this process's own view (the single-process rules).
The scripts name keys they build themselves: one Redis (or all keys in one slot), not a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

from frontdesk.bus.interfaces import LapsedClaim
from frontdesk.bus.redis import NoAnswer, RedisLink, stop_loop

log = logging.getLogger(__name__)

LEASE_SECS = 15.0
RENEW_SECS = 5.0
CLAIM_SECS = 10.0  # a claim of a lapsed agent not confirmed within this is offered again
MAX_LAPSED = 100  # lapsed agents claimed per call (and as many claims offered again)

_JOIN = """
local t = redis.call('TIME')
local ends = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[2])
for i, agent in ipairs(ARGV) do
  if i > 2 then
    redis.call('ZADD', ARGV[1] .. 'desk:' .. agent, ends, KEYS[1])
    redis.call('ZADD', ARGV[1] .. 'desks', 'GT', ends, agent)  -- adds it, or moves its end later
  end
end
return 1
"""
_LEAVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local key = ARGV[1] .. 'desk:' .. ARGV[2]
redis.call('ZREM', key, KEYS[1])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZCARD', key) == 0 then
  redis.call('DEL', key)
  redis.call('ZREM', ARGV[1] .. 'desks', ARGV[2])
  return 1
end
return 0
"""
_PRESENT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
return redis.call('ZCOUNT', ARGV[1] .. 'desk:' .. ARGV[2], '(' .. now, '+inf')
"""
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local prefix, limit = ARGV[1], tonumber(ARGV[2])
local releasing, claims = prefix .. 'releasing', prefix .. 'claims'
local claimed, seen = {}, {}
-- claims not confirmed in time: offered again, unless a desktop of the agent came back meanwhile
for _, agent in ipairs(redis.call('ZRANGEBYSCORE', releasing, '-inf', now, 'LIMIT', 0, limit)) do
  if redis.call('ZCOUNT', prefix .. 'desk:' .. agent, '(' .. now, '+inf') > 0 then
    redis.call('ZREM', releasing, agent)
    redis.call('HDEL', claims, agent)
  else
    seen[agent] = true
    table.insert(claimed, agent)
  end
end
-- agents whose every lease ran out
for _, agent in ipairs(redis.call('ZRANGEBYSCORE', prefix .. 'desks', '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', prefix .. 'desks', agent)
  redis.call('DEL', prefix .. 'desk:' .. agent)
  if not seen[agent] then
    seen[agent] = true
    table.insert(claimed, agent)
  end
end
for _, agent in ipairs(claimed) do
  redis.call('ZADD', releasing, now + tonumber(ARGV[3]), agent)
  redis.call('HSET', claims, agent, ARGV[4])
end
return claimed
"""
_CONFIRM = """
if redis.call('HGET', ARGV[1] .. 'claims', ARGV[2]) == ARGV[3] then
  redis.call('HDEL', ARGV[1] .. 'claims', ARGV[2])
  redis.call('ZREM', ARGV[1] .. 'releasing', ARGV[2])
  return 1
end
return 0
"""


class RedisPresence:
    def __init__(self, link: RedisLink, lease_secs: float = LEASE_SECS, renew_secs: float = RENEW_SECS,
                 claim_secs: float = CLAIM_SECS) -> None:
        self.link = link
        self.lease_secs = lease_secs
        self.renew_secs = renew_secs
        self.claim_secs = claim_secs
        client = link.client
        self._join, self._leave = client.register_script(_JOIN), client.register_script(_LEAVE)
        self._present = client.register_script(_PRESENT)
        self._claim, self._confirm = client.register_script(_CLAIM), client.register_script(_CONFIRM)
        self._claims = itertools.count(1)  # this process's claims, numbered (ids: node id and number)
        self._agents: set[str] = set()  # agents with a desktop on this process
        self._task: asyncio.Task[None] | None = None

    async def _renew(self, agents: list[str]) -> None:
        if agents:
            await self.link.call("presence", lambda: self._join(
                keys=[self.link.node_id], args=[self.link.prefix, self.lease_secs, *agents]))

    async def join(self, agent_id: str) -> None:
        self._agents.add(agent_id)
        with contextlib.suppress(NoAnswer):
            await self._renew([agent_id])

    async def leave(self, agent_id: str) -> bool:
        self._agents.discard(agent_id)
        try:
            gone = await self.link.call("presence", lambda: self._leave(
                keys=[self.link.node_id], args=[self.link.prefix, agent_id]))
        except NoAnswer:
            return True
        return bool(gone)

    async def present(self, agent_id: str) -> bool:
        if agent_id in self._agents:
            return True
        try:
            count = await self.link.call("presence", lambda: self._present(
                keys=[self.link.node_id], args=[self.link.prefix, agent_id]))
        except NoAnswer:
            return False
        return int(count) > 0

    async def claim_lapsed(self) -> list[LapsedClaim]:
        if time.monotonic() - self.link.up_since < 2 * self.renew_secs:
            # the link just came back: every live process gets to renew its leases first (an
            # outage longer than a lease lets them all run out)
            return []
        claim_id = f"{self.link.node_id}:{next(self._claims)}"
        try:
            agents = await self.link.call("presence", lambda: self._claim(
                keys=[self.link.node_id], args=[self.link.prefix, MAX_LAPSED, self.claim_secs, claim_id]))
        except NoAnswer:
            return []  # if the claim ran, its agents are offered again when it ends unconfirmed
        return [LapsedClaim(a.decode() if isinstance(a, bytes) else str(a), claim_id) for a in agents]

    async def confirm_released(self, claim: LapsedClaim) -> None:
        with contextlib.suppress(NoAnswer):  # unconfirmed: offered again, and the release is idempotent
            await self.link.call("presence", lambda: self._confirm(
                keys=[self.link.node_id], args=[self.link.prefix, claim.agent_id, claim.claim_id]))

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._keep_leases())

    async def _keep_leases(self) -> None:
        """Renew this process's leases every ``renew_secs`` (at once after the link comes back)."""
        while True:
            await asyncio.sleep(self.renew_secs)
            with contextlib.suppress(NoAnswer):
                await self._renew(sorted(self._agents))

    async def close(self) -> None:
        if self._task is not None:
            await stop_loop(self._task)
            self._task = None
