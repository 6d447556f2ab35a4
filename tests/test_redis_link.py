"""The Redis link's view of up and down (``frontdesk.bus.redis.RedisLink``), on real Redis: a command
that gets no answer in time is a ``CommandTimeout`` and leaves the link up (only a failed connection
marks it down), and a link marked down comes back up while the other processes' wake-ups keep
arriving (a busy channel must not keep it down)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from frontdesk.bus.redis import CommandTimeout, LinkDown, RedisBus, RedisLink, stop_loop
from tests.cluster import MACHINE_REDIS_URL, unique_prefix, unused_redis_url, wait_for
from tests.slow_redis import COMMAND_TIMEOUT_SECS, pause, private_redis


async def test_a_command_timeout_leaves_the_link_up(tmp_path: Path) -> None:
    async with private_redis(tmp_path) as server:
        link = RedisLink(server.url, unique_prefix(), command_timeout_secs=COMMAND_TIMEOUT_SECS)
        link.mark_up()
        try:
            await pause(server, 1_000)
            with pytest.raises(CommandTimeout):
                await link.call("test", lambda: link.client.get(link.key("x")))
            assert link.up
        finally:
            await link.close()


async def test_a_failed_connection_marks_the_link_down() -> None:
    link = RedisLink(unused_redis_url(), unique_prefix())
    link.mark_up()
    try:
        with pytest.raises(LinkDown):
            await link.call("test", lambda: link.client.get(link.key("x")))
        assert not link.up
    finally:
        await link.close()


async def test_a_link_marked_down_comes_back_while_wake_ups_keep_arriving() -> None:
    prefix = unique_prefix()
    here, other = RedisBus(RedisLink(MACHINE_REDIS_URL, prefix)), RedisBus(RedisLink(MACHINE_REDIS_URL, prefix))
    chatter: asyncio.Task[None] | None = None
    try:
        for bus in (here, other):
            await bus.start()
        await wait_for(lambda: here.link.up and other.link.up, what="both buses to connect")
        heard: list[str] = []
        here.add_listener(lambda topic, seq: heard.append(topic))

        async def chat() -> None:
            while True:  # the other process's traffic: a wake-up far more often than the link is looked at
                other.publish("chat:busy", 1)
                await asyncio.sleep(0.02)

        chatter = asyncio.ensure_future(chat())
        await wait_for(lambda: "chat:busy" in heard, what="the other process's wake-ups")
        here.link.mark_down("test", ConnectionError("a command failed"))
        await wait_for(lambda: here.link.up, what="the link to be seen up again")
    finally:
        if chatter is not None:
            chatter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chatter
        for bus in (here, other):
            await bus.close()
            await bus.link.close()


async def test_a_loop_that_survives_a_cancellation_is_still_stopped() -> None:
    """``stop_loop``: a loop that took a cancellation for one of its commands' errors (as a
    cancelled Redis command can surface) and went on is cancelled again until it ends."""
    survived: list[bool] = []

    async def renewing() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if not survived:  # the first cancellation comes out as a command's error
                    survived.append(True)
                    continue
                raise

    task = asyncio.ensure_future(renewing())
    await asyncio.sleep(0.05)
    await asyncio.wait_for(stop_loop(task), 30)
    assert survived and task.cancelled()


async def test_stopping_a_loop_raises_what_it_failed_with() -> None:
    async def failing() -> None:
        raise RuntimeError("broken")

    task = asyncio.ensure_future(failing())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken"):
        await stop_loop(task)
