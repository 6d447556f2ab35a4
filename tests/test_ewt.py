"""The estimated-wait-time model (frontdesk.domain.ewt): behaviour, and accuracy in a small simulation."""

from __future__ import annotations

import random

import pytest
from bench import ewt_sim

from frontdesk.domain import ewt, reports
from frontdesk.domain.ewt import estimate_new_arrival, estimate_waits, moved_materially

HISTORY = [float(x) for x in random.Random(3).choices(range(120, 480), k=100)]  # mean about 300 s


def waits(n: int, free: int, busy: list[float], samples: list[float] = HISTORY, default: float = 300.0,
          seed: int = 0) -> list[int]:
    estimate = estimate_waits([f"c{i}" for i in range(n)], free, busy, samples, default, seed=seed)
    assert estimate is not None
    return list(estimate.values())


def arrival(ahead: int, free: int, busy: list[float], samples: list[float] = HISTORY) -> int:
    estimate = estimate_new_arrival(ahead, free, busy, samples, 300.0)
    assert estimate is not None
    return estimate


def test_a_free_slot_means_no_wait_for_the_head() -> None:
    assert waits(1, 1, [100.0] * 5) == [0]
    assert waits(3, 2, [100.0] * 5)[:2] == [0, 0]
    assert waits(3, 2, [100.0] * 5)[2] > 0
    assert arrival(0, 1, []) == 0
    assert arrival(0, 1, [], samples=[]) == 0


def test_the_estimate_is_keyed_by_chat_id_in_queue_order() -> None:
    estimate = estimate_waits(["a", "b", "c"], 0, [50.0, 60.0], HISTORY, 300.0)
    assert estimate is not None
    assert list(estimate) == ["a", "b", "c"]
    assert estimate_waits([], 0, [50.0], HISTORY, 300.0) == {}


@pytest.mark.parametrize(("free", "busy"), [(0, [30.0, 200.0, 400.0]), (2, [10.0] * 8), (0, [5.0] * 30), (1, [])])
def test_waits_do_not_decrease_along_the_queue(free: int, busy: list[float]) -> None:
    estimate = waits(40, free, busy)
    assert estimate == sorted(estimate)
    assert estimate[-1] > estimate[0]


def test_more_chats_ahead_means_a_longer_wait() -> None:
    busy = [60.0, 120.0, 180.0, 240.0]
    by_ahead = [arrival(ahead, 0, busy) for ahead in (0, 1, 4, 10, 30)]
    assert by_ahead == sorted(by_ahead)
    assert by_ahead[-1] > 2 * by_ahead[1]
    # the arrival at the tail sees what the last waiting chat would see one place further back
    assert arrival(9, 0, busy) == waits(10, 0, busy)[-1]


def test_more_slots_mean_shorter_waits() -> None:
    busy = [100.0] * 6
    fewer = waits(20, 0, busy)
    more_free = waits(20, 2, busy)
    more_busy = waits(20, 0, busy * 2)
    assert all(m <= f for m, f in zip(more_free, fewer, strict=True))
    assert more_free[-1] < fewer[-1]
    assert more_busy[-1] < fewer[-1]
    assert arrival(10, 0, [100.0] * 20) < arrival(10, 0, [100.0] * 5)


def test_long_running_chats_free_sooner_when_handle_times_vary_little() -> None:
    # handle times 270..330 s: a chat 290 s in is nearly done; a fresh one has about 300 s to go
    narrow = [270.0 + 60.0 * i / 99 for i in range(100)]
    assert arrival(0, 0, [290.0, 290.0], narrow) < 40
    assert arrival(0, 0, [5.0, 5.0], narrow) > 250
    assert arrival(3, 0, [290.0, 290.0], narrow) < arrival(3, 0, [5.0, 5.0], narrow)


def test_long_running_chats_are_the_long_ones_when_handle_times_vary_a_lot() -> None:
    # most chats end within a minute, a few run 20 minutes: one still running after 2 minutes is long
    heavy = [30.0] * 80 + [1200.0] * 20
    assert arrival(0, 0, [120.0], heavy) > arrival(0, 0, [10.0], heavy)


def test_without_history_the_default_handle_time_sets_the_scale() -> None:
    at_300 = estimate_new_arrival(5, 0, [0.0] * 3, [], 300.0)
    at_600 = estimate_new_arrival(5, 0, [0.0] * 3, [], 600.0)
    assert at_300 is not None and at_600 is not None
    assert 200 < at_300 < 1200
    assert at_600 == pytest.approx(2 * at_300, abs=2)  # same seed, same draws, twice the scale


def test_nobody_staffed_is_unknown() -> None:
    assert estimate_waits(["a", "b"], 0, [], HISTORY, 300.0) is None
    assert estimate_new_arrival(0, 0, [], HISTORY, 300.0) is None
    assert estimate_new_arrival(3, 0, [], [], 300.0) is None


def test_deterministic_for_a_seed() -> None:
    busy = [float(x) for x in range(0, 600, 13)]
    assert waits(30, 0, busy, seed=7) == waits(30, 0, busy, seed=7)
    assert waits(30, 0, busy, seed=7) != waits(30, 0, busy, seed=8)


def test_odd_inputs() -> None:
    assert arrival(0, 0, [1e7], samples=[]) > 0  # a chat far beyond every handle time seen: the prior's tail
    assert arrival(0, 0, [1e7], samples=HISTORY) > 0
    assert arrival(2, 0, [-5.0, 10.0], samples=[-1.0, float("nan"), 100.0]) > 0
    with pytest.raises(ValueError, match="free_slots"):
        estimate_waits(["a"], -1, [], HISTORY, 300.0)
    with pytest.raises(ValueError, match="default_handle_secs"):
        estimate_waits(["a"], 0, [10.0], HISTORY, 0.0)


def test_moved_materially() -> None:
    assert not moved_materially(60, 85)  # within 30 s
    assert moved_materially(60, 95)
    assert not moved_materially(600, 740)  # within 25 %
    assert moved_materially(600, 760)
    assert moved_materially(600, 440)
    assert not moved_materially(0, 30)
    assert moved_materially(0, 31)


def test_the_estimate_is_the_median_of_the_futures_that_wait_long_enough_to_count() -> None:
    assert ewt.SHORT_WAIT_SECS == reports.EWT_MIN_WAIT_SECS  # the threshold the queue report measures with
    busy = [float(x) for x in range(0, 480, 16)]  # 30 busy slots, some near their end: the head waits seconds
    runs = ewt.replicated_waits(12, 0, busy, HISTORY, 300.0)
    assert runs is not None and len(runs) == ewt.REPLICATIONS
    assert all(run == sorted(run) for run in runs)
    expected, highest = [], 0
    for k in range(12):
        column = sorted(run[k] for run in runs)
        counted = [w for w in column if w >= ewt.SHORT_WAIT_SECS] or column
        highest = max(highest, round(counted[(len(counted) - 1) // 2]))
        expected.append(highest)
    assert waits(12, 0, busy) == expected
    # at the head the plain median is a wait too short to count; the estimate is one that counts
    head = sorted(run[0] for run in runs)
    assert head[len(head) // 2] < ewt.SHORT_WAIT_SECS <= waits(1, 0, busy)[0]
    # when no future waits long enough, the plain median; a free slot still means 0
    sooner = [float(x) for x in range(10, 480, 16)]
    sooner_runs = ewt.replicated_waits(1, 0, sooner, HISTORY, 300.0)
    assert sooner_runs is not None and max(run[0] for run in sooner_runs) < ewt.SHORT_WAIT_SECS
    assert waits(1, 0, sooner) == [round(sorted(run[0] for run in sooner_runs)[ewt.REPLICATIONS // 2])]
    # deeper in the queue nearly every future counts: the plain median
    assert waits(2, 1, busy)[0] == 0
    deep = sorted(run[-1] for run in runs)
    assert deep[0] >= ewt.SHORT_WAIT_SECS and waits(12, 0, busy)[-1] == round(deep[len(deep) // 2])


def test_simulated_median_relative_error_is_below_the_bound() -> None:
    # deterministic: simulated time, fixed seeds. A small team with deep queues (3 agents × 2 slots,
    # utilisation 0.95): 18.4 % with this seed (10.8–18.4 % over seeds 1–3); see bench/EWT.md for why
    # short queues have a higher floor.
    distribution = ewt_sim.gamma(ewt_sim.MEAN_HANDLE_SECS, 0.5)
    chats, _ = ewt_sim.simulate(distribution, 3000, seed=1, agents=3, max_chats=2, utilisation=0.95)
    summary = ewt_sim.summarise(chats)
    assert summary["measured"] > 1000
    assert summary["model"]["median_relative_error"] < 0.22
    assert summary["model"]["median_relative_error"] <= summary["naive"]["median_relative_error"]


def test_the_head_of_a_large_team_is_estimated_better_than_by_the_plain_median() -> None:
    # the headline configuration (10 agents × 3 slots, utilisation 0.9), short: 24.5 % with this seed, against
    # 26.3 % for the plain median of the same futures (seeds 1–3: 20–25 % against 21–26 %); the gain is at the head
    distribution = ewt_sim.gamma(ewt_sim.MEAN_HANDLE_SECS, 0.5)
    chats, _ = ewt_sim.simulate(distribution, 3000, seed=1)
    summary = ewt_sim.summarise(chats)
    assert summary["measured"] > 500
    model, median = summary["model"], summary["median"]
    assert model["median_relative_error"] < 0.28
    assert model["median_relative_error"] < median["median_relative_error"]
    assert model["median_relative_error"] <= summary["naive"]["median_relative_error"]
    head, plain_head = model["by_position"]["1"], median["by_position"]["1"]
    assert head["median_relative_error"] < 0.5 * plain_head["median_relative_error"]
