"""The benchmark harness still works: a seconds-long ``python -m bench --quick --systems all``
against real frontdesk processes (SQLite; PostgreSQL + Redis with one and with two workers) and the
baseline. Checks shape and correctness (nothing lost, duplicated or
reordered), never absolute times. Nothing it starts outlives it: the bench runs in its own process
group, every process it starts inherits a marker in its environment, and both are killed in
``finally``, also when the bound runs out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
from bench.services import DEFAULT_PG_ADMIN_URL, DEFAULT_REDIS_URL, RedisKeys, ServiceUrls

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6")
# generous: the run takes two to three minutes on an idle machine; a loaded one must not fail it
BOUND_SECS = 900
MARKER_VARIABLE = "FRONTDESK_BENCH_SMOKE_RUN"  # inherited by every process the run starts


def _assert_exactly_once(row: dict[str, Any], what: str) -> None:
    """Everything sent arrived once and in order. On a loaded machine a step may not drain within its
    window: what arrives while it settles is late, not lost (speed is never asserted here)."""
    assert row["sent"] > 0, what
    late = row.get("arrived_after_drain", 0)
    assert row["delivered"] + late == row["sent"], what
    lost = row["lost_after_settle"] if "lost_after_settle" in row else row["lost"]
    assert (lost, row["duplicated"], row["reordered"], row["unexpected"]) == (0, 0, 0, 0), what


def _marked_processes(marker: str) -> list[int]:
    """Every process whose environment carries ``marker`` (the bench and every server it started)."""
    found = []
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                environment = (entry / "environ").read_bytes()
            except OSError:  # gone meanwhile, or not ours
                continue
            if needle in environment.split(b"\0"):
                found.append(int(entry.name))
    return found


def _kill_everything_started(bench: subprocess.Popen[str], marker: str) -> list[int]:
    """Kill the bench's process group and any process that inherited the marker (servers run in
    sessions of their own); returns the pids that were still running."""
    left = [pid for pid in _marked_processes(marker) if pid != bench.pid]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(bench.pid, signal.SIGKILL)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    bench.wait()
    return left


def _left_by_run(bench_pid: int) -> tuple[list[str], list[str]]:
    """The databases and Redis keys still named after the bench process (bench.services.unique_name)."""
    query = f"SELECT datname FROM pg_database WHERE datname LIKE 'fd_bench_%_{int(bench_pid)}_%'"  # noqa: S608
    databases = subprocess.run(["psql", DEFAULT_PG_ADMIN_URL, "-X", "-A", "-t", "-c", query],  # noqa: S603,S607
                               capture_output=True, text=True, check=True).stdout.split()
    keys = RedisKeys(ServiceUrls(redis_url=DEFAULT_REDIS_URL), f"fd:bench:*:{bench_pid}:").keys()
    return databases, keys


def test_quick_bench_run_measures_every_workload_on_every_system(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    bench = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bench", "--quick", "--systems", "all", "--no-pin", "--no-progress",
         "--update-latest", "no", "--out", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, MARKER_VARIABLE: marker})
    timed_out = False
    stdout = stderr = ""
    try:
        stdout, stderr = bench.communicate(timeout=BOUND_SECS)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        left = _kill_everything_started(bench, marker)
    if timed_out:
        stdout, stderr = bench.communicate()
    assert not timed_out, f"the quick bench run took more than {BOUND_SECS} s:\n{stdout[-3000:]}{stderr[-3000:]}"
    assert bench.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert left == [], "the bench left processes running"
    (run_dir,) = tmp_path.iterdir()
    results = orjson.loads((run_dir / "results.json").read_bytes())
    assert set(results["systems"]) == {"frontdesk", "frontdesk-pg1", "frontdesk-pg2", "baseline"}
    assert _left_by_run(bench.pid) == ([], []), "the PostgreSQL + Redis systems left a database or keys"
    for name, system in results["systems"].items():
        for workload in WORKLOADS:
            assert workload in system, f"{name} has no {workload}"
            assert "error" not in system[workload], f"{name} {workload}: {system[workload]}"
        assert system["W1"]["created"] == system["W1"]["batches"][-1]["from_sessions"] + \
            system["W1"]["batches"][-1]["created"]
        assert [row["sessions"] for row in system["W2"]] == list(results["meta"]["scale"]["levels"])
        assert all(row["rss_bytes"] > 0 and row["idle_polls"] > 0 for row in system["W2"])
        for row in system["W3"]:
            _assert_exactly_once(row, f"{name} {row['name']}")
        assert system["W4"]["steps"]
        for row in system["W5"]:
            _assert_exactly_once(row, f"{name} {row['name']}")
            assert row["send_errors"] == 0
        w6 = system["W6"]
        _assert_exactly_once(w6, f"{name} W6")
        assert w6["event_seq_violations"] == 0
        assert w6["clients"]["overlap"]["overlapping"] > 0
        assert w6["clients"]["cursor"]["reconnects"] > 0
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "## Targets" in report and "## W6 churn" in report
    for plot in ("latency_cdf.png", "latency_vs_rate.png", "rss_vs_sessions.png"):
        assert (run_dir / plot).stat().st_size > 1000
