"""How accurate is the estimated wait time? A discrete-event simulation of one queue.

    python -m bench.ewt_sim                    # 20,000 chats per distribution and configuration, seed 1
    python -m bench.ewt_sim --chats 5000 --seed 7

Poisson arrivals, ``AGENTS`` agents with ``MAX_CHATS`` slots each, random handle times, one FIFO
queue, utilisation ``UTILISATION`` so that real queues form. Simulated time only (a heap of events,
no sleeping), so a run is deterministic for a seed. Every chat that has to queue gets an estimate
from ``frontdesk.domain.ewt.estimate_waits`` at the moment it enters the queue, from what the server
would know then (waiting ids, free slots, elapsed time of the busy chats, the last ``HISTORY``
completed handle times, the configured default ``DEFAULT_HANDLE_SECS``); that prediction is compared
with the wait the chat then actually had. A naive estimator (position × mean handle ÷ slots) gets the
same inputs, to show what the model buys; two other statistics of the model's simulated futures (the
plain median, and the median weighted by 1 ÷ wait) show what the chosen statistic buys.

Two handle-time distributions, both of mean 300 s: gamma with coefficient of variation 0.5, and
lognormal with CV 1.0. The table is printed; the figures go to ``bench/results/ewt-<time>.json``
(not committed) and the summary to ``bench/EWT.md`` (committed). The run also times
``estimate_waits`` for 50 waiting chats and 100 busy slots on this machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import heapq
import math
import platform
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.stats import percentile
from frontdesk.domain import ewt

BENCH_DIR = Path(__file__).resolve().parent
AGENTS = 10
MAX_CHATS = 3
UTILISATION = 0.9  # offered load ÷ slots
MEAN_HANDLE_SECS = 300.0
DEFAULT_HANDLE_SECS = 300.0  # the configured prior the estimator gets
HISTORY = 100  # completed handle times the estimator sees, newest first
POSITION_BANDS = ((1, 1), (2, 4), (5, 9), (10, 10**9))  # queue position on entry, for the breakdown
MIN_WAIT_SECS = 10.0  # relative errors are taken over chats that waited at least this long
DEFAULT_CHATS = 20_000
ENGINE_SECTION = "## Through the engine"  # bench/ewt_engine.py's part of EWT.md, kept as is

Estimator = Callable[[Sequence[str], int, Sequence[float], Sequence[float], float], "dict[str, int] | None"]


@dataclasses.dataclass(frozen=True)
class Distribution:
    name: str
    cv: float
    draw: Callable[[random.Random], float]


def gamma(mean: float, cv: float) -> Distribution:
    shape = 1.0 / (cv * cv)
    return Distribution(f"gamma CV {cv:g}", cv, lambda rng: rng.gammavariate(shape, mean / shape))


def lognormal(mean: float, cv: float) -> Distribution:
    sigma = math.sqrt(math.log1p(cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    return Distribution(f"lognormal CV {cv:g}", cv, lambda rng: rng.lognormvariate(mu, sigma))


DISTRIBUTIONS: tuple[Callable[[], Distribution], ...] = (
    lambda: gamma(MEAN_HANDLE_SECS, 0.5),
    lambda: lognormal(MEAN_HANDLE_SECS, 1.0),
)


def naive_estimate(waiting: Sequence[str], free_slots: int, busy_elapsed_secs: Sequence[float],
                   handle_samples_secs: Sequence[float], default_handle_secs: float) -> dict[str, int] | None:
    """Position (1 = head) × mean handle time ÷ total slots; a free slot means 0 for the first ones."""
    slots = free_slots + len(busy_elapsed_secs)
    if slots == 0:
        return None
    mean = statistics.fmean(handle_samples_secs) if handle_samples_secs else default_handle_secs
    return {chat: 0 if i < free_slots else round((i - free_slots + 1) * mean / slots)
            for i, chat in enumerate(waiting)}


def model_estimate(waiting: Sequence[str], free_slots: int, busy_elapsed_secs: Sequence[float],
                   handle_samples_secs: Sequence[float], default_handle_secs: float) -> dict[str, int] | None:
    return ewt.estimate_waits(waiting, free_slots, busy_elapsed_secs, handle_samples_secs, default_handle_secs)


def plain_median(waits: list[float]) -> float:
    """The statistic ``ewt`` used before: the median of every replication's wait."""
    return statistics.median_low(waits)


def inverse_weighted_median(waits: list[float]) -> float:
    """The wait minimising the expected |p − A| ÷ max(A, floor) over the replications: their median
    weighted by 1 ÷ max(wait, ``MIN_WAIT_SECS``) (lower than the median)."""
    ordered = sorted(waits)
    weights = [1.0 / max(w, MIN_WAIT_SECS) for w in ordered]
    half, total = sum(weights) / 2, 0.0
    for wait, weight in zip(ordered, weights, strict=True):
        total += weight
        if total >= half:
            return wait
    return ordered[-1]


def statistic_estimator(statistic: Callable[[list[float]], float]) -> Estimator:
    """The model's simulated futures (``ewt.replicated_waits``, same seed) summarised per position by another
    statistic, made non-decreasing along the queue as ``ewt`` does."""
    def estimate(waiting: Sequence[str], free_slots: int, busy_elapsed_secs: Sequence[float],
                 handle_samples_secs: Sequence[float], default_handle_secs: float) -> dict[str, int] | None:
        runs = ewt.replicated_waits(len(waiting), free_slots, busy_elapsed_secs, handle_samples_secs,
                                    default_handle_secs)
        if runs is None:
            return None
        out, highest = {}, 0
        for k, chat in enumerate(waiting):
            highest = max(highest, round(statistic([run[k] for run in runs])))
            out[chat] = highest
        return out
    return estimate


ORACLE_SAMPLES = ewt.MAX_HANDLE_SAMPLES
# model: ewt.estimate_waits; median, weighted: its futures summarised by the plain median (what ewt returned
# before) and by the 1/wait-weighted median; naive: position × mean ÷ slots; oracle: the model given fresh
# samples of the true distribution (a floor, not a product)
ESTIMATORS = ("model", "median", "weighted", "naive", "oracle")


def estimators(distribution: Distribution, seed: int) -> dict[str, Estimator]:
    """The estimators compared; the oracle knows the true handle-time distribution (a floor, not a product)."""
    oracle_rng = random.Random(f"oracle:{seed}:{distribution.name}")
    truth = [distribution.draw(oracle_rng) for _ in range(ORACLE_SAMPLES)]

    def oracle(waiting: Sequence[str], free_slots: int, busy_elapsed_secs: Sequence[float],
               handle_samples_secs: Sequence[float], default_handle_secs: float) -> dict[str, int] | None:
        return ewt.estimate_waits(waiting, free_slots, busy_elapsed_secs, truth, default_handle_secs)

    return {"model": model_estimate, "median": statistic_estimator(plain_median),
            "weighted": statistic_estimator(inverse_weighted_median), "naive": naive_estimate, "oracle": oracle}


@dataclasses.dataclass
class Chat:
    chat_id: str
    arrived: float
    connected: float = -1.0
    position: int = 0  # place in the queue on entry, 1 = head
    predicted: dict[str, int] = dataclasses.field(default_factory=dict)  # estimator → seconds

    @property
    def wait(self) -> float:
        return self.connected - self.arrived


ARRIVAL, END = 0, 1


def simulate(distribution: Distribution, chats: int, seed: int, *, agents: int = AGENTS,
             max_chats: int = MAX_CHATS, utilisation: float = UTILISATION) -> tuple[list[Chat], dict[str, Any]]:
    """Run one queue until ``chats`` chats arrived and all ended; every queued chat is estimated on entry."""
    arrivals_rng = random.Random(f"arrivals:{seed}")
    handles_rng = random.Random(f"handles:{seed}:{distribution.name}")
    slots_total = agents * max_chats
    rate = utilisation * slots_total / MEAN_HANDLE_SECS
    load = [0] * agents  # chats per agent
    busy: dict[str, float] = {}  # chat id → connect time
    queue: deque[Chat] = deque()
    history: deque[float] = deque(maxlen=HISTORY)  # newest first
    events: list[tuple[float, int, int, str]] = []  # (time, sequence, kind, chat id)
    by_id: dict[str, Chat] = {}
    agent_of: dict[str, int] = {}
    sequence = 0
    busy_time = 0.0
    estimator_calls = 0
    compared = estimators(distribution, seed)

    def push(at: float, kind: int, chat_id: str) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(events, (at, sequence, kind, chat_id))

    def connect(chat: Chat, now: float) -> None:
        nonlocal busy_time
        agent = next(a for a in range(agents) if load[a] < max_chats)  # routing: first agent with a free slot
        load[agent] += 1
        agent_of[chat.chat_id] = agent
        chat.connected = now
        busy[chat.chat_id] = now
        handle = distribution.draw(handles_rng)
        busy_time += handle
        push(now + handle, END, chat.chat_id)

    push(arrivals_rng.expovariate(rate), ARRIVAL, "c0")
    now = 0.0
    while events:
        now, _, kind, chat_id = heapq.heappop(events)
        if kind == ARRIVAL:
            chat = by_id[chat_id] = Chat(chat_id, now)
            if len(by_id) < chats:
                push(now + arrivals_rng.expovariate(rate), ARRIVAL, f"c{len(by_id)}")
            free_slots = slots_total - len(busy)
            if not queue and free_slots > 0:
                connect(chat, now)
                continue
            queue.append(chat)
            chat.position = len(queue)
            waiting = [c.chat_id for c in queue]
            elapsed = [now - start for start in busy.values()]
            samples = list(history)
            estimator_calls += 1
            for name, estimator in compared.items():
                estimate = estimator(waiting, free_slots, elapsed, samples, DEFAULT_HANDLE_SECS)
                assert estimate is not None  # the agents are always staffed here
                chat.predicted[name] = estimate[chat_id]
        else:
            start = busy.pop(chat_id)
            load[agent_of.pop(chat_id)] -= 1
            history.appendleft(now - start)
            if queue:
                connect(queue.popleft(), now)
    meta = {"slots": slots_total, "arrival_rate_per_s": rate, "offered_utilisation": utilisation,
            "measured_utilisation": busy_time / (slots_total * now) if now else 0.0,
            "simulated_hours": now / 3600, "estimates": estimator_calls}
    return list(by_id.values()), meta


def summarise(chats: Sequence[Chat]) -> dict[str, Any]:
    """Per estimator: relative and absolute errors of the prediction at queue entry versus the actual wait."""
    waited = [c for c in chats if c.predicted]
    measured = [c for c in waited if c.wait >= MIN_WAIT_SECS]
    out: dict[str, Any] = {
        "chats": len(chats), "waited": len(waited), "measured": len(measured),
        "median_wait_secs": statistics.median(c.wait for c in waited) if waited else math.nan,
        "p90_wait_secs": percentile(sorted(c.wait for c in waited), 0.9),
    }
    for name in ESTIMATORS:
        out[name] = _errors(name, waited, measured)
        out[name]["by_position"] = {
            f"{low}+" if high >= 10**9 else (f"{low}" if low == high else f"{low}-{high}"): {
                "measured": len(band), **{k: v for k, v in _errors(name, band, band).items()
                                          if k in ("median_relative_error", "median_signed_relative_error")}}
            for low, high in POSITION_BANDS
            for band in [[c for c in measured if low <= c.position <= high]]}
    return out


def _errors(name: str, waited: Sequence[Chat], measured: Sequence[Chat]) -> dict[str, Any]:
    relative = sorted(abs(c.predicted[name] - c.wait) / c.wait for c in measured)
    absolute = sorted(abs(c.predicted[name] - c.wait) for c in waited)
    signed = sorted((c.predicted[name] - c.wait) / c.wait for c in measured)
    return {
        "median_relative_error": statistics.median(relative) if relative else math.nan,
        "p90_relative_error": percentile(relative, 0.9),
        "median_absolute_error_secs": statistics.median(absolute) if absolute else math.nan,
        "median_signed_relative_error": statistics.median(signed) if signed else math.nan,
    }


@dataclasses.dataclass(frozen=True)
class Config:
    agents: int
    max_chats: int
    utilisation: float

    @property
    def name(self) -> str:
        return f"{self.agents}×{self.max_chats} slots, ρ {self.utilisation:g}"


# the first is the headline configuration; the others show where the error comes from
CONFIGS = (Config(AGENTS, MAX_CHATS, UTILISATION), Config(AGENTS, MAX_CHATS, 0.95), Config(3, 2, 0.9))


def run(chats: int, seed: int, config: Config = CONFIGS[0]) -> dict[str, Any]:
    """Every distribution under one configuration: simulate and summarise."""
    results: dict[str, Any] = {}
    for make in DISTRIBUTIONS:
        distribution = make()
        simulated, meta = simulate(distribution, chats, seed, agents=config.agents, max_chats=config.max_chats,
                                   utilisation=config.utilisation)
        results[distribution.name] = {**summarise(simulated), **meta}
    return results


def time_estimator(calls: int = 200) -> dict[str, float]:
    """Median milliseconds of one ``estimate_waits`` call: 50 waiting chats, 100 busy slots."""
    rng = random.Random(0)
    busy = [rng.uniform(0, 600) for _ in range(100)]
    samples = [rng.gammavariate(4, 75) for _ in range(HISTORY)]
    waiting = [f"c{i}" for i in range(50)]
    timings = {}
    for label, history in (("with_100_samples_ms", samples), ("without_history_ms", [])):
        durations = []
        for _ in range(calls):
            started = time.perf_counter()
            ewt.estimate_waits(waiting, 0, busy, history, DEFAULT_HANDLE_SECS)
            durations.append(time.perf_counter() - started)
        timings[label] = statistics.median(durations) * 1e3
    return timings


def table(results: dict[str, dict[str, Any]]) -> str:
    """One row per configuration, distribution and estimator."""
    lines = [
        "| configuration | distribution | chats | waited | waited ≥ 10 s | median wait | estimator "
        "| median \\|err\\|/actual | p90 \\|err\\|/actual | median \\|err\\| | median bias |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config, by_distribution in results.items():
        for name, row in by_distribution.items():
            for estimator in ESTIMATORS:
                e = row[estimator]
                lines.append(
                    f"| {config} | {name} | {row['chats']:,} | {row['waited']:,} | {row['measured']:,} | "
                    f"{row['median_wait_secs']:.0f} s | {estimator} | {e['median_relative_error']:.1%} | "
                    f"{e['p90_relative_error']:.1%} | {e['median_absolute_error_secs']:.0f} s | "
                    f"{e['median_signed_relative_error']:+.1%} |")
    return "\n".join(lines)


def position_table(by_distribution: dict[str, Any]) -> str:
    """Median relative error by queue position on entry (chats that waited ≥ 10 s)."""
    bands = list(next(iter(by_distribution.values()))["model"]["by_position"])
    lines = ["| distribution | estimator | " + " | ".join(f"position {b}" for b in bands) + " |",
             "|---|---|" + "---|" * len(bands)]
    for name, row in by_distribution.items():
        for estimator in ESTIMATORS:
            cells = [f"{v['median_relative_error']:.0%} (n={v['measured']})"
                     for v in row[estimator]["by_position"].values()]
            lines.append(f"| {name} | {estimator} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(results: dict[str, dict[str, Any]], timings: dict[str, float], meta: dict[str, Any]) -> str:
    headline = next(iter(results))
    return f"""# Estimated wait time: accuracy

Latest `python -m bench.ewt_sim --chats {meta['chats']} --seed {meta['seed']}` ({meta['time']}, {meta['machine']}).
Written by `bench/ewt_sim.py`; the full figures are in `bench/results/ewt-*.json` (not committed).

One FIFO queue of agents × slots, Poisson arrivals at utilisation ρ, handle times of mean {MEAN_HANDLE_SECS:g} s;
the estimator gets what the server knows at queue entry (waiting ids, free slots, elapsed time of busy chats,
the last {HISTORY} handle times, default {DEFAULT_HANDLE_SECS:g} s). Error = |predicted at queue entry − actual wait|;
relative errors over chats that waited ≥ {MIN_WAIT_SECS:g} s; bias = median of (predicted − actual) ÷ actual.
*model* = `frontdesk.domain.ewt.estimate_waits`: per position, the median of the simulated futures' waits of at
least {ewt.SHORT_WAIT_SECS:g} s (the median wait given that it counts); *median* = the same futures' plain median
(what `estimate_waits` returned before); *weighted* = their median weighted by 1 ÷ max(wait, {MIN_WAIT_SECS:g} s), the
point minimising the expected relative error; *naive* = position × mean handle time ÷ slots; *oracle* = the
model given {ORACLE_SAMPLES} samples of the true distribution instead of the history (a floor, not a product).
Target: median relative error < 20 %. Run time: {meta['run_secs']} s.

{table(results)}

By queue position on entry, {headline}:

{position_table(results[headline])}

`estimate_waits` for 50 waiting chats and 100 busy slots ({ewt.REPLICATIONS} replications), median of 200
calls: {timings['with_100_samples_ms']:.2f} ms with 100 handle-time samples, {timings['without_history_ms']:.2f} ms
without history.
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ewt_sim", description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=DEFAULT_CHATS, help="arrivals per distribution")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only; write no files")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = {config.name: run(args.chats, args.seed, config) for config in CONFIGS}
    timings = time_estimator()
    now = datetime.datetime.now(datetime.UTC)
    meta = {"chats": args.chats, "seed": args.seed, "time": now.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
            "run_secs": round(time.perf_counter() - started, 1),
            "model": {"replications": ewt.REPLICATIONS, "prior_weight": ewt.PRIOR_WEIGHT, "prior_cv": ewt.PRIOR_CV}}
    print(table(results))
    print(position_table(results[CONFIGS[0].name]))
    print(f"estimate_waits, 50 waiting × 100 busy: {timings['with_100_samples_ms']:.2f} ms (100 samples), "
          f"{timings['without_history_ms']:.2f} ms (no history); run took {meta['run_secs']} s")
    if args.no_write:
        return
    out_dir = BENCH_DIR / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"ewt-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(orjson.dumps({"meta": meta, "timings_ms": timings, "results": results},
                                  option=orjson.OPT_INDENT_2))
    md = BENCH_DIR / "EWT.md"
    current = md.read_text(encoding="utf-8") if md.exists() else ""
    kept = current[current.index(ENGINE_SECTION):] if ENGINE_SECTION in current else ""  # ewt_engine.py's
    md.write_text(markdown(results, timings, meta) + (f"\n{kept}" if kept else ""), encoding="utf-8")
    print(f"wrote {path.relative_to(BENCH_DIR.parent)} and bench/EWT.md")


if __name__ == "__main__":
    main()
