"""The issues' targets, evaluated on one run's results: each with the figure measured, the figure
it is compared with, their ratio and whether it is met (None: not measured by this run, with why).

- Scale-out (issue 11): PostgreSQL + Redis with two workers against one, losses in every step of
  every frontdesk system, the per-process cost of an idle poll and of W3 at 500 msg/s on one core,
  and chat creation as live chats grow.
- Single process (issue 3): frontdesk on SQLite against the baseline.

A target stated "with 10,000 sessions" is only judged on a run at that scale; other runs show the
figure and "not judged".
"""

from __future__ import annotations

import math
from typing import Any

Results = dict[str, Any]

TARGET_SESSIONS = 10_000
TARGET_W3_RATE = 1000  # issue 3
SCALE_OUT_KNEE_RATIO = 1.8
IDLE_POLL_CPU_RATIO = 1.5
PER_PROCESS_W3_RATE = 500
PER_PROCESS_P99_MS = 100.0
W1_MIN_RATE = 1000.0
W1_NOT_FALLING = 0.9  # the batch at 10,000 live chats at least 90 % of the first batch's rate
FRONTDESK_SYSTEMS = ("frontdesk", "frontdesk-pg1", "frontdesk-pg2")
ONE_CORE_SYSTEMS = ("frontdesk", "frontdesk-pg1")


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def system_data(results: Results, name: str) -> dict[str, Any]:
    systems: dict[str, Any] = results.get("systems", {})
    return dict(systems.get(name) or {})


def rows_of(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    return list(value) if isinstance(value, list) else []


def w3_at(data: dict[str, Any], rate: int) -> dict[str, Any] | None:
    return next((r for r in rows_of(data, "W3") if r.get("target_rate") == rate and "latency" in r), None)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def run_sessions(results: Results) -> int:
    """The session count W3–W6 ran at (the last W2 level)."""
    levels = results.get("meta", {}).get("scale", {}).get("levels") or [0]
    return int(levels[-1])


def _measured(data: dict[str, Any]) -> bool:
    return bool(data) and "error" not in data


def _absent(data: dict[str, Any], name: str) -> str:
    if not data:
        return f"{name} not in this run"
    return f"{name} failed: {str(data.get('error'))[:120]}"


def creation_cpu_net_of_polling(batch: dict[str, Any], idle_cpu_pct: dict[int, float]) -> float | None:
    """A W1 batch's server CPU per chat without the idle polling it ran beside, estimated: the
    sessions polled meanwhile grew from the batch's first level to its last, so the polling took
    the mean of the idle CPU the W2 windows measured at those two levels (none before any session).
    None when a level has no W2 window."""
    start, end = batch["from_sessions"], batch["from_sessions"] + batch["created"]
    if end not in idle_cpu_pct or (start and start not in idle_cpu_pct) or not batch.get("rate_per_sec"):
        return None
    polling_pct = ((idle_cpu_pct[start] if start else 0.0) + idle_cpu_pct[end]) / 2
    return round(float(batch["cpu_us_per_chat"]) - polling_pct / 100 * 1e6 / float(batch["rate_per_sec"]), 1)


def idle_cpu_by_sessions(data: dict[str, Any]) -> dict[int, float]:
    """A system's idle server CPU % (W2 windows) by number of sessions."""
    return {int(r["sessions"]): float(r["server_cpu_pct"]) for r in rows_of(data, "W2")
            if r.get("server_cpu_pct") is not None}


class _Targets:
    def __init__(self, results: Results) -> None:
        self.results = results
        self.sessions = run_sessions(results)
        self.rows: list[dict[str, Any]] = []

    def add(self, group: str, target: str, measured: str, reference: str, met: bool | None,
            value_ratio: float | None = None) -> None:
        self.rows.append({"group": group, "target": target, "measured": measured, "reference": reference,
                          "ratio": value_ratio, "met": met})

    def at_scale(self, met: bool) -> bool | None:
        """``met`` when this run has the target's 10,000 sessions, else not judged."""
        return met if self.sessions == TARGET_SESSIONS else None

    def scale_note(self) -> str:
        return "" if self.sessions == TARGET_SESSIONS else f" (this run: {self.sessions:,} sessions, not judged)"

    # ---- issue 11 ------------------------------------------------------------------------------

    def knee_ratio(self) -> None:
        one, two = system_data(self.results, "frontdesk-pg1"), system_data(self.results, "frontdesk-pg2")
        name = (f"W4 knee, PostgreSQL + Redis: 2 workers ≥ {SCALE_OUT_KNEE_RATIO}× 1 worker, "
                f"{TARGET_SESSIONS:,} sessions{self.scale_note()}")
        group = "scale-out"
        if not (_measured(one) and _measured(two)) or "steps" not in (one.get("W4") or {}) \
                or "steps" not in (two.get("W4") or {}):
            why = "; ".join(_absent(d, n) for d, n in ((one, "frontdesk-pg1"), (two, "frontdesk-pg2"))
                            if not _measured(d)) or "W4 not run"
            self.add(group, name, f"not measured: {why}", "–", None)
            return
        w4_one, w4_two = one["W4"], two["W4"]
        knee_one, knee_two = w4_one.get("knee_rate"), w4_two.get("knee_rate")
        value = ratio(knee_two, knee_one)
        met: bool | None
        if knee_two is None:
            met = False  # two workers did not pass even the first step
        elif knee_one is None:
            met = None  # one worker passed no step: nothing to compare with
        else:
            met = value is not None and value >= SCALE_OUT_KNEE_RATIO
        self.add(group, name,
                 f"2 workers: knee {fmt(knee_two)} msg/s (max delivered {fmt(w4_two.get('max_delivered_rate'))}/s)",
                 f"1 worker: knee {fmt(knee_one)} msg/s (max delivered {fmt(w4_one.get('max_delivered_rate'))}/s)",
                 None if met is None else self.at_scale(met), value)

    def no_losses(self) -> None:
        baseline = self._losses(system_data(self.results, "baseline"))
        for name in FRONTDESK_SYSTEMS:
            data = system_data(self.results, name)
            label = f"{name}: no workload loses, duplicates or reorders, at any offered rate"
            if not _measured(data):
                if data:
                    self.add("scale-out", label, f"not measured: {_absent(data, name)}", "–", None)
                continue
            figures = self._losses(data)
            if figures is None:
                self.add("scale-out", label, "not measured: no W3–W6 step ran", "–", None)
                continue
            self.add("scale-out", label, figures[0], f"baseline: {baseline[0]}" if baseline else "–", figures[1])

    @staticmethod
    def _losses(data: dict[str, Any]) -> tuple[str, bool] | None:
        """Summed over every measured step of W3, W4, W5 and W6: messages that never arrived
        (after the settle time of an overloaded step), arrived twice, or out of order."""
        steps = [r for r in rows_of(data, "W3") + list((data.get("W4") or {}).get("steps", []))
                 + rows_of(data, "W5") if "sent" in r]
        if "sent" in (data.get("W6") or {}):
            steps.append(data["W6"])
        if not steps:
            return None
        lost = sum(int(r.get("lost_after_settle", r["lost"])) for r in steps)
        late = sum(int(r.get("arrived_after_drain", 0)) for r in steps)
        duplicated = sum(int(r["duplicated"]) for r in steps)
        reordered = sum(int(r["reordered"]) for r in steps)
        violations = sum(int(r.get("event_seq_violations", 0)) for r in steps)
        sent = sum(int(r["sent"]) for r in steps)
        text = (f"{lost:,} lost, {duplicated:,} dup, {reordered:,} reordered of {sent:,} in {len(steps)} steps"
                + (f"; {late:,} arrived late (after the drain time)" if late else "")
                + (f"; {violations:,} cursor seq violations" if violations else ""))
        return text, lost == 0 and duplicated == 0 and reordered == 0 and violations == 0

    def idle_poll_cpu(self) -> None:
        baseline = self._w2_top(system_data(self.results, "baseline"))
        for name in ONE_CORE_SYSTEMS:
            data = system_data(self.results, name)
            label = (f"{name}, one core: CPU per idle poll ≤ {IDLE_POLL_CPU_RATIO}× baseline, "
                     f"{TARGET_SESSIONS:,} sessions{self.scale_note()}")
            top = self._w2_top(data)
            if top is None:
                if data:
                    why = _absent(data, name) if "error" in data else "W2 not run"
                    self.add("scale-out", label, f"not measured: {why}", "–", None)
                continue
            own = top.get("cpu_us_per_idle_poll")
            services = top.get("services_cpu_us_per_idle_poll")
            ref = baseline.get("cpu_us_per_idle_poll") if baseline else None
            value = ratio(own, ref)
            measured = f"{fmt(own)} µs" + (f" (+ {fmt(services)} µs in PostgreSQL and Redis)"
                                          if services is not None else "")
            self.add("scale-out", label, measured, f"baseline {fmt(ref)} µs",
                     None if value is None else self.at_scale(value <= IDLE_POLL_CPU_RATIO), value)

    @staticmethod
    def _w2_top(data: dict[str, Any]) -> dict[str, Any] | None:
        rows = rows_of(data, "W2")
        return rows[-1] if rows else None

    def per_process_w3(self) -> None:
        rate = PER_PROCESS_W3_RATE
        reference = w3_at(system_data(self.results, "baseline"), rate)
        for name in ONE_CORE_SYSTEMS:
            data = system_data(self.results, name)
            label = (f"{name}, one core: W3 at {rate} msg/s delivered in full, p99 ≤ {PER_PROCESS_P99_MS:g} ms, "
                     f"{TARGET_SESSIONS:,} sessions{self.scale_note()}")
            row = w3_at(data, rate)
            if row is None:
                if data:
                    why = _absent(data, name) if "error" in data else f"W3 did not run at {rate} msg/s"
                    self.add("scale-out", label, f"not measured: {why}", "–", None)
                continue
            p99 = row["latency"]["p99_ms"]
            lost = int(row.get("lost_after_settle", row["lost"]))
            short = (int(row.get("shed", 0)) + int(row.get("skipped", 0)) + int(row.get("refused", 0))
                     + int(row["send_errors"]))
            in_full = (lost == 0 and short == 0 and row["delivered"] == row["sent"]
                       and row["sent_rate"] >= 0.95 * rate)
            measured = (f"delivered {fmt(row['delivered_rate'])}/s, p99 {fmt(p99)} ms, {lost:,} lost, "
                        f"{short:,} not sent (shed, refused, errors)")
            ref = f"baseline p99 {fmt(reference['latency']['p99_ms'])} ms" if reference else "–"
            met = in_full and p99 is not None and p99 <= PER_PROCESS_P99_MS
            self.add("scale-out", label, measured, ref, self.at_scale(met))

    def w1_growth(self) -> None:
        data = system_data(self.results, "frontdesk")
        label = (f"frontdesk (SQLite): W1 ≥ {W1_MIN_RATE:,.0f} chats/s at {TARGET_SESSIONS:,} live chats, not falling "
                 f"as live chats grow (≥ {W1_NOT_FALLING:.0%} of the first batch's rate)")
        batches = list((data.get("W1") or {}).get("batches", []))
        if not batches:
            if data:
                self.add("scale-out", label, f"not measured: {_absent(data, 'frontdesk')}", "–", None)
            return
        first, last = batches[0], batches[-1]
        reached = int(last["from_sessions"]) + int(last["created"])
        value = ratio(last.get("rate_per_sec"), first.get("rate_per_sec"))
        measured = f"{fmt(last['from_sessions'])} → {fmt(reached)} chats: {fmt(last.get('rate_per_sec'))}/s"
        idle = idle_cpu_by_sessions(data)
        net_first, net_last = creation_cpu_net_of_polling(first, idle), creation_cpu_net_of_polling(last, idle)
        if net_first is not None and net_last is not None and len(batches) > 1:
            # what a chat's creation costs by itself, beside the polling the later batches compete with
            measured += f"; CPU per chat net of idle polling (est.) {fmt(net_last)} µs, first batch {fmt(net_first)} µs"
        reference = f"0 → {fmt(first['created'])}: {fmt(first.get('rate_per_sec'))}/s"
        met: bool | None
        if reached < TARGET_SESSIONS or len(batches) < 2:
            met = None
            measured += (f" (not judged: needs batches up to {TARGET_SESSIONS:,})" if reached < TARGET_SESSIONS
                         else " (not judged: needs two session levels, e.g. --sessions 1000,10000)")
        else:
            met = (last.get("rate_per_sec") or 0) >= W1_MIN_RATE and value is not None and value >= W1_NOT_FALLING
        self.add("scale-out", label, measured, reference, met, value)

    # ---- issue 3 -------------------------------------------------------------------------------

    def single_process(self) -> None:
        fd, bl = system_data(self.results, "frontdesk"), system_data(self.results, "baseline")
        group = "single process"
        w2f, w2b = rows_of(fd, "W2"), rows_of(bl, "W2")
        if w2f:
            top_f = w2f[-1]
            top_b = next((r for r in w2b if r["sessions"] == top_f["sessions"]), None)
            kib_f = top_f["rss_per_session_kib"]
            kib_b = top_b["rss_per_session_kib"] if top_b else None
            value = ratio(kib_f, kib_b)
            self.add(group, f"W2 at {top_f['sessions']:,} sessions: ≤ 16 KiB RSS per idle session, ≤ 1.5× baseline",
                     f"{fmt(kib_f)} KiB", f"baseline {fmt(kib_b)} KiB",
                     kib_f <= 16 and (value is None or value <= 1.5), value)

        rates = [r["target_rate"] for r in rows_of(fd, "W3")]
        rate = TARGET_W3_RATE if w3_at(fd, TARGET_W3_RATE) else max(rates, default=0)
        w3f, w3b = w3_at(fd, rate), w3_at(bl, rate)
        if w3f:
            lat = w3f["latency"]
            blat = w3b["latency"] if w3b else {}
            self.add(group, f"W3 at {rate:,} msg/s: p50 ≤ 2 ms, p99 ≤ 10 ms",
                     f"p50 {fmt(lat['p50_ms'])} / p99 {fmt(lat['p99_ms'])} ms",
                     f"baseline p50 {fmt(blat.get('p50_ms'))} / p99 {fmt(blat.get('p99_ms'))} ms",
                     lat["p50_ms"] is not None and lat["p50_ms"] <= 2 and lat["p99_ms"] <= 10)
            cpu_f, cpu_b = w3f["cpu_us_per_msg"], (w3b or {}).get("cpu_us_per_msg")
            value = ratio(cpu_f, cpu_b)
            self.add(group, f"W3 at {rate:,} msg/s: server CPU per delivered message ≤ 3× baseline",
                     f"{fmt(cpu_f)} µs", f"baseline {fmt(cpu_b)} µs", None if value is None else value <= 3, value)

        w4f, w4b = fd.get("W4") or {}, bl.get("W4") or {}
        if "steps" in w4f:
            knee_f, knee_b = w4f.get("knee_rate"), w4b.get("knee_rate")
            self.add(group, "W4: ≥ 5,000 delivered msg/s (p99 ≤ 50 ms, nothing lost)",
                     f"knee {fmt(knee_f)} msg/s (max delivered {fmt(w4f.get('max_delivered_rate'))}/s)",
                     f"baseline knee {fmt(knee_b)} msg/s (max delivered {fmt(w4b.get('max_delivered_rate'))}/s)",
                     (knee_f or 0) >= 5000, ratio(knee_f, knee_b))

        w1f, w1b = fd.get("W1") or {}, bl.get("W1") or {}
        if w1f:
            self.add(group, "W1: ≥ 2,000 chats/s created (SQLite)", f"{fmt(w1f.get('rate_per_sec'))} /s",
                     f"baseline {fmt(w1b.get('rate_per_sec'))} /s", (w1f.get("rate_per_sec") or 0) >= 2000,
                     ratio(w1f.get("rate_per_sec"), w1b.get("rate_per_sec")))

        w6f, w6b = fd.get("W6") or {}, bl.get("W6") or {}
        if "sent" in w6f:
            def churn(row: dict[str, Any]) -> str:
                if "sent" not in row:
                    return "–"
                return (f"{row['lost']} lost, {row['duplicated']} dup, {row['reordered']} reordered "
                        f"of {row['sent']:,}")

            self.add(group, "W6 churn: 0 lost, 0 duplicated, in order", churn(w6f), f"baseline {churn(w6b)}",
                     w6f["lost"] == 0 and w6f["duplicated"] == 0 and w6f["reordered"] == 0
                     and w6f.get("event_seq_violations", 0) == 0 and w6f["sent"] > 0)
        elif "error" in w6f:
            self.add(group, "W6 churn: 0 lost, 0 duplicated, in order", f"not measured: {w6f['error']}", "–", None)


def evaluate(results: Results) -> list[dict[str, Any]]:
    """Every target with ``group``, ``target``, ``measured``, ``reference``, ``ratio`` and ``met``."""
    targets = _Targets(results)
    targets.knee_ratio()
    targets.no_losses()
    targets.idle_poll_cpu()
    targets.per_process_w3()
    targets.w1_growth()
    targets.single_process()
    return targets.rows


def table(results: Results) -> list[str]:
    """The targets as Markdown tables, one per group."""
    lines: list[str] = []
    titles = {"scale-out": "Scale-out (issue 11)", "single process": "Single process against the baseline (issue 3)"}
    rows = evaluate(results)
    for group, title in titles.items():
        mine = [t for t in rows if t["group"] == group]
        if not mine:
            continue
        lines += [f"**{title}**", "", "| target | measured | compared with | ratio | result |", "|---|---|---|---|---|"]
        for t in mine:
            verdict = "not judged" if t["met"] is None else ("**met**" if t["met"] else "**missed**")
            lines.append(f"| {t['target']} | {t['measured']} | {t['reference']} | {fmt(t['ratio'])} | {verdict} |")
        lines.append("")
    return lines
