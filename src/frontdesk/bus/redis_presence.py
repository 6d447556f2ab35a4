"""Agent presence across processes: leases in Redis.

A process with a desktop (WebSocket) of an agent holds a lease on it: member ``<node id>`` of the
sorted set ``<prefix>desk:<agent id>``, scored with the lease's end, renewed every
``RENEW_SECS`` for every agent the process holds. ``<prefix>desks`` scores each agent with the
latest end of its leases. Times are Redis's own clock (``TIME``), so the nodes' clocks do not matter.

* ``leave`` drops this process's lease and answers whether any other lease of the agent is still
  running (then the agent stays present: its "agent lost" timer is not set).
* ``lapsed`` claims the agents whose every lease ran out without a ``leave``: a process that died
  or lost Redis for longer than ``LEASE_SECS``. Whoever claims one sets its "agent lost" timer, so
  a crashed node's agents are released ``LEASE_SECS`` plus the tenant's grace after its last renewal.
* ``present`` is asked when that timer fires: a desktop that opened on another node meanwhile
  keeps the agent.

While Redis is unreachable each answer is this process's own view (the single-process rules).
The scripts name keys they build themselves: one Redis (or all keys in one slot), not a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from frontdesk.bus.redis import NoAnswer, RedisLink

log = logging.getLogger(__name__)

LEASE_SECS = 15.0
RENEW_SECS = 5.0
MAX_LAPSED = 100  # agents claimed per call

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
_LAPSED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local agents = redis.call('ZRANGEBYSCORE', ARGV[1] .. 'desks', '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, agent in ipairs(agents) do
  redis.call('ZREM', ARGV[1] .. 'desks', agent)
  redis.call('DEL', ARGV[1] .. 'desk:' .. agent)
end
return agents
"""


class RedisPresence:
    def __init__(self, link: RedisLink, lease_secs: float = LEASE_SECS, renew_secs: float = RENEW_SECS) -> None:
        self.link = link
        self.lease_secs = lease_secs
        self.renew_secs = renew_secs
        client = link.client
        self._join, self._leave = client.register_script(_JOIN), client.register_script(_LEAVE)
        self._present, self._lapsed = client.register_script(_PRESENT), client.register_script(_LAPSED)
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

    async def lapsed(self) -> list[str]:
        if time.monotonic() - self.link.up_since < 2 * self.renew_secs:
            # the link just came back: every live process gets to renew its leases first (an
            # outage longer than a lease lets them all run out)
            return []
        try:
            agents = await self.link.call("presence", lambda: self._lapsed(
                keys=[self.link.node_id], args=[self.link.prefix, MAX_LAPSED]))
        except NoAnswer:
            return []
        return [a.decode() if isinstance(a, bytes) else str(a) for a in agents]

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
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
