"""Results → Markdown report and PNG plots (matplotlib, Agg backend), and the target check."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # the backend is chosen first

SYSTEMS = ("frontdesk", "baseline")
STYLE = {"frontdesk": {"color": "tab:blue", "linestyle": "-"}, "baseline": {"color": "tab:gray", "linestyle": "--"}}
PLOTS = ("latency_cdf.png", "latency_vs_rate.png", "rss_vs_sessions.png")
TARGET_W3_RATE = 1000

Results = dict[str, Any]


# ---- helpers ----------------------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _system(results: Results, name: str) -> dict[str, Any]:
    systems: dict[str, Any] = results.get("systems", {})
    return dict(systems.get(name) or {})


def _rows(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    return list(value) if isinstance(value, list) else []


def _w3_at(data: dict[str, Any], rate: int) -> dict[str, Any] | None:
    return next((r for r in _rows(data, "W3") if r.get("target_rate") == rate), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


# ---- targets ----------------------------------------------------------------------------------------

def evaluate_targets(results: Results) -> list[dict[str, Any]]:
    """Each target of the issue with frontdesk's and the baseline's figure and whether it is met."""
    fd, bl = _system(results, "frontdesk"), _system(results, "baseline")
    targets: list[dict[str, Any]] = []

    def add(name: str, frontdesk: str, baseline: str, met: bool | None, ratio: float | None = None) -> None:
        targets.append({"target": name, "frontdesk": frontdesk, "baseline": baseline, "ratio": ratio, "met": met})

    w2f, w2b = _rows(fd, "W2"), _rows(bl, "W2")
    if w2f:
        top_f = w2f[-1]
        top_b = next((r for r in w2b if r["sessions"] == top_f["sessions"]), None)
        kib_f = top_f["rss_per_session_kib"]
        kib_b = top_b["rss_per_session_kib"] if top_b else None
        ratio = _ratio(kib_f, kib_b)
        add(f"W2 at {top_f['sessions']:,} sessions: ≤ 16 KiB RSS per idle session, ≤ 1.5× baseline",
            f"{_fmt(kib_f)} KiB", f"{_fmt(kib_b)} KiB",
            kib_f <= 16 and (ratio is None or ratio <= 1.5), ratio)

    rate = TARGET_W3_RATE if _w3_at(fd, TARGET_W3_RATE) else max((r["target_rate"] for r in _rows(fd, "W3")), default=0)
    w3f, w3b = _w3_at(fd, rate), _w3_at(bl, rate)
    if w3f:
        lat = w3f["latency"]
        blat = w3b["latency"] if w3b else {}
        add(f"W3 at {rate:,} msg/s: p50 ≤ 2 ms, p99 ≤ 10 ms",
            f"p50 {_fmt(lat['p50_ms'])} / p99 {_fmt(lat['p99_ms'])} ms",
            f"p50 {_fmt(blat.get('p50_ms'))} / p99 {_fmt(blat.get('p99_ms'))} ms",
            lat["p50_ms"] is not None and lat["p50_ms"] <= 2 and lat["p99_ms"] <= 10)
        cpu_f, cpu_b = w3f["cpu_us_per_msg"], (w3b or {}).get("cpu_us_per_msg")
        ratio = _ratio(cpu_f, cpu_b)
        add(f"W3 at {rate:,} msg/s: server CPU per delivered message ≤ 3× baseline",
            f"{_fmt(cpu_f)} µs", f"{_fmt(cpu_b)} µs", None if ratio is None else ratio <= 3, ratio)

    w4f, w4b = fd.get("W4") or {}, bl.get("W4") or {}
    if "steps" in w4f:
        knee_f, knee_b = w4f.get("knee_rate"), w4b.get("knee_rate")
        add("W4: ≥ 5,000 delivered msg/s (p99 ≤ 50 ms, nothing lost)",
            f"knee {_fmt(knee_f)} msg/s (max delivered {_fmt(w4f.get('max_delivered_rate'))}/s)",
            f"knee {_fmt(knee_b)} msg/s (max delivered {_fmt(w4b.get('max_delivered_rate'))}/s)",
            (knee_f or 0) >= 5000, _ratio(knee_f, knee_b))

    w1f, w1b = fd.get("W1") or {}, bl.get("W1") or {}
    if w1f:
        add("W1: ≥ 2,000 chats/s created (SQLite)", f"{_fmt(w1f.get('rate_per_sec'))} /s",
            f"{_fmt(w1b.get('rate_per_sec'))} /s", (w1f.get("rate_per_sec") or 0) >= 2000,
            _ratio(w1f.get("rate_per_sec"), w1b.get("rate_per_sec")))

    w6f, w6b = fd.get("W6") or {}, bl.get("W6") or {}
    if "sent" in w6f:
        def churn(row: dict[str, Any]) -> str:
            if "sent" not in row:
                return "–"
            return (f"{row['lost']} lost, {row['duplicated']} dup, {row['reordered']} reordered "
                    f"of {row['sent']:,}")

        add("W6 churn: 0 lost, 0 duplicated, in order", churn(w6f), churn(w6b),
            w6f["lost"] == 0 and w6f["duplicated"] == 0 and w6f["reordered"] == 0
            and w6f.get("event_seq_violations", 0) == 0 and w6f["sent"] > 0)
    return targets


# ---- plots ----------------------------------------------------------------------------------------

def plot_all(results: Results, out_dir: Path) -> list[str]:
    written = []
    for name, draw in (("latency_cdf.png", _plot_cdf), ("latency_vs_rate.png", _plot_rate),
                       ("rss_vs_sessions.png", _plot_rss)):
        fig = draw(results)
        if fig is not None:
            fig.savefig(out_dir / name, dpi=110)
            plt.close(fig)
            written.append(name)
    return written


def _plot_cdf(results: Results) -> Any:
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    colors = plt.get_cmap("viridis")
    for system in SYSTEMS:
        rows = [r for r in _rows(_system(results, system), "W3") if r["latency"].get("cdf_ms")]
        for i, row in enumerate(rows):
            points = [(ms, q) for q, ms in row["latency"]["cdf_ms"] if ms is not None and ms > 0]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color=colors(i / max(1, len(rows) - 1) * 0.85), linestyle=STYLE[system]["linestyle"],
                    label=f"{system} {row['target_rate']:,}/s")
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("agent send → customer receipt (ms, log)")
    ax.set_ylabel("fraction of messages")
    ax.set_title("W3 end-to-end latency CDF (solid: frontdesk, dashed: baseline)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_rate(results: Results) -> Any:
    fig, (ax, ax_cpu) = plt.subplots(1, 2, figsize=(11, 4.5))
    drawn = False
    for system in SYSTEMS:
        data = _system(results, system)
        rows = [*_rows(data, "W3"), *(data.get("W4") or {}).get("steps", [])]
        rows = sorted((r for r in rows if r["latency"]["p99_ms"] is not None), key=lambda r: r["target_rate"])
        if not rows:
            continue
        rates = [r["target_rate"] for r in rows]
        style = STYLE[system]
        ax.plot(rates, [r["latency"]["p50_ms"] for r in rows], marker="o", label=f"{system} p50",
                color=style["color"], linestyle=style["linestyle"])
        ax.plot(rates, [r["latency"]["p99_ms"] for r in rows], marker="^", label=f"{system} p99", alpha=0.7,
                color=style["color"], linestyle=":")
        ax_cpu.plot(rates, [r["cpu_us_per_msg"] for r in rows], marker="o", label=system, color=style["color"],
                    linestyle=style["linestyle"])
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.axhline(50, color="tab:red", linewidth=0.8, alpha=0.6)
    for axis in (ax, ax_cpu):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("offered agent messages per second (log)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    ax.set_ylabel("latency (ms, log)")
    ax.set_title("W3/W4 latency versus rate")
    ax_cpu.set_ylabel("server CPU µs per delivered message")
    ax_cpu.set_title("CPU per message")
    fig.tight_layout()
    return fig


def _plot_rss(results: Results) -> Any:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for system in SYSTEMS:
        rows = _rows(_system(results, system), "W2")
        if not rows:
            continue
        xs = [r["sessions"] for r in rows]
        ax.plot(xs, [r["rss_growth_bytes"] / 2**20 for r in rows], marker="o", label=system,
                color=STYLE[system]["color"], linestyle=STYLE[system]["linestyle"])
        for r in rows:
            ax.annotate(f"{r['rss_per_session_kib']:.1f} KiB", (r["sessions"], r["rss_growth_bytes"] / 2**20),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("idle long-polling sessions")
    ax.set_ylabel("server RSS growth since start (MiB)")
    ax.set_title("W2 memory versus sessions (labels: per session)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# ---- Markdown -------------------------------------------------------------------------------------

def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def targets_table(results: Results) -> list[str]:
    rows = [[t["target"], t["frontdesk"], t["baseline"], t["ratio"],
             "n/a" if t["met"] is None else ("**met**" if t["met"] else "**missed**")]
            for t in evaluate_targets(results)]
    return _table(["target", "frontdesk", "baseline", "frontdesk ÷ baseline", "result"], rows)


def render(results: Results, image_prefix: str = "", before: Results | None = None,
           after: Results | None = None) -> str:
    """The report of ``results``; with ``before``, a before/after section comparing frontdesk in
    ``before`` with ``after`` (this run unless given: both runs must have the same scale)."""
    meta = results.get("meta", {})
    scale = meta.get("scale", {})
    lines = [f"# frontdesk benchmark — {meta.get('started_utc', '?')}", ""]
    lines += [
        "## How this was measured", "",
        f"- Machine: {meta.get('cpu_model', '?')}, {meta.get('cpus', '?')} cores, "
        f"{_fmt(meta.get('memory_gib'))} GiB, Linux {meta.get('kernel', '?')}, Python {meta.get('python', '?')}.",
        f"- Pinning: {meta.get('pinning', '?')}.",
        f"- frontdesk {meta.get('frontdesk_version', '?')} at commit {meta.get('git_commit', '?')}: one "
        "process, embedded SQLite (WAL, synchronous=NORMAL) on local disk, uvicorn + httptools + uvloop. "
        "Baseline: `bench/baseline.py`, a raw ASGI long-poll app with in-memory lists on the same uvicorn "
        "settings. Both run in the same harness run, one after the other, on fresh processes.",
        f"- Long-poll hold {scale.get('hold_secs')} s; sessions {scale.get('levels')}; "
        f"{scale.get('agents')} auto-accepting agents of 100 chats each.",
        "- Load: one asyncio process (uvloop) with a hand-written HTTP/1.1 keep-alive client; every customer "
        "holds its own connection and re-polls at once. Agent messages and customer posts are sent open loop "
        "on a fixed schedule over a connection pool; latency is from the moment the request is written to the "
        "moment the customer's poll response is complete (same process, monotonic clock). CPU and RSS come from "
        "`/proc/<pid>/stat` and `/proc/<pid>/status` of the server process.",
        f"- Command: `{meta.get('command', 'python -m bench')}`", "",
        "## Targets", "", *targets_table(results),
    ]
    lines += _w1(results) + _w2(results) + _w3(results) + _w4(results) + _w5(results) + _w6(results)
    if before is not None:
        lines += before_after(before, after if after is not None else results)
    lines += ["## Plots", ""]
    for name in PLOTS:
        lines += [f"![{name[:-4]}]({image_prefix}{name})", ""]
    errors: dict[str, dict[str, int]] = {s: _system(results, s)["errors"] for s in SYSTEMS
                                         if _system(results, s).get("errors")}
    if errors:
        lines += ["## Errors seen by the load generator", ""]
        for system, counts in errors.items():
            lines += [f"- {system}: " + "; ".join(f"`{k}` ×{v}" for k, v in counts.items())]
        lines.append("")
    return "\n".join(lines)


def _w1(results: Results) -> list[str]:
    rows = []
    for system in SYSTEMS:
        w1 = _system(results, system).get("W1") or {}
        for b in w1.get("batches", []):
            rows.append([system, f"{b['from_sessions']:,} → {b['from_sessions'] + b['created']:,}", b["rate_per_sec"],
                         b["latency"]["p50_ms"], b["latency"]["p99_ms"], b["cpu_us_per_chat"], b["errors"]])
        if w1:
            rows.append([f"**{system}**", "all", w1.get("rate_per_sec"), w1["latency"]["p50_ms"],
                         w1["latency"]["p99_ms"], None, None])
    if not rows:
        return []
    return ["## W1 chat creation", "",
            "Closed loop: each of the concurrent clients creates a chat (`POST …/chats`) and creates the next as "
            "soon as the answer arrives; frontdesk routes each new chat to an auto-accepting agent in the same "
            "request. Later batches run while the earlier sessions long-poll.", "",
            *_table(["system", "sessions", "chats/s", "p50 ms", "p99 ms", "server CPU µs/chat", "errors"], rows)]


def _w2(results: Results) -> list[str]:
    rows = []
    for system in SYSTEMS:
        for r in _rows(_system(results, system), "W2"):
            late = r["lateness"]
            rows.append([system, r["sessions"], round(r["rss_bytes"] / 2**20, 1), r["rss_per_session_kib"],
                         r["server_cpu_pct"], r["cpu_us_per_idle_poll"], r["idle_polls"],
                         late["p50_ms"], late["p99_ms"], late["max_ms"]])
    if not rows:
        return []
    return ["## W2 idle sessions", "",
            "Every session holds a long poll that returns `{\"events\": []}` after the hold and is renewed at once. "
            "RSS per session = (RSS now − RSS after start-up) ÷ sessions. Lateness = poll duration − hold.", "",
            *_table(["system", "sessions", "RSS MiB", "KiB/session", "server CPU %", "CPU µs/idle poll",
                     "idle polls", "late p50 ms", "late p99 ms", "late max ms"], rows)]


def _msg_rows(rows: list[dict[str, Any]], system: str) -> list[list[Any]]:
    out = []
    for r in rows:
        lat = r["latency"]
        out.append([system, r["target_rate"], r["delivered_rate"], lat["p50_ms"], lat["p99_ms"], lat["p999_ms"],
                    lat["max_ms"], r["cpu_us_per_msg"], r.get("cpu_us_per_msg_above_idle"), r["server_cpu_pct"],
                    f"{r['lost']}/{r['duplicated']}/{r['reordered']}", f"{r['send_errors']}/{r.get('shed', 0)}",
                    r.get("aborted_polls"), r["loadgen_cpu_pct"]])
    return out


_MSG_HEADER = ["system", "offered/s", "delivered/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU µs/msg",
               "µs/msg above idle", "server CPU %", "lost/dup/reord", "errors/shed", "polls aborted",
               "loadgen CPU %"]


def _w3(results: Results) -> list[str]:
    rows = []
    for system in SYSTEMS:
        rows += _msg_rows([r for r in _rows(_system(results, system), "W3") if "latency" in r], system)
    if not rows:
        return []
    return ["## W3 steady chat", "",
            "Agents send to random sessions (one message in flight per session) at a fixed offered rate while every "
            "session long-polls. Latency is agent send → customer receipt. CPU µs/msg = server CPU in the window ÷ "
            "delivered messages (it includes the idle polling of all sessions; the next column subtracts W2's idle "
            "CPU at the same session count). \"shed\": messages the sender did not send because more than 2 s "
            "worth were already waiting for the server (overload). \"polls aborted\": polls the clients gave up "
            "on after 1.3 × hold, as the web widget does; when an answer is already on its way at that moment it "
            "is lost with the server-side cursor (no client acknowledges anything in this protocol), which only "
            "happens when the server is overloaded.", "", *_table(_MSG_HEADER, rows)]


def _w4(results: Results) -> list[str]:
    lines: list[str] = []
    rows = []
    knees = []
    for system in SYSTEMS:
        w4 = _system(results, system).get("W4") or {}
        rows += _msg_rows(w4.get("steps", []), system)
        if "steps" in w4:
            last = w4["steps"][-1] if w4["steps"] else {}
            knees.append(f"- {system}: knee at **{_fmt(w4.get('knee_rate'))} msg/s** "
                         f"(last step: {'; '.join(last.get('failed_because', [])) or 'passed'})")
        elif "error" in w4:
            knees.append(f"- {system}: failed: {w4['error']}")
    if not rows:
        return []
    lines += ["## W4 the knee", "",
              "The offered rate rises step by step until p99 > 50 ms, anything is lost, or the offered rate is not "
              "delivered.", "", *knees, "", *_table(_MSG_HEADER, rows)]
    return lines


def _w5(results: Results) -> list[str]:
    rows = []
    for system in SYSTEMS:
        for r in _rows(_system(results, system), "W5"):
            if "post_latency" not in r:
                continue
            post, seen = r["post_latency"], r["latency"]
            rows.append([system, r["target_rate"], r.get("events_posted"), post["p50_ms"], post["p99_ms"],
                         post["max_ms"], seen["p50_ms"], seen["p99_ms"], r.get("cpu_us_per_event"),
                         r["server_cpu_pct"], f"{r['lost']}/{r['duplicated']}/{r['reordered']}", r["typing_seen"]])
    if not rows:
        return []
    return ["## W5 customers post while agents watch", "",
            "Customers POST `chat_session_message` and `chat_session_typing` (alternating) to random sessions at "
            "a fixed rate; every agent holds a WebSocket. \"Agent sees\" is POST → agent WebSocket receipt of the "
            "messages.", "",
            *_table(["system", "offered/s", "events", "POST p50 ms", "POST p99 ms", "POST max ms",
                     "agent sees p50 ms", "agent sees p99 ms", "CPU µs/event", "server CPU %",
                     "msgs lost/dup/reord", "typing seen"], rows)]


def _w6(results: Results) -> list[str]:
    rows = []
    detail = []
    for system in SYSTEMS:
        r = _system(results, system).get("W6") or {}
        if "sent" not in r:
            continue
        rows.append([system, r["sessions"], r["sent"], r["delivered"], r["lost"], r["duplicated"], r["reordered"],
                     r.get("event_seq_violations"), r["latency"]["p99_ms"], r["latency"]["max_ms"]])
        for mode, c in r.get("clients", {}).items():
            detail.append([system, mode, c["polls"], c["aborted"], c["overlapping"], c["superseded_empty"],
                           c["reconnects"]])
    if not rows:
        return []
    return ["## W6 churn", "",
            "A third of the churn sessions behave like the web widget (server-side cursor, abort at 1.3 × hold, "
            "reconnect after a random gap), a third send overlapping polls on two connections, a third use the "
            "explicit `after` cursor and cancel a third of their polls at a random moment. Agents send to them "
            "throughout.", "",
            *_table(["system", "sessions", "sent", "delivered", "lost", "duplicated", "reordered",
                     "cursor seq violations", "p99 ms", "max ms"], rows),
            *_table(["system", "clients", "polls", "aborted", "overlapping", "older answered empty", "reconnects"],
                    detail)]


def before_after(before: Results, after: Results) -> list[str]:
    """frontdesk's key figures from an earlier results.json next to this run's."""
    def figures(results: Results) -> dict[str, Any]:
        fd = _system(results, "frontdesk")
        out: dict[str, Any] = {"W1 chats/s": (fd.get("W1") or {}).get("rate_per_sec")}
        w2 = _rows(fd, "W2")
        if w2:
            out[f"W2 KiB/session @{w2[-1]['sessions']:,}"] = w2[-1]["rss_per_session_kib"]
            out[f"W2 idle CPU % @{w2[-1]['sessions']:,}"] = w2[-1]["server_cpu_pct"]
        for r in _rows(fd, "W3"):
            if "latency" in r:
                out[f"W3 @{r['target_rate']:,}/s p50 ms"] = r["latency"]["p50_ms"]
                out[f"W3 @{r['target_rate']:,}/s p99 ms"] = r["latency"]["p99_ms"]
                out[f"W3 @{r['target_rate']:,}/s CPU µs/msg"] = r["cpu_us_per_msg"]
        out["W4 knee msg/s"] = (fd.get("W4") or {}).get("knee_rate")
        for r in _rows(fd, "W5"):
            if "post_latency" in r:
                out[f"W5 @{r['target_rate']:,}/s POST p99 ms"] = r["post_latency"]["p99_ms"]
                out[f"W5 @{r['target_rate']:,}/s CPU µs/event"] = r.get("cpu_us_per_event")
        return out

    old, new = figures(before), figures(after)
    rows = [[k, old.get(k), new.get(k), _ratio(new.get(k), old.get(k))] for k in new]
    def label(results: Results) -> str:
        meta = results.get("meta", {})
        return f"{meta.get('started_utc', '?')}, commit {meta.get('git_commit', '?')}: `{meta.get('command', '?')}`"

    return ["## Before / after (frontdesk)", "", f"- Before: {label(before)}", f"- After: {label(after)}", "",
            *_table(["figure", "before", "after", "after ÷ before"], rows)]


def write(results: Results, out_dir: Path, before: Results | None = None, after: Results | None = None) -> Path:
    plot_all(results, out_dir)
    path = out_dir / "report.md"
    path.write_text(render(results, before=before, after=after) + "\n", encoding="utf-8")
    return path
