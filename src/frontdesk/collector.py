"""How the cyclic garbage collector runs in a server process (``frontdesk serve``).

A held poll is a chain of suspended coroutines, frames, bound methods and futures — some fifty
objects the collector tracks — alive for the whole hold. The collector's young pass walks every
object allocated since the last pass that is still alive, and it starts once allocations
outnumber deallocations by its threshold; a server holding thousands of polls allocates about
as many objects as it frees, so the count rarely reaches the threshold while the young list
grows to every poll held since the last pass: passes of hundreds of thousands of objects, each
walked (tens to hundreds of ms with the event loop stopped), every one of them alive.

So the young generation is emptied by time instead: every ``FREEZE_SECS`` what the collector
tracks moves to its permanent generation (``gc.freeze``, a constant-time move), where no pass
walks it. Reference counting still frees those objects the moment their last reference goes;
what only the collector can free, reference cycles among them, waits for ``FULL_PASS_SECS``:
then everything goes back (``gc.unfreeze``) and one full pass runs, one pause a few minutes
apart instead of passes of every held poll every few seconds. A young pass that the count still
starts meanwhile walks at most ``FREEZE_SECS`` of new objects.

The thread does the work: a freeze takes the interpreter lock for an instant, the full pass for as
long as it walks everything (as the collector's own oldest pass would)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

# Thresholds for the passes the allocation count still starts (between freezes): rare ones. With
# the default (700, 10, 10) the collector ran every few hundred requests (W3 p99 180 ms at 250
# msg/s; bench/README.md).
GC_THRESHOLDS = (50_000, 50, 100)
FREEZE_SECS = 0.1
FULL_PASS_SECS = 600.0


class Collector:
    """The collector policy of one process: ``start`` (once the application is built) runs the
    thread until ``stop``; ``clock`` and the intervals are the test's to choose."""

    def __init__(self, freeze_secs: float = FREEZE_SECS, full_pass_secs: float = FULL_PASS_SECS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.freeze_secs = freeze_secs
        self.full_pass_secs = full_pass_secs
        self.clock = clock
        self.full_passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Collect what start-up left, set the thresholds, freeze what lives on, and run the thread."""
        gc.collect()
        gc.set_threshold(*GC_THRESHOLDS)
        gc.freeze()
        self._thread = threading.Thread(target=self._run, name="frontdesk-collector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        next_full = self.clock() + self.full_pass_secs
        while not self._stop.wait(self.freeze_secs):
            if self.clock() >= next_full:
                self.full_pass()
                next_full = self.clock() + self.full_pass_secs
            gc.freeze()

    def full_pass(self) -> int:
        """Everything back in the collector's sight, one full pass (the cycles among frozen objects
        are freed), then frozen again; returns how many unreachable objects it found."""
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self.full_passes += 1
        return found
