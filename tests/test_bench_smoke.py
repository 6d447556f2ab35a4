"""The benchmark harness still works: a seconds-long ``python -m bench --quick`` against a real
frontdesk process and the baseline. Checks shape and correctness (nothing lost, duplicated or
reordered), never absolute times."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6")


def _assert_exactly_once(row: dict[str, Any], what: str) -> None:
    assert row["sent"] > 0, what
    assert row["delivered"] == row["sent"], what
    assert (row["lost"], row["duplicated"], row["reordered"], row["unexpected"]) == (0, 0, 0, 0), what


def test_quick_bench_run_measures_every_workload_on_both_systems(tmp_path: Path) -> None:
    run = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bench", "--quick", "--no-pin", "--no-progress", "--update-latest", "no",
         "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=150, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    results = orjson.loads((run_dir / "results.json").read_bytes())
    assert set(results["systems"]) == {"frontdesk", "baseline"}
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
