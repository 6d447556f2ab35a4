"""CPU time and resident memory of a process, read from /proc (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass

_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One reading: CPU seconds used so far (user + system, all threads) and resident memory."""

    cpu_secs: float
    rss_bytes: int


def cpu_secs(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        text = f.read()
    # the command name (field 2) may hold spaces or parentheses: split after its closing one
    fields = text[text.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLK_TCK


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` in bytes (/proc/<pid>/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def sample(pid: int) -> ProcSample:
    return ProcSample(cpu_secs=cpu_secs(pid), rss_bytes=rss_bytes(pid))


def cpu_affinity(pid: int = 0) -> set[int]:
    return set(os.sched_getaffinity(pid))
