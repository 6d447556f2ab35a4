"""The W1 figure net of idle polling (bench.targets.creation_cpu_net_of_polling): the polling a batch
ran beside is the mean of the idle CPU measured at its first and last level, none before any session,
and without a measured level there is no estimate."""

from __future__ import annotations

from bench.targets import creation_cpu_net_of_polling, idle_cpu_by_sessions


def batch(start: int, created: int, rate: float, cpu_us: float) -> dict[str, float]:
    return {"from_sessions": start, "created": created, "rate_per_sec": rate, "cpu_us_per_chat": cpu_us}


def test_the_polling_of_a_batch_is_the_mean_of_its_two_levels() -> None:
    idle = {1000: 8.0, 5000: 30.0, 10000: 40.0}
    # 35 % of the core polled while 800 chats/s were made: 437.5 µs of each chat's 1,200
    assert creation_cpu_net_of_polling(batch(5000, 5000, 800.0, 1200.0), idle) == 762.5
    # no session polled before the first batch: half of the 8 % at its end
    assert creation_cpu_net_of_polling(batch(0, 1000, 1000.0, 800.0), idle) == 760.0


def test_no_estimate_without_both_levels_or_a_rate() -> None:
    assert creation_cpu_net_of_polling(batch(5000, 5000, 800.0, 1200.0), {10000: 40.0}) is None
    assert creation_cpu_net_of_polling(batch(0, 1000, 1000.0, 800.0), {5000: 30.0}) is None
    assert creation_cpu_net_of_polling(batch(0, 1000, 0.0, 800.0), {1000: 8.0}) is None


def test_idle_cpu_is_read_from_the_w2_windows() -> None:
    data = {"W2": [{"sessions": 1000, "server_cpu_pct": 8.2}, {"sessions": 5000, "server_cpu_pct": None}]}
    assert idle_cpu_by_sessions(data) == {1000: 8.2}
