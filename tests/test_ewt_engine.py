"""The estimated wait time through the real engine (bench/ewt_engine.py): a short run on a fake clock."""

from __future__ import annotations

from pathlib import Path

from bench import ewt_engine

from frontdesk.domain.reports import EWT_MIN_WAIT_SECS

CHATS = 400
SEED = 1


async def test_the_engine_gives_every_queued_chat_an_estimate_as_accurate_as_the_model(tmp_path: Path) -> None:
    run = await ewt_engine.run_engine(CHATS, SEED, data_dir=tmp_path)
    assert len(run.chats) == CHATS
    assert run.report.offered == run.report.answered == CHATS  # every chat queued (or not) and was answered
    waited = [c for c in run.chats if c.wait is not None and c.wait >= EWT_MIN_WAIT_SECS]
    assert len(waited) > 50
    assert all(c.ewt_predicted is not None for c in waited)
    assert run.report.ewt_samples == len(waited)

    summary = ewt_engine.summarise(run)
    sessions = summary["sessions"]
    # deterministic (simulated time, fixed seed): 28.4 % in the report, 28.5 % from the sessions (74 chats).
    # Runs this short are noisy (seeds 1–3: 11–32 %) and start from an empty queue; 2,000 chats: bench/EWT.md
    assert run.report.ewt_rel_error_p50 is not None and run.report.ewt_rel_error_p50 < 0.35
    assert sessions["rel_error_p50"] is not None and sessions["rel_error_p50"] < 0.35
    assert abs(run.report.ewt_rel_error_p50 - sessions["rel_error_p50"]) < 0.02  # nearest-rank vs midpoint median

    # the pure simulation on the same random streams sees the same queue: the same waits, and the engine's
    # estimates are the model's up to its random draws (the busy slots come in another order)
    pure = ewt_engine.compare(run)
    assert pure["pure_waited_10s"] == len(waited)
    assert pure["same_wait"] == pure["queued_in_both"]
    assert abs(sessions["rel_error_p50"] - pure["pure_rel_error_p50"]) < 0.03
