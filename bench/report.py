"""Results → Markdown report and PNG plots (matplotlib, Agg backend); the targets are in
``bench.targets``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # the backend is chosen first

from bench.targets import creation_cpu_net_of_polling, idle_cpu_by_sessions
from bench.targets import evaluate as evaluate_targets
from bench.targets import fmt as _fmt
from bench.targets import rows_of as _rows
from bench.targets import system_data as _system
from bench.targets import table as targets_table

__all__ = ["PLOTS", "evaluate_targets", "render", "targets_table", "write"]

SYSTEMS = ("frontdesk", "frontdesk-pg1", "frontdesk-pg2", "baseline")
STYLE: dict[str, dict[str, Any]] = {"frontdesk": {"color": "tab:blue", "linestyle": "-"},
         "frontdesk-pg1": {"color": "tab:green", "linestyle": "-."},
         "frontdesk-pg2": {"color": "tab:orange", "linestyle": (0, (5, 1))},
         "baseline": {"color": "tab:gray", "linestyle": "--"}}
OTHER_STYLE: dict[str, Any] = {"color": "tab:purple", "linestyle": "-"}
PLOTS = ("latency_cdf.png", "latency_vs_rate.png", "rss_vs_sessions.png")

Results = dict[str, Any]


def _present(results: Results) -> list[str]:
    """The systems of this run, in the usual order (any other after them)."""
    names = list(results.get("systems", {}))
    return [n for n in SYSTEMS if n in names] + [n for n in names if n not in SYSTEMS]


def _style(system: str) -> dict[str, Any]:
    return STYLE.get(system, OTHER_STYLE)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


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
    for system in _present(results):
        rows = [r for r in _rows(_system(results, system), "W3") if r["latency"].get("cdf_ms")]
        for i, row in enumerate(rows):
            points = [(ms, q) for q, ms in row["latency"]["cdf_ms"] if ms is not None and ms > 0]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color=colors(i / max(1, len(rows) - 1) * 0.85), linestyle=_style(system)["linestyle"],
                    label=f"{system} {row['target_rate']:,}/s")
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("agent send → customer receipt (ms, log)")
    ax.set_ylabel("fraction of messages")
    ax.set_title("W3 end-to-end latency CDF (line style: system, colour: rate)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_rate(results: Results) -> Any:
    fig, (ax, ax_cpu) = plt.subplots(1, 2, figsize=(11, 4.5))
    drawn = False
    for system in _present(results):
        data = _system(results, system)
        rows = [*_rows(data, "W3"), *(data.get("W4") or {}).get("steps", [])]
        rows = sorted((r for r in rows if r["latency"]["p99_ms"] is not None), key=lambda r: r["target_rate"])
        if not rows:
            continue
        rates = [r["target_rate"] for r in rows]
        style = _style(system)
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
    for system in _present(results):
        rows = _rows(_system(results, system), "W2")
        if not rows:
            continue
        xs = [r["sessions"] for r in rows]
        ax.plot(xs, [r["rss_growth_bytes"] / 2**20 for r in rows], marker="o", label=system,
                color=_style(system)["color"], linestyle=_style(system)["linestyle"])
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
        f"- frontdesk {meta.get('frontdesk_version', '?')} at commit {meta.get('git_commit', '?')}, uvicorn + "
        "httptools + uvloop. The systems run in the same harness run, one after the other, each on fresh "
        "processes (and a fresh database):",
    ]
    for name in _present(results):
        data = _system(results, name)
        load = data.get("loadavg") or {}
        lines.append(f"  - {data.get('describe', name)}; pinning: {data.get('pinning', '?')}"
                     + (f"; machine load average {load['before']} before, {load['after']} after" if load else "")
                     + (f"; **failed: {data['error']}**" if "error" in data else ""))
    if meta.get("load_note"):
        lines.append(f"- Machine load: {meta['load_note']}")
    if meta.get("loadavg_at_start"):
        lines.append(f"- Load average (1/5/15 min) at the start of the run: {meta['loadavg_at_start']}.")
    lines += [
        f"- Long-poll hold {scale.get('hold_secs')} s; sessions {scale.get('levels')}; "
        f"{scale.get('agents')} auto-accepting agents of 100 chats each.",
        "- Load: one asyncio process (uvloop) with a hand-written HTTP/1.1 keep-alive client; every customer "
        "holds its own connection and re-polls at once. Agent messages and customer posts are sent open loop "
        "on a fixed schedule over a connection pool; latency is from the moment the request is written to the "
        "moment the customer's poll response is complete (same process, monotonic clock).",
        "- CPU and RSS come from `/proc/<pid>/stat` and `/proc/<pid>/status`, summed over every process of the "
        "server (with `--workers`, the supervisor and its workers). \"Services\" is the CPU of the PostgreSQL "
        "backends connected to the system's own database plus every redis-server process (Redis is shared with "
        "whatever else uses the machine's Redis; PostgreSQL's background writers are not counted).",
        f"- Command: `{meta.get('command', 'python -m bench')}`", "",
        "## Targets", "", *targets_table(results),
    ]
    lines += _w1(results) + _w2(results) + _w3(results) + _w4(results) + _w5(results) + _w6(results)
    lines += _profiles(results)
    if before is not None:
        lines += before_after(before, after if after is not None else results)
    lines += ["## Plots", ""]
    for name in PLOTS:
        lines += [f"![{name[:-4]}]({image_prefix}{name})", ""]
    errors: dict[str, dict[str, int]] = {s: _system(results, s)["errors"] for s in _present(results)
                                         if _system(results, s).get("errors")}
    if errors:
        lines += ["## Errors seen by the load generator", ""]
        for system, counts in errors.items():
            lines += [f"- {system}: " + "; ".join(f"`{k}` ×{v}" for k, v in counts.items())]
        lines.append("")
    return "\n".join(lines)


def _uses_services(results: Results) -> bool:
    return any(_system(results, s).get("describe", "").find("PostgreSQL") >= 0 for s in _present(results))


def _by_process(values: dict[str, Any] | None) -> str | None:
    """``{pid: figure}`` of a multi-process server as ``a / b / c`` in pid order (the supervisor first)."""
    if not values:
        return None
    return " / ".join(_fmt(v) for _, v in sorted(values.items(), key=lambda kv: int(kv[0])))


def _profiles(results: Results) -> list[str]:
    lines: list[str] = []
    for system in _present(results):
        profiles = _system(results, system).get("profiles") or {}
        for label, summary in profiles.items():
            if "error" in summary:
                lines += [f"### {system} — {label}", "", f"py-spy failed: {summary['error']}", ""]
                continue
            lines += [f"### {system} — {label}", "",
                      f"{summary.get('mode', 'native')} stacks: "
                      f"{summary['samples']:,} busy samples ({summary.get('idle_samples', 0):,} idle left out) at "
                      f"{summary['rate_hz']} Hz over {summary['seconds']} s: a thread of the server was running "
                      f"or waiting for a CPU in {_fmt(summary['busy_pct_of_one_core'])} % of the sample times (its CPU "
                      "use, from /proc, is in the step's table). Raw stacks: "
                      f"`{summary.get('raw_file', '?')}` in the results directory.", ""]
            lines += _table(["function (own time: innermost frame)", "own %", "incl. %"],
                            [[f"`{name}`", own, incl] for name, own, incl in summary["own"][:12]])
            lines += _table(["function (including callees)", "incl. %"],
                            [[f"`{name}`", pct] for name, pct in summary["total"][:12]])
            lines += _table(["innermost frame, Python or native", "%"],
                            [[f"`{name}`", pct] for name, pct in summary.get("innermost", [])[:10]])
    if not lines:
        return []
    return ["## Profiles", "",
            "py-spy samples of the server's stacks during the step (`--profile`). Native stacks (Python and C) need "
            "the process paused for each sample, so the other figures of such a run are not for comparison; Python "
            "stacks (`--profile-mode python`) are read without pausing it, and C code shows as its caller. Shares "
            "are of the busy samples (a thread waiting in `epoll_wait` or on a futex is idle); \"own\" charges a "
            "sample to its innermost Python function, including the C code that function called.", "",
            *lines]


def _w1(results: Results) -> list[str]:
    rows = []
    services = _uses_services(results)
    for system in _present(results):
        data = _system(results, system)
        w1 = data.get("W1") or {}
        idle = idle_cpu_by_sessions(data)
        for b in w1.get("batches", []):
            rows.append([system, f"{b['from_sessions']:,} → {b['from_sessions'] + b['created']:,}", b["rate_per_sec"],
                         b["latency"]["p50_ms"], b["latency"]["p99_ms"], b["cpu_us_per_chat"],
                         creation_cpu_net_of_polling(b, idle),
                         *([b.get("services_cpu_us_per_chat")] if services else []), b["errors"]])
        if w1:
            rows.append([f"**{system}**", "all", w1.get("rate_per_sec"), w1["latency"]["p50_ms"],
                         w1["latency"]["p99_ms"], None, None, *([None] if services else []), None])
    if not rows:
        return []
    header = ["system", "sessions", "chats/s", "p50 ms", "p99 ms", "server CPU µs/chat",
              "… net of idle polling (est.)", *(["services CPU µs/chat"] if services else []), "errors"]
    return ["## W1 chat creation", "",
            "Closed loop: each of the concurrent clients creates a chat (`POST …/chats`) and creates the next as "
            "soon as the answer arrives; frontdesk routes each new chat to an auto-accepting agent in the same "
            "request. Later batches run while the earlier sessions long-poll, so their CPU per chat includes "
            "that polling; \"net of idle polling\" takes out the mean of the idle CPU the W2 windows measured at "
            "the batch's first and last level (an estimate: what creating a chat itself costs at that many "
            "live chats).", "",
            *_table(header, rows)]


def _w2(results: Results) -> list[str]:
    rows = []
    services = _uses_services(results)
    spread = []
    for system in _present(results):
        for r in _rows(_system(results, system), "W2"):
            late = r["lateness"]
            rows.append([system, r["sessions"], round(r["rss_bytes"] / 2**20, 1), r["rss_per_session_kib"],
                         r["server_cpu_pct"], r["cpu_us_per_idle_poll"],
                         *([r.get("services_cpu_pct"), r.get("services_cpu_us_per_idle_poll")] if services else []),
                         r["idle_polls"], late["p50_ms"], late["p99_ms"], late["max_ms"]])
            if r.get("connections_by_process") or r.get("cpu_pct_by_process"):
                spread.append([system, r["sessions"], _by_process(r.get("connections_by_process")),
                               _by_process(r.get("cpu_pct_by_process"))])
    if not rows:
        return []
    header = ["system", "sessions", "RSS MiB", "KiB/session", "server CPU %", "CPU µs/idle poll",
              *(["services CPU %", "services µs/idle poll"] if services else []),
              "idle polls", "late p50 ms", "late p99 ms", "late max ms"]
    lines = ["## W2 idle sessions", "",
             "Every session holds a long poll that returns `{\"events\": []}` after the hold and is renewed at once. "
             "RSS per session = (RSS now − RSS after start-up) ÷ sessions. Lateness = poll duration − hold.", "",
             *_table(header, rows)]
    if spread:
        lines += ["With several processes, each process's share (in pid order: the supervisor first, then the "
                  "workers): the customers' connections it holds and its CPU % of one core.", "",
                  *_table(["system", "sessions", "connections by process", "CPU % by process"], spread)]
    return lines


def _msg_rows(rows: list[dict[str, Any]], system: str, services: bool) -> list[list[Any]]:
    out = []
    for r in rows:
        lat = r["latency"]
        cpu = _fmt(r["server_cpu_pct"])
        if r.get("cpu_pct_by_process"):
            cpu += f" ({_by_process(r['cpu_pct_by_process'])})"
        out.append([system, r["target_rate"], r["delivered_rate"], lat["p50_ms"], lat["p99_ms"], lat["p999_ms"],
                    lat["max_ms"], r["cpu_us_per_msg"], r.get("cpu_us_per_msg_above_idle"), cpu,
                    *([r.get("services_cpu_us_per_msg")] if services else []),
                    f"{r['lost']}/{r['duplicated']}/{r['reordered']}",
                    f"{r['send_errors']}/{r.get('refused', 0)}/{r.get('shed', 0)}",
                    r.get("aborted_polls"), r["loadgen_cpu_pct"]])
    return out


def _msg_header(services: bool) -> list[str]:
    return ["system", "offered/s", "delivered/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU µs/msg",
            "µs/msg above idle", "server CPU % (by process)", *(["services µs/msg"] if services else []),
            "lost/dup/reord", "errors/refused/shed", "polls aborted", "loadgen CPU %"]


def _w3(results: Results) -> list[str]:
    rows = []
    services = _uses_services(results)
    for system in _present(results):
        rows += _msg_rows([r for r in _rows(_system(results, system), "W3") if "latency" in r], system, services)
    if not rows:
        return []
    return ["## W3 steady chat", "",
            "Agents send to random sessions (one message in flight per session) at a fixed offered rate while every "
            "session long-polls. Latency is agent send → customer receipt. CPU µs/msg = server CPU in the window ÷ "
            "delivered messages (it includes the idle polling of all sessions; the next column subtracts W2's idle "
            "CPU at the same session count). \"refused\": sends the server answered 503 (an overloaded frontdesk "
            "sheds new sends before doing anything; never counted as sent). \"shed\": messages the sender did not "
            "send because more than 2 s worth were already waiting for the server (overload). \"polls aborted\": "
            "polls the clients gave up on after 1.3 × hold, as the web widget does; an answer already on its way "
            "at that moment is lost with the server-side cursor (no client acknowledges anything in this "
            "protocol), which frontdesk avoids by answering a poll it reaches too late empty.", "",
            *_table(_msg_header(services), rows)]


def _w4(results: Results) -> list[str]:
    lines: list[str] = []
    rows = []
    knees = []
    services = _uses_services(results)
    for system in _present(results):
        w4 = _system(results, system).get("W4") or {}
        rows += _msg_rows(w4.get("steps", []), system, services)
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
              "delivered.", "", *knees, "", *_table(_msg_header(services), rows)]
    return lines


def _w5(results: Results) -> list[str]:
    rows = []
    for system in _present(results):
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
    for system in _present(results):
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
