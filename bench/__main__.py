"""``python -m bench``: run the workloads against the systems, write the report.

    python -m bench                      # the full run: frontdesk (SQLite), frontdesk-pg1/-pg2 (PostgreSQL
                                         # + Redis, 1 and 2 workers) and the baseline
    python -m bench --quick              # seconds: tiny sessions and rates, to check the harness
    python -m bench --sessions 1000,5000 --workloads W2,W3 --systems frontdesk
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import gc
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
from tqdm import tqdm

from bench import processes, report
from bench.loadgen import HttpError, raise_nofile_limit
from bench.profile import Profiler
from bench.profile import available as profiler_available
from bench.services import DEFAULT_PG_ADMIN_URL, DEFAULT_REDIS_URL, ServiceUrls
from bench.systems import Baseline, Frontdesk, FrontdeskCluster, System
from bench.workloads import QUICK, Runner, Scale

BENCH_DIR = Path(__file__).resolve().parent
ALL_WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6")
README_START = "<!-- bench:latest:start -->"
README_END = "<!-- bench:latest:end -->"
SERVER_CPU = 0
LOAD_CPU = 1
SYSTEMS = ("frontdesk", "frontdesk-pg1", "frontdesk-pg2", "baseline")
DEFAULT_SYSTEMS = ",".join(SYSTEMS)
# what CI's smoke test runs (tests/test_bench_smoke.py); `--quick --systems all` checks every system
QUICK_DEFAULT_SYSTEMS = "frontdesk,baseline"


class Progress:
    """A tqdm bar over the estimated seconds of the run, or plain lines when disabled."""

    def __init__(self, total_secs: float, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = tqdm(total=round(total_secs), unit="s", dynamic_ncols=True, disable=not enabled,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}]")
        self.started = time.monotonic()
        self._ticker: asyncio.Task[None] | None = None
        self.system = ""

    def step(self, name: str) -> None:
        self.bar.set_description_str(f"{self.system}: {name}")
        if not self.enabled:
            print(f"[{time.monotonic() - self.started:7.1f}s] {self.system}: {name}", file=sys.stderr, flush=True)

    def log(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            elapsed = round(time.monotonic() - self.started)
            if elapsed > self.bar.n:
                self.bar.update(min(elapsed, self.bar.total or elapsed) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="frontdesk benchmark harness")
    parser.add_argument("--quick", action="store_true", help="a seconds-long run at tiny scale (harness check)")
    parser.add_argument("--sessions", help="comma-separated W2 session counts; the last serves W3–W6")
    parser.add_argument("--hold-secs", type=float, help="long-poll hold (default 10, quick 0.5)")
    parser.add_argument("--w3-rates", help="comma-separated W3 rates (msg/s)")
    parser.add_argument("--w3-secs", type=float, help="seconds per W3 rate")
    parser.add_argument("--w4-rates", help="comma-separated W4 rates (msg/s), rising")
    parser.add_argument("--w4-secs", type=float, help="seconds per W4 rate")
    parser.add_argument("--settle-secs", type=float,
                        help="after an overloaded step, wait at most this long for late messages (default 120)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL,
                        help="PostgreSQL to create the runs' databases in (a database to connect to first)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis of the PostgreSQL + Redis systems")
    parser.add_argument("--profile", metavar="WORKLOADS",
                        help="py-spy profiles of the frontdesk systems during these workloads' steps (e.g. W1,W2)")
    parser.add_argument("--profile-mode", choices=("native", "python"), default="native",
                        help="native: Python and C stacks, pausing the server per sample; python: Python stacks "
                             "only, without pausing it (default native)")
    parser.add_argument("--systems", help=f"which of {', '.join(SYSTEMS)} (or 'all'); default: all, with --quick "
                                          f"{QUICK_DEFAULT_SYSTEMS}")
    parser.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                        help="which of W1..W6 to run (sessions are always created, so W1 always runs)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="results directory")
    parser.add_argument("--compare", type=Path, help="an earlier results.json: adds a before/after section")
    parser.add_argument("--compare-after", type=Path, metavar="RESULTS_JSON",
                        help="the 'after' of that section when it is not this run (a run of the same scale)")
    parser.add_argument("--report-only", type=Path, metavar="RESULTS_JSON",
                        help="measure nothing: write the report (and with --update-latest yes, LATEST.md) again "
                             "from this results.json, beside it")
    parser.add_argument("--load-note", help="what else ran on the machine during the run (goes into the report)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and load generator to CPUs")
    parser.add_argument("--no-progress", action="store_true", help="plain log lines instead of a progress bar")
    parser.add_argument("--latest-name", default="latest", type=_latest_name,
                        help="with --update-latest: write bench/<NAME>.md and bench/<name>/ instead of LATEST.md "
                             "(a second committed run, e.g. 'scaleout'; only 'latest' updates bench/README.md)")
    parser.add_argument("--update-latest", choices=("auto", "yes", "no"), default="auto",
                        help="copy the report to bench/LATEST.md and bench/README.md (auto: full runs only)")
    return parser.parse_args(argv)


def _scale(args: argparse.Namespace) -> Scale:
    scale = QUICK if args.quick else Scale()
    changes: dict[str, Any] = {}
    if args.sessions:
        changes["levels"] = tuple(int(x) for x in args.sessions.split(","))
        changes["agents"] = max(1, -(-(changes["levels"][-1] + scale.w6_sessions) // 100) + 1)
    if args.hold_secs:
        changes["hold_secs"] = args.hold_secs
    if args.w3_rates:
        changes["w3_rates"] = tuple(int(x) for x in args.w3_rates.split(","))
    if args.w3_secs:
        changes["w3_secs"] = args.w3_secs
    if args.w4_rates:
        changes["w4_rates"] = tuple(int(x) for x in args.w4_rates.split(","))
    if args.w4_secs:
        changes["w4_secs"] = args.w4_secs
    if args.settle_secs:
        changes["settle_secs"] = args.settle_secs
    return dataclasses.replace(scale, **changes)


def _system_names(args: argparse.Namespace) -> list[str]:
    chosen = args.systems or (QUICK_DEFAULT_SYSTEMS if args.quick else DEFAULT_SYSTEMS)
    names = list(SYSTEMS) if chosen.strip() == "all" else [n.strip() for n in chosen.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown system {unknown[0]!r} (known: {', '.join(SYSTEMS)}, all)")
    return names


def _make_system(name: str, scale: Scale, run_dir: Path, services: ServiceUrls) -> System:
    common: dict[str, Any] = {"name": name, "hold_secs": scale.hold_secs, "agents": scale.agents, "run_dir": run_dir}
    if name == "frontdesk":
        return Frontdesk(**common)
    if name == "baseline":
        return Baseline(**common)
    return FrontdeskCluster(**common, workers=int(name.removeprefix("frontdesk-pg")), services=services)


def _pinning(enabled: bool) -> tuple[bool, str]:
    """Pin the load generator to ``LOAD_CPU`` (servers are pinned as they start, see
    :func:`_server_cpus`); False with the reason when pinning is off or impossible."""
    if not enabled:
        return False, "none (--no-pin)"
    cpus = os.sched_getaffinity(0)
    if not {SERVER_CPU, LOAD_CPU} <= cpus or shutil.which("taskset") is None:
        return False, f"none (needs CPUs {SERVER_CPU} and {LOAD_CPU} and taskset; have {sorted(cpus)})"
    os.sched_setaffinity(0, {LOAD_CPU})
    return True, (f"one-process servers on CPU {SERVER_CPU} (taskset -c {SERVER_CPU}), load generator on CPU "
                  f"{LOAD_CPU} (sched_setaffinity); frontdesk-pg2's two workers on CPUs {SERVER_CPU},{LOAD_CPU}, "
                  "so the load generator shares a core with one of them; PostgreSQL and Redis (machine services) "
                  "are not pinned")


def _server_cpus(pinned: bool, workers: int) -> tuple[tuple[int, ...] | None, str]:
    """The CPUs a server of ``workers`` processes is pinned to: one per worker (the server CPU first,
    then the load generator's), and how that reads in the report."""
    if not pinned:
        return None, "not pinned"
    cpus = (SERVER_CPU, LOAD_CPU)[:workers] if workers <= 2 else None
    if cpus is None:
        return None, f"not pinned ({workers} workers on {os.cpu_count()} CPUs)"
    shared = " (shared with the load generator)" if LOAD_CPU in cpus else ""
    return cpus, f"taskset -c {','.join(map(str, cpus))}{shared}"


def _loadavg() -> str:
    """The machine's load average (1, 5, 15 minutes): how much else wanted the CPUs."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return " / ".join(f.read().split()[:3])


def _meta(args: argparse.Namespace, scale: Scale, pinning: str, argv: list[str]) -> dict[str, Any]:
    from frontdesk import __version__

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=BENCH_DIR, check=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    cpu_model = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    loadavg = _loadavg()
    commit = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {
        "started_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "-m", "bench", *argv]), "quick": args.quick,
        "cpu_model": cpu_model, "cpus": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(), "python": platform.python_version(), "frontdesk_version": __version__,
        "git_commit": commit + ("+changes" if dirty else ""), "pinning": pinning,
        "scale": dataclasses.asdict(scale), "loadavg_at_start": loadavg, "load_note": args.load_note or "",
    }


async def _run_system(system: System, scale: Scale, workloads: set[str], pinned: bool,
                      profile: set[str], native_profile: bool, progress: Progress) -> dict[str, Any]:
    progress.system = system.name
    progress.step("starting server")
    cpus, pinning = _server_cpus(pinned, system.workers)
    load_before = _loadavg()
    try:
        system.launch(cpus)
        await system.wait_ready()
        profiler = None
        if profile and isinstance(system, Frontdesk):
            profiler = Profiler(system.pid, system.run_dir, system.name, profile, processes=system.workers,
                                native=native_profile)
        result = await Runner(system, scale, progress, profiler=profiler).run(workloads)
    finally:
        progress.step("stopping server")
        system.stop()
    return {"describe": system.describe(), "workers": system.workers, "pinning": pinning,
            "loadavg": {"before": load_before, "after": _loadavg()}, **result,
            **({"cleanup": system.extra} if system.extra else {})}


async def _main(args: argparse.Namespace, scale: Scale, run_dir: Path, pinned: bool,
                results: dict[str, Any]) -> None:
    workloads = {w.strip().upper() for w in args.workloads.split(",")} | {"W1"}
    profile = {w.strip().upper() for w in args.profile.split(",")} if args.profile else set()
    names = _system_names(args)
    services = ServiceUrls(pg_admin_url=args.pg_url, redis_url=args.redis_url)
    progress = Progress(scale.estimate_secs() * len(names), enabled=not args.no_progress)
    ticker = asyncio.ensure_future(progress.tick())
    try:
        for name in names:
            system = _make_system(name, scale, run_dir, services)
            try:
                results["systems"][name] = await _run_system(system, scale, workloads, pinned, profile,
                                                             args.profile_mode == "native", progress)
            except (RuntimeError, OSError, HttpError) as exc:
                # a system that cannot start (or a service that is not there) fails alone
                results["systems"][name] = {"describe": system.describe(), "error": f"{type(exc).__name__}: {exc}"}
                progress.log(f"{name} failed: {exc}")
            gc.collect()
    finally:
        ticker.cancel()
        progress.close()


def _latest_name(value: str) -> str:
    if not value.isascii() or not value.isalnum():
        raise argparse.ArgumentTypeError("letters and digits only")
    return value.lower()


def _update_latest(report_md: Path, results: dict[str, Any], before: dict[str, Any] | None,
                   after: dict[str, Any] | None = None, name: str = "latest") -> None:
    """Copy the report to ``bench/<NAME>.md`` with its plots in ``bench/<name>/``; the latest run
    (``latest``) also replaces the target table of bench/README.md."""
    latest_dir = BENCH_DIR / name
    latest_dir.mkdir(exist_ok=True)
    for plot in report.PLOTS:
        source = report_md.parent / plot
        if source.exists():
            shutil.copyfile(source, latest_dir / plot)
    latest = report.render(results, image_prefix=f"{name}/", before=before, after=after)
    (BENCH_DIR / f"{name.upper()}.md").write_text(latest + "\n", encoding="utf-8")
    readme = BENCH_DIR / "README.md"
    if name == "latest" and readme.exists():
        text = readme.read_text(encoding="utf-8")
        if README_START in text and README_END in text:
            head, rest = text.split(README_START, 1)
            _, tail = rest.split(README_END, 1)
            meta = results["meta"]
            table = "\n".join([f"Latest run: {meta['started_utc']}, commit {meta['git_commit']}, "
                               f"{meta['cpu_model']} ({meta['cpus']} cores); {meta['pinning']}. "
                               "Full report: [LATEST.md](LATEST.md).", "", *report.targets_table(results)])
            readme.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}", encoding="utf-8")


def _report_only(args: argparse.Namespace) -> int:
    results = orjson.loads(args.report_only.read_bytes())
    before = orjson.loads(args.compare.read_bytes()) if args.compare else None
    after = orjson.loads(args.compare_after.read_bytes()) if args.compare_after else None
    report_md = report.write(results, args.report_only.parent, before=before, after=after)
    if args.update_latest == "yes":
        _update_latest(report_md, results, before, after, args.latest_name)
    print(f"report:  {report_md}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse_args(argv)
    if args.report_only:
        return _report_only(args)
    scale = _scale(args)
    _system_names(args)  # unknown names fail before anything starts
    if args.profile and not profiler_available():
        raise SystemExit("--profile needs py-spy (the bench extra: pip install -e '.[bench]')")
    raise_nofile_limit()
    pinned, pinning = _pinning(not args.no_pin)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.out.resolve() / stamp  # absolute: the servers run with it as their working directory
    run_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"meta": _meta(args, scale, pinning, argv), "systems": {}}
    # no collector pauses inside latency windows: the workloads collect between windows instead
    gc.disable()
    processes.terminate_on_sigterm()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_main(args, scale, run_dir, pinned, results))
    except KeyboardInterrupt:
        print(f"interrupted; every server stopped; partial results: {run_dir / 'results.json'}", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()  # whatever is still running: Ctrl-C, SIGTERM, a failure
        (run_dir / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    before = orjson.loads(args.compare.read_bytes()) if args.compare else None
    report_md = report.write(results, run_dir, before=before)
    if args.update_latest == "yes" or (args.update_latest == "auto" and not args.quick):
        _update_latest(report_md, results, before, name=args.latest_name)
    print(f"results: {run_dir / 'results.json'}\nreport:  {report_md}")
    for target in report.evaluate_targets(results):
        verdict = "n/a" if target["met"] is None else ("met" if target["met"] else "MISSED")
        print(f"  [{verdict:>6}] {target['target']}: {target['measured']} (compared with: {target['reference']})")
    failed = [name for name, data in results["systems"].items() if "error" in data]
    for name in failed:
        print(f"  {name} failed: {results['systems'][name]['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
