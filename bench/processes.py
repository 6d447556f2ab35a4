"""Server processes of a benchmark run: each started in its own process group, each group killed
whatever happens to the run.

- Every server starts in a new session (so its process group is its own: ``frontdesk serve
  --workers N`` and its workers, and nothing of the harness).
- Stopping sends SIGTERM to the whole group, waits, then SIGKILLs whatever of the group is left
  (a worker that outlived its supervisor included).
- :func:`stop_all` stops every group still running; ``python -m bench`` calls it in ``finally``,
  so a failure, a timeout, Ctrl-C or SIGTERM of the harness leaves no server behind.
- Should the harness itself be killed with SIGKILL, the kernel sends SIGTERM to each server
  (``PR_SET_PDEATHSIG``, set in the child before it executes the server), which then shuts down
  with its workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from bench import procstats

STOP_TIMEOUT_SECS = 20.0
KILL_TIMEOUT_SECS = 10.0

# Runs in the child between fork and the server: asks the kernel for SIGTERM when the harness dies
# (PR_SET_PDEATHSIG = 1), gives up if the harness is already gone, then becomes the server.
_WITH_PARENT_DEATH_SIGNAL = (
    "import ctypes, os, signal, sys\n"
    "if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM) != 0: sys.exit('prctl failed')\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit('the harness is gone')\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)

_running: list[ServerProcess] = []


class ServerProcess:
    """One server command running as the leader of its own process group, output to ``log_path``."""

    def __init__(self, command: list[str], log_path: Path, cwd: Path, env: dict[str, str]) -> None:
        self.command = command
        self._log: IO[bytes] | None = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [sys.executable, "-c", _WITH_PARENT_DEATH_SIGNAL, str(os.getpid()), *command],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd, env=env, start_new_session=True)
        _running.append(self)

    @property
    def pid(self) -> int:
        """The group leader's pid, which is also the process group id."""
        return self.popen.pid

    def exited(self) -> int | None:
        return self.popen.poll()

    def members(self) -> list[int]:
        return procstats.group_members(self.pid)

    def stop(self) -> None:
        """SIGTERM to the group; after ``STOP_TIMEOUT_SECS`` SIGKILL to whatever of it is left."""
        try:
            self._signal_group(signal.SIGTERM)
            if not self._wait_group(STOP_TIMEOUT_SECS):
                self._signal_group(signal.SIGKILL)
                self._wait_group(KILL_TIMEOUT_SECS)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
            self.popen.wait()
            if self._log is not None:
                self._log.close()
                self._log = None
            if self in _running:
                _running.remove(self)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def _wait_group(self, timeout_secs: float) -> bool:
        """Wait until no process of the group is left (reaping the leader); True if none is."""
        deadline = time.monotonic() + timeout_secs
        while True:
            self.popen.poll()
            alive = [pid for pid in self.members() if not _is_zombie(pid)]
            if not alive:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return True
    return text[text.rindex(")") + 2:].startswith("Z")


def stop_all() -> None:
    """Stop every server process group this harness started and has not stopped yet."""
    for process in list(_running):
        process.stop()


def terminate_on_sigterm() -> None:
    """Turn SIGTERM of the harness into KeyboardInterrupt, so that ``finally`` blocks (and with
    them :func:`stop_all`) run as on Ctrl-C."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
