"""CPU time, resident memory and TCP connections of processes, read from /proc (Linux only).

A server under test is a process group (``frontdesk serve --workers N`` is a supervisor and N
workers), so readings are per group: the sum over its processes, and each process on its own.
The services a multi-process deployment needs (the PostgreSQL backends of this run's database and
redis-server) are read the same way so that their share of the work is visible beside the server's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_TCP_ESTABLISHED = "01"


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One reading of a process group: CPU seconds used so far (user + system, all threads) and
    resident memory, summed over the group, plus the CPU seconds of each of its processes and of
    each service process."""

    cpu_secs: float
    rss_bytes: int
    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    services_cpu_by_pid: dict[int, float] = field(default_factory=dict)


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        text = f.read()
    # the command name (field 2) may hold spaces or parentheses: split after its closing one
    return text[text.rindex(")") + 2:].split()


def cpu_secs(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` in bytes (/proc/<pid>/status); 0 for a process without memory (a zombie)."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _pids() -> Iterator[int]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` (field 5 of /proc/<pid>/stat)."""
    members = []
    for pid in _pids():
        try:
            if int(_stat_fields(pid)[2]) == pgid:
                members.append(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return sorted(members)


def service_pids(database: str | None) -> list[int]:
    """The PostgreSQL backends connected to ``database`` (found by their process title) and every
    redis-server process."""
    found = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        words = cmdline.replace(b"\0", b" ").split()
        if not words:
            continue
        # a backend's title: "postgres: [cluster name:] user database host(port) state"
        backend = bool(database) and words[0] == b"postgres:" and str(database).encode() in words[1:5]
        if backend or os.path.basename(words[0]) == b"redis-server":
            found.append(pid)
    return found


def _cpu_of(pids: Iterable[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            out[pid] = cpu_secs(pid)
        except (OSError, ValueError, IndexError):
            continue
    return out


def sample(pid: int, group: bool = False, services_database: str | None = None,
           with_services: bool = False) -> ProcSample:
    """Read ``pid`` (or, with ``group``, every process of the group it leads) and, with
    ``with_services``, the service processes of ``services_database``."""
    members = group_members(pid) if group else [pid]
    cpu = _cpu_of(members)
    rss = 0
    for member in cpu:
        try:
            rss += rss_bytes(member)
        except OSError:
            continue
    services = _cpu_of(service_pids(services_database)) if with_services else {}
    return ProcSample(cpu_secs=sum(cpu.values()), rss_bytes=rss, cpu_by_pid=cpu, services_cpu_by_pid=services)


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings of a set of processes: processes that exist in both
    count their difference, new ones all they used (they started after the first reading); one
    that ended in between is lost (its CPU cannot be read any more)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def cpu_affinity(pid: int = 0) -> set[int]:
    return set(os.sched_getaffinity(pid))


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def established_by_pid(pids: Iterable[int], port: int) -> dict[int, int]:
    """How many ESTABLISHED TCP connections to local ``port`` each of ``pids`` holds (the
    server's side of its clients' connections), from /proc/net/tcp{,6} and the processes' fds."""
    local_inodes: set[str] = set()
    suffix = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                for line in f:
                    cols = line.split()
                    if len(cols) > 9 and cols[3] == _TCP_ESTABLISHED and cols[1].endswith(suffix):
                        local_inodes.add(cols[9])
        except OSError:
            continue
    return {pid: len(_socket_inodes(pid) & local_inodes) for pid in pids}
