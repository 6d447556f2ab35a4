"""The WAL checkpoint off the event loop: a thread with a connection of its own copies the
write-ahead log back into the database file.

SQLite's own checkpoint runs inside the commit that crosses ``wal_autocheckpoint`` pages, on the
connection that commits: frontdesk's one writer, on the event loop. Such a commit then copies
thousands of pages and waits for two fsyncs while every request waits behind it. Here the writer's
automatic checkpoint is pushed far out (``WRITER_SAFETY_PAGES``: it only acts if this thread has
stopped), and ``WalCheckpointer`` runs a PASSIVE checkpoint every ``interval_secs``: it copies what
no reader still needs, never blocks the writer or the readers, and the sqlite3 module releases the
GIL while it runs, so the loop goes on. The next write after a complete checkpoint starts the log
from its beginning again; ``journal_size_limit`` truncates a file a burst made larger.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

# the standard library's logger: storage depends on nothing of frontdesk but the protocol
# (docs/architecture.md); frontdesk's handler formats the line like every other
log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_SECS = 1.0
# the writer's own automatic checkpoint: a safety net only, for a checkpointer that has stopped
WRITER_SAFETY_PAGES = 100_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024  # a WAL file left larger than this by a burst is truncated


class WalCheckpointer:
    """A daemon thread checkpointing the database at ``path`` every ``interval_secs`` until ``stop()``."""

    def __init__(self, path: str, interval_secs: float = CHECKPOINT_INTERVAL_SECS) -> None:
        self._path = path
        self._interval = interval_secs
        self._stopping = threading.Event()
        self._passes = 0
        self._pass_done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="frontdesk-wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the pass in progress (if any); returns once the thread has ended."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def wait_for_passes(self, count: int, timeout_secs: float) -> bool:
        """Block until ``count`` more passes have completed (tests); False after ``timeout_secs``."""
        with self._pass_done:
            target = self._passes + count
            return self._pass_done.wait_for(lambda: self._passes >= target, timeout_secs)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            while not self._stopping.wait(self._interval):
                self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the next pass tries again; the writer's safety net still holds
            log.warning("WAL checkpoint failed: %s: %s", type(exc).__name__, exc)
        with self._pass_done:
            self._passes += 1
            self._pass_done.notify_all()
