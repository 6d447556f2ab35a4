"""Estimated wait time (EWT) of queued chats: a pure, storage-free model of the router.

The model mirrors ``routing.dispatch``: agents have ``max_chats`` slots; a queued chat goes to a
free slot of an eligible ready agent; a queue is served in order (priority, then FIFO) and a chat
holds its slot from connect until it ends (its *handle time*). Because the order is fixed, the
chat at position ``k`` (0 = head) is connected at the moment the ``k+1``-th slot becomes free,
counting slots freed again by the chats ahead of it.

What the caller gives, for one queue, at the moment of estimation:

- ``waiting``: the ids of the queued chats in service order (head first);
- ``free_slots``: free slots right now among ready agents eligible for the queue;
- ``busy_elapsed_secs``: for every chat occupying a slot of an eligible agent who is still *ready*,
  how long it has been connected (slots of not-ready agents do not come back: leave them out);
- ``handle_samples_secs``: recent observed handle times of the queue, newest first (may be empty);
- ``default_handle_secs``: the configured mean handle time, the prior when history is short.

The estimate is a residual-life aware forward simulation, repeated ``REPLICATIONS`` times with
``random.Random(seed)`` (so the result is deterministic for a seed):

1. Handle-time distribution: the empirical samples (at most ``MAX_HANDLE_SAMPLES``, the newest)
   mixed with a lognormal prior of mean ``default_handle_secs`` and coefficient of variation
   ``PRIOR_CV``, the prior counting as ``PRIOR_WEIGHT`` samples (a Dirichlet-process posterior):
   with 0 samples it is the prior, with 100 samples the prior has 1/21 of the weight. The prior
   also gives the tail beyond the longest sample.
2. Each busy slot frees after a remaining time drawn from that distribution *conditioned on
   exceeding the chat's elapsed time* (a chat that has run long is either almost done, when
   handle times vary little, or one of the long ones, when they vary a lot: the data decide).
   Free slots free at 0.
3. Waiting chats, in order, take the earliest-freeing slot; the slot then stays busy for a freshly
   drawn handle time. One pass gives every position's wait.
4. The estimate of a position is a median over the replications, of the waits *that are at least*
   ``SHORT_WAIT_SECS`` (10 s) long — the median of the wait given that it is long enough to count —
   or of all the replications when none is that long (a free slot: 0). Rounded to whole seconds, and
   then made non-decreasing along the queue by a running maximum (the conditional median of a later
   position can come out below an earlier one's, when few replications of the earlier reach 10 s).

   Why this statistic: accuracy is judged, here and in the queue report (``reports.EWT_MIN_WAIT_SECS``),
   as the median over chats of |predicted − actual| ÷ actual, over chats that waited at least 10 s. A
   shorter wait is not counted (and is not felt by the customer), so the estimate ignores the futures in
   which it happens. That matters at the head of a busy queue, where the wait is the first of many slots
   to free, an almost exponential time of mean ``handle ÷ slots``: the plain median (7 s for 30 slots of
   300 s) is far below every wait that counts (position 1 erred by 60–68 %; now about 29 %). Deeper in
   the queue nearly every future waits 10 s or more and the statistic is the plain median. The point
   that minimises the *expected* relative error of one chat, the median weighted by 1 ÷ wait (and lower
   quantiles), was measured too (``bench/EWT.md``): it is lower than the median and mostly lowers the
   p90 of the relative error, but raises its median (by 0.6–2.6 points), the figure the target is set on;
   this statistic lowers the median by up to 1.1 points (p90: 4–6 points lower for 10 × 3 slots, 2–4
   points higher for 3 × 2).

Assumptions and limits (the estimate is only as good as these): handle times are independent
draws from the recent distribution; nobody ahead abandons the queue; no chat of higher priority
arrives later and overtakes; the set of ready agents does not change (no agent goes ready or
not-ready, logs in or out); offers are accepted at once (offer/accept latency and declines are
ignored). An estimate therefore drifts as these change, and the caller re-estimates on every
queue change and announces a new value only when it ``moved_materially``.

Accuracy (``bench/ewt_sim.py``, ``bench/EWT.md``): the median |predicted − actual| ÷ actual is about
19.8 % (gamma CV 0.5) and 22.6 % (lognormal CV 1) for 10 agents × 3 slots at utilisation 0.9
(20.7 % and 23.7 % with the plain median), close to the
same model given the true handle-time distribution. The floor is the randomness of the future itself:
a chat near the head waits for the next of many slots to free, so its relative error is large whatever
the estimator (about 30 % at position 1, 33–35 % at 2–4); deep in the queue it is 13–16 %.

Cost: ``REPLICATIONS × (busy + waiting)`` draws and heap operations; see ``bench/ewt_sim.py`` for
the measured time (well under 5 ms for 50 waiting chats and 100 slots).
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

REPLICATIONS = 31  # simulated futures per estimate
SHORT_WAIT_SECS = 10.0  # the estimate is the median wait of the futures in which the chat waits at least this long
MAX_HANDLE_SAMPLES = 200  # newest handle-time samples used; older ones are ignored
PRIOR_WEIGHT = 5.0  # the prior counts as this many samples in the handle-time mixture
PRIOR_CV = 0.8  # coefficient of variation of the lognormal prior (contact-center chats: 0.5–1.0)
MATERIAL_CHANGE_SECS = 30  # moved_materially: an absolute change above this ...
MATERIAL_CHANGE_FRACTION = 0.25  # ... and above this fraction of the previous estimate
_TAIL_SURVIVAL = 1e-12  # below this prior survival the conditional draw uses the hazard tail
_MAX_UPPER = 1.0 - 1e-12  # keeps the inverse normal CDF's argument inside (0, 1)

_STD_NORMAL = NormalDist()


class _HandleTimes:
    """The handle-time distribution: empirical samples mixed with a lognormal prior."""

    def __init__(self, samples_newest_first: Sequence[float], default_handle_secs: float) -> None:
        if not (default_handle_secs > 0 and math.isfinite(default_handle_secs)):
            raise ValueError(f"default_handle_secs must be a positive number, not {default_handle_secs!r}")
        self.samples = sorted(
            float(s) for s in samples_newest_first[:MAX_HANDLE_SAMPLES] if s >= 0 and math.isfinite(s))
        self.sigma = math.sqrt(math.log1p(PRIOR_CV * PRIOR_CV))
        self.mu = math.log(default_handle_secs) - self.sigma * self.sigma / 2
        self.total_weight = len(self.samples) + PRIOR_WEIGHT

    def residuals(self, elapsed: float, rng: random.Random, count: int) -> list[float]:
        """``count`` draws of the remaining time of a chat connected ``elapsed`` seconds ago.

        The mixture conditioned on exceeding ``elapsed``: a sample above it with probability
        ``above / (above + PRIOR_WEIGHT × prior survival)``, else the lognormal prior conditioned
        on exceeding it (inverse CDF on its upper tail), or, where even that vanishes, an
        exponential with the prior's mean residual life there (hazard ≈ z / (σ·x))."""
        elapsed = max(0.0, float(elapsed))
        samples = self.samples
        first = bisect_right(samples, elapsed)  # samples[first:] exceed the elapsed time
        above = len(samples) - first
        mu, sigma = self.mu, self.sigma
        z = (math.log(elapsed) - mu) / sigma if elapsed > 0 else -math.inf
        survival = min(_STD_NORMAL.cdf(-z), _MAX_UPPER)  # prior P(X > elapsed), precise in the tail
        mass = above + PRIOR_WEIGHT * survival
        p_empirical = above / mass if mass > 0 else 0.0
        draws = [rng.random() for _ in range(count)]  # one uniform per draw picks the branch and the value
        to_index = (above - 1e-9) / p_empirical if above else 0.0  # u < p_empirical → index < above
        if survival < _TAIL_SURVIVAL:
            tail_mean = sigma * elapsed / z
            return [samples[first + int(u * to_index)] - elapsed if u < p_empirical
                    else -tail_mean * math.log((1.0 - u) / (1.0 - p_empirical)) for u in draws]
        inv_cdf = _STD_NORMAL.inv_cdf
        exp = math.exp
        to_tail = survival / (1.0 - p_empirical)  # u ≥ p_empirical → upper-tail probability in (0, survival]
        # the prior above the elapsed time: z' = -Φ⁻¹(upper-tail probability) exceeds z
        return [samples[first + int(u * to_index)] - elapsed if u < p_empirical
                else abs(exp(mu - sigma * inv_cdf(to_tail * (1.0 - u))) - elapsed) for u in draws]


def replicated_waits(positions: int, free_slots: int, busy_elapsed_secs: Sequence[float],
                     handle_samples_secs: Sequence[float], default_handle_secs: float,
                     seed: int = 0) -> list[list[float]] | None:
    """The simulated futures behind an estimate: ``REPLICATIONS`` lists of the waits of queue positions
    ``0 .. positions-1`` (each non-decreasing); None without any slot. For benchmarks and tests: the
    estimate is a statistic of these (``estimate_waits``)."""
    if free_slots < 0:
        raise ValueError(f"free_slots must be >= 0, not {free_slots}")
    model = _HandleTimes(handle_samples_secs, default_handle_secs)
    if free_slots == 0 and not busy_elapsed_secs:
        return None
    if positions <= free_slots:
        return [[0.0] * positions for _ in range(REPLICATIONS)]
    rng = random.Random(seed)
    uniform = rng.random
    inv_cdf = _STD_NORMAL.inv_cdf
    exp = math.exp
    heapreplace = heapq.heapreplace
    samples = model.samples
    n_samples = len(samples)
    total_weight = model.total_weight
    mu, sigma = model.mu, model.sigma
    # one column of REPLICATIONS remaining times per busy slot, transposed into one row per run
    columns = [model.residuals(e, rng, REPLICATIONS) for e in busy_elapsed_secs]
    rows = zip(*columns, strict=True) if columns else ((),) * REPLICATIONS
    runs: list[list[float]] = []
    free = [0.0] * free_slots
    for row in rows:
        slots = free + list(row)
        heapq.heapify(slots)
        # the fresh handle time of the chat at each position but the last (it holds its slot after)
        handles = [samples[int(v)] if (v := uniform() * total_weight) < n_samples
                   else exp(mu + sigma * inv_cdf((v - n_samples) / PRIOR_WEIGHT or 0.5)) for _ in range(positions - 1)]
        waits = []
        for handle in handles:  # a free slot frees at 0: the first free_slots chats wait 0
            t = slots[0]
            waits.append(t)
            heapreplace(slots, t + handle)
        waits.append(slots[0])
        runs.append(waits)
    return runs


def _simulated_waits(positions: int, free_slots: int, busy_elapsed_secs: Sequence[float],
                     handle_samples_secs: Sequence[float], default_handle_secs: float,
                     seed: int) -> list[int] | None:
    """Estimated wait of queue positions ``0 .. positions-1`` (see ``_estimates``); None without any slot."""
    runs = replicated_waits(positions, free_slots, busy_elapsed_secs, handle_samples_secs, default_handle_secs, seed)
    return None if runs is None else _estimates(runs, positions)


def _estimates(runs: list[list[float]], positions: int) -> list[int]:
    """Per position: the median of the replications' waits of at least ``SHORT_WAIT_SECS`` (all of them
    when none is that long), rounded; then the running maximum along the queue."""
    estimates: list[int] = []
    highest = 0
    for k in range(positions):
        waits = sorted(run[k] for run in runs)
        first = bisect_left(waits, SHORT_WAIT_SECS)  # waits[first:] are long enough to count
        if first < len(waits):
            waits = waits[first:]
        highest = max(highest, round(waits[(len(waits) - 1) // 2]))
        estimates.append(highest)
    return estimates


def estimate_waits(waiting: Sequence[str], free_slots: int, busy_elapsed_secs: Sequence[float],
                   handle_samples_secs: Sequence[float], default_handle_secs: float, *,
                   seed: int = 0) -> dict[str, int] | None:
    """Estimated wait in whole seconds of every queued chat, by chat id.

    ``waiting`` is the queue in service order (head first). Returns ``None`` when the queue has
    no slot at all (``free_slots == 0`` and no busy chat of a ready agent: nobody staffed): the
    wait is unknown, and the caller reports it as such (the protocol's "no estimate").
    Deterministic for a given ``seed``. See the module docstring for the model.
    """
    estimates = _simulated_waits(len(waiting), free_slots, busy_elapsed_secs, handle_samples_secs,
                               default_handle_secs, seed)
    if estimates is None:
        return None
    return dict(zip(waiting, estimates, strict=True))


def estimate_new_arrival(queue_length: int, free_slots: int, busy_elapsed_secs: Sequence[float],
                         handle_samples_secs: Sequence[float], default_handle_secs: float, *,
                         seed: int = 0) -> int | None:
    """Estimated wait in whole seconds of a chat that would join the tail of the queue now.

    ``queue_length`` is the number of chats already waiting ahead of it. ``None`` as in
    ``estimate_waits`` when the queue has no slot at all.
    """
    if queue_length < 0:
        raise ValueError(f"queue_length must be >= 0, not {queue_length}")
    estimates = _simulated_waits(queue_length + 1, free_slots, busy_elapsed_secs, handle_samples_secs,
                               default_handle_secs, seed)
    return None if estimates is None else estimates[-1]


def moved_materially(previous: int, new: int) -> bool:
    """Whether a new estimate differs enough from the last announced one to announce it.

    True when it moved by more than ``max(MATERIAL_CHANGE_SECS, MATERIAL_CHANGE_FRACTION ×
    previous)`` seconds, so small jitter of the estimate does not spam the customer.
    """
    return abs(new - previous) > max(MATERIAL_CHANGE_SECS, MATERIAL_CHANGE_FRACTION * abs(previous))


# ---- the queue model: estimates by position, bounded cost whatever the queue's length -----------------

MODEL_POSITIONS = 100  # queue positions the model simulates; deeper positions are extrapolated


@dataclass(frozen=True, slots=True)
class QueueModel:
    """The estimated wait of every position of one queue, from one simulation.

    ``waits`` are the estimates of positions ``0 .. len(waits)-1`` (``estimate_waits`` of that many
    chats); a position beyond them waits ``tail_step_secs`` more per position than the last one:
    deep in a queue a chat moves up one place each time any of the ``slots`` frees, on average every
    ``mean handle time ÷ slots`` seconds, and the median of such a sum of many handle times is close
    to its mean. So the cost of an estimate does not grow with the queue: ``REPLICATIONS ×
    (busy + MODEL_POSITIONS)`` draws for the model, then a lookup per chat."""

    waits: tuple[int, ...]
    tail_step_secs: float

    def wait_at(self, position: int) -> int:
        if position < 0:
            raise ValueError(f"position must be >= 0, not {position}")
        if position < len(self.waits):
            return self.waits[position]
        return round(self.waits[-1] + (position - len(self.waits) + 1) * self.tail_step_secs)


def mean_handle_secs(handle_samples_secs: Sequence[float], default_handle_secs: float) -> float:
    """The mean of the handle-time distribution the simulation draws from (samples mixed with the
    prior, whose mean is ``default_handle_secs``)."""
    model = _HandleTimes(handle_samples_secs, default_handle_secs)
    return (sum(model.samples) + PRIOR_WEIGHT * default_handle_secs) / model.total_weight


def queue_model(free_slots: int, busy_elapsed_secs: Sequence[float], handle_samples_secs: Sequence[float],
                default_handle_secs: float, *, positions: int = MODEL_POSITIONS, seed: int = 0) -> QueueModel | None:
    """The model of a queue served by these slots (None: nobody staffed, as ``estimate_waits``)."""
    if positions < 1:
        raise ValueError(f"positions must be >= 1, not {positions}")
    waits = _simulated_waits(positions, free_slots, busy_elapsed_secs, handle_samples_secs, default_handle_secs,
                             seed)
    if waits is None:
        return None
    slots = free_slots + len(busy_elapsed_secs)
    return QueueModel(tuple(waits), mean_handle_secs(handle_samples_secs, default_handle_secs) / slots)
