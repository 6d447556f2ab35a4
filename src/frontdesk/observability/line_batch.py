"""Log lines written in batches: one write for the lines of a short interval, not one per line.

A busy server logs a line per request (the access log), and each line written on its own is a
system call on the request path. ``LineBatch`` keeps the lines of up to ``secs`` and a thread of its
own writes them together; the owner writes at once, with everything kept before it, what must not
wait (warnings and errors, ``take``), and a batch beyond ``MAX_BATCH_CHARS`` is written by the line
that filled it. So a line reaches the log at most ``secs`` late and never out of order; what a
SIGKILL loses is at most that interval's lines below warning (``docs/operations.md``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

MAX_BATCH_CHARS = 64 * 1024  # a batch this big is written by the line that filled it


class LineBatch:
    """Lines waiting to be written. ``add`` and ``take`` are called with the owner's lock held;
    ``write_out`` (the owner's, taking that lock) is what the thread calls after ``secs``."""

    def __init__(self, secs: float, write_out: Callable[[], None]) -> None:
        self._secs = secs
        self._write_out = write_out
        self._lines: list[str] = []
        self._chars = 0
        self._pending = threading.Event()  # set when the first line of a batch arrives
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frontdesk-log-lines", daemon=True)
        self._thread.start()

    def add(self, line: str) -> bool:
        """Keep ``line``; True when the batch is full and the caller should write it now."""
        self._lines.append(line)
        self._chars += len(line)
        if len(self._lines) == 1:
            self._pending.set()
        return self._chars >= MAX_BATCH_CHARS

    def take(self) -> str:
        """Every kept line, in order, as one text (empty when none), and forget them."""
        if not self._lines:
            return ""
        lines, self._lines, self._chars = self._lines, [], 0
        return "".join(lines)

    def stop(self) -> None:
        """End the thread (the owner writes what is left with ``take``)."""
        self._stopped.set()
        self._pending.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            self._pending.wait()
            # cleared before the wait: a first line added from here on (after the owner took the
            # batch, say) sets it again, so no line is left without a write coming
            self._pending.clear()
            if self._stopped.wait(self._secs):
                return
            self._write_out()
