"""Sampling profiles of a server while a workload step runs (``python -m bench --profile``).

py-spy (from the ``bench`` extra) records the server's stacks, Python and native (``--native``:
uvloop, httptools, SQLite and the interpreter are C), at a fixed rate for exactly the span of one
step (started before, interrupted after). Native stacks need the process paused for each sample,
which costs the server a little: the figures of a profiled run are not for comparison. The raw
output (one line per distinct stack: ``frame;frame;… count``) stays in the results directory and
is summarised here:

- samples of a thread in a blocking wait (``epoll_wait`` of the event loop, a worker thread
  waiting for work, a wait for the GIL) are idle and left out; the rest ran or was ready to run
  (on a loaded machine a thread also waits for a CPU: the shares still follow where the CPU goes,
  but the busy fraction is above the CPU use that /proc reports);
- each busy sample is charged to its innermost Python function (what it called in C included),
  or to the event loop's C code when no Python frame runs (socket I/O, HTTP parsing, scheduling);
- inclusive shares count a function once per sample it is anywhere on the stack of.

``--profile-mode python`` samples Python stacks only, without pausing the server
(``--nonblocking``): cheap enough to leave on during a measured run, but C code (the event loop,
SQLite) shows as its Python caller, and idle threads are the ones py-spy sees sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

RATE_HZ = 100
TOP = 15
STOP_TIMEOUT_SECS = 30.0
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^()]*?)(?::\d+)?\)$")
# innermost native frames of a thread that waits (the event loop in epoll, an idle worker thread)
_IDLE_FUNCTIONS = frozenset({
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect", "__select",
    "futex_wait", "__futex_abstimed_wait_common", "__futex_abstimed_wait_common64", "futex_abstimed_wait",
    "do_futex_wait", "__new_sem_wait_slow", "__new_sem_wait_slow64", "sem_wait", "sem_timedwait",
    "sem_clockwait", "pthread_cond_wait", "pthread_cond_timedwait", "__pthread_cond_wait",
    "__pthread_cond_timedwait", "___pthread_cond_timedwait", "___pthread_cond_wait", "nanosleep",
    "clock_nanosleep", "__clock_nanosleep", "accept", "accept4", "syscall",
})
_WAITS_IN_INTERPRETER = frozenset({"PyThread_acquire_lock_timed", "take_gil", "PyCOND_TIMEDWAIT", "PyCOND_WAIT"})
_PATH_ROOTS = ("site-packages/", "/src/", "/lib/python3")
# Where the event loop is entered: frames up to it are start-up scaffolding (cli.main, uvicorn's
# Server.run, asyncio.run); a sample whose innermost frame is the loop entry was in uvloop's C code
# (polling sockets, parsing HTTP with httptools, running callbacks), which py-spy cannot see into.
_LOOP_ENTRIES = ("asyncio/runners.py:Runner.run", "asyncio/base_events.py:BaseEventLoop.run_forever",
                 "asyncio/base_events.py:BaseEventLoop.run_until_complete")
LOOP_IN_C = "(event loop in C: uvloop/libuv sockets, httptools HTTP parsing, scheduling)"


def _py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def available() -> bool:
    return _py_spy() is not None


def _short(frame: str) -> str:
    """``func (…/site-packages/pkg/mod.py:12)`` → ``pkg/mod.py:func`` (lines merged)."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["path"]
    for root in _PATH_ROOTS:
        if root in path:
            path = path.split(root, 1)[1]
            if root == "/lib/python3":
                path = "stdlib/" + path.split("/", 1)[-1]
            break
    return f"{path}:{match['func']}"


def _is_python(frame: str) -> bool:
    path = frame.rsplit(":", 1)[0]
    return path.endswith(".py") or path.startswith("<frozen")


def _func(raw_frame: str) -> str:
    match = _FRAME.match(raw_frame.strip())
    return match["func"] if match else raw_frame.strip()


def _is_idle(raw_frames: list[str]) -> bool:
    """A wait: the innermost frame is a blocking call, or below the innermost Python frame the
    interpreter waits for a lock (a worker thread's queue, a condition) or for the GIL."""
    if _func(raw_frames[-1]) in _IDLE_FUNCTIONS:
        return True
    tail: list[str] = []
    for frame in reversed(raw_frames):
        if _is_python(_short(frame)):
            break
        tail.append(_func(frame))
    return any(name in _WAITS_IN_INTERPRETER for name in tail)


def summarize(raw: str, seconds: float, rate_hz: int = RATE_HZ) -> dict[str, Any]:
    """Own and inclusive shares of the functions in py-spy's raw output, in % of busy samples;
    the busy share is of one core (summed over threads and processes, so it may pass 100 %)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    samples = idle = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not raw_frames:
            continue
        if _is_idle(raw_frames):
            idle += count
            continue
        frames = [_short(f) for f in raw_frames]
        entry = max((i for i, name in enumerate(frames) if name.endswith(_LOOP_ENTRIES)), default=-1)
        if entry >= 0:
            frames = frames[entry + 1:]
        python = [f for f in frames if _is_python(f)]
        samples += count
        innermost[frames[-1] if frames else LOOP_IN_C] += count
        own[python[-1] if python else LOOP_IN_C] += count
        for name in {*python, *([] if python else [LOOP_IN_C])}:
            total[name] += count
    possible = rate_hz * seconds
    return {
        "samples": samples, "idle_samples": idle, "seconds": round(seconds, 2), "rate_hz": rate_hz,
        "busy_pct_of_one_core": round(samples / possible * 100, 1) if possible else None,
        "own": [[name, round(n / samples * 100, 1), round(total[name] / samples * 100, 1)]
                for name, n in own.most_common(TOP)] if samples else [],
        "total": [[name, round(n / samples * 100, 1)] for name, n in total.most_common(TOP)] if samples else [],
        "innermost": [[name, round(n / samples * 100, 1)] for name, n in innermost.most_common(TOP)]
        if samples else [],
    }


class Profiler:
    """Records one server (with its worker processes) step by step into ``out_dir``."""

    def __init__(self, pid: int, out_dir: Path, system: str, workloads: set[str], processes: int = 1,
                 native: bool = True) -> None:
        self.pid = pid
        self.native = native
        self.out_dir = out_dir
        self.system = system
        self.workloads = workloads
        self.processes = processes
        self.results: dict[str, Any] = {}

    def wants(self, label: str) -> bool:
        """Whether the step ``label`` (``W2 10000``, ``W3@500``, …) belongs to a profiled workload."""
        return label[:2] in self.workloads

    @contextlib.asynccontextmanager
    async def step(self, label: str) -> AsyncIterator[None]:
        """Profile the server while the body runs; the summary goes to ``results[label]``."""
        program = _py_spy()
        if program is None:
            raise RuntimeError("py-spy is not installed (pip install -e '.[bench]')")
        safe = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")
        raw_path = self.out_dir / f"profile-{self.system}-{safe}.txt"
        command = [program, "record", "--pid", str(self.pid), "--rate", str(RATE_HZ), "--format", "raw",
                   "--output", str(raw_path), "--native" if self.native else "--nonblocking"]
        if self.processes > 1:
            command.append("--subprocesses")
        spy = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
        started = time.monotonic()
        try:
            yield
        finally:
            seconds = time.monotonic() - started
            if spy.returncode is None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
            try:
                _, err = await asyncio.wait_for(spy.communicate(), STOP_TIMEOUT_SECS)
            except TimeoutError:
                spy.kill()
                await spy.wait()
                err = b"py-spy did not stop in time"
            if raw_path.exists():
                try:
                    summary = summarize(raw_path.read_text(encoding="utf-8", errors="replace"), seconds)
                except (ValueError, IndexError, KeyError) as exc:  # a profile never fails the run
                    summary = {"error": f"cannot read py-spy's output: {type(exc).__name__}: {exc}"}
                summary["raw_file"] = raw_path.name
                summary["mode"] = "native" if self.native else "python"
                self.results[label] = summary
            else:
                self.results[label] = {"error": err.decode(errors="replace").strip()[-300:]}
