"""The WAL is copied back into the database by a thread of its own (``storage.sqlite.checkpoint``),
not by a commit of the writer on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from frontdesk.storage.sqlite.checkpoint import WRITER_SAFETY_PAGES, WalCheckpointer
from frontdesk.storage.sqlite.store import SqliteStorage

GUARD_SECS = 60.0  # against a hang only


def _write_a_lot(path: Path) -> sqlite3.Connection:
    """A writer that never checkpoints by itself, and about 2 MB of rows in its WAL."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    for _ in range(20):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (body) VALUES (?)", [("x" * 1000,)] * 100)
        conn.execute("COMMIT")
    return conn


def test_the_checkpointer_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite3"
    writer = _write_a_lot(path)
    try:
        before = path.stat().st_size
        assert Path(f"{path}-wal").stat().st_size > 1_000_000  # the rows are in the log only
        checkpointer = WalCheckpointer(str(path), interval_secs=0.05)
        checkpointer.start()
        try:
            assert checkpointer.wait_for_passes(2, GUARD_SECS)
        finally:
            checkpointer.stop()
        assert path.stat().st_size - before > 1_000_000  # and now in the database file
        assert writer.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2000
    finally:
        writer.close()


async def test_the_store_checkpoints_in_its_thread_from_open_until_close(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "store.sqlite3")
    assert storage.checkpointer is None
    await storage.open()
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    # the writer's own automatic checkpoint is only a safety net for a stopped checkpointer
    assert storage._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WRITER_SAFETY_PAGES
    assert await asyncio.to_thread(checkpointer.wait_for_passes, 1, GUARD_SECS)
    await storage.close()
    assert storage.checkpointer is None and not checkpointer._thread.is_alive()
