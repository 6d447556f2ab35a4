"""The PostgreSQL database and the Redis key prefix of one benchmarked deployment.

Each multi-process system of a run gets a database of its own, created before its servers start
and dropped after they stop, and a Redis key prefix of its own whose keys are deleted at the end.
The command-line clients ``psql`` and ``redis-cli`` do the work: the harness needs neither
server's Python driver, and the statements are the few an operator would type.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass

DEFAULT_PG_ADMIN_URL = "postgresql://127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CLIENT_TIMEOUT_SECS = 60.0
DELETE_BATCH = 500
# how often the run's database is analyzed when the server's autovacuum is off (autovacuum's own
# analyze runs about once a minute at most per table; statistics this fresh keep plans as they would be)
ANALYZE_EVERY_SECS = 15.0


class ServiceError(RuntimeError):
    """PostgreSQL or Redis refused or could not be reached."""


@dataclass(frozen=True)
class ServiceUrls:
    """Where the run's PostgreSQL (``pg_admin_url``: a database to connect to for CREATE/DROP
    DATABASE) and Redis are."""

    pg_admin_url: str = DEFAULT_PG_ADMIN_URL
    redis_url: str = DEFAULT_REDIS_URL


def _run(cmd: list[str], what: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_SECS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        raise ServiceError(f"{what}: {(done.stderr or done.stdout).strip()[:300]}")
    return done.stdout


def unique_name(label: str) -> str:
    """``fd_bench_<label>_<pid>_<ms>``: a name no other run uses (lower case, as PostgreSQL folds)."""
    clean = "".join(c if c.isalnum() else "_" for c in label.lower())
    return f"fd_bench_{clean}_{os.getpid()}_{time.time_ns() // 1_000_000}"


class Database:
    """A PostgreSQL database created for one system of one run."""

    def __init__(self, urls: ServiceUrls, name: str) -> None:
        self.urls = urls
        self.name = name
        self.created = False

    @property
    def url(self) -> str:
        """The admin URL with this database as its path: what frontdesk's ``database_url`` gets."""
        parts = urllib.parse.urlsplit(self.urls.pg_admin_url)
        return urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))

    def _sql(self, statement: str) -> str:
        return _run(["psql", self.urls.pg_admin_url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                     "-c", statement], f"PostgreSQL ({statement.split()[0]} {statement.split()[1]})")

    def create(self) -> None:
        self._sql(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def autovacuum_on(self) -> bool:
        return self._sql("SHOW autovacuum").strip() == "on"

    def analyze(self) -> None:
        _run(["psql", self.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "ANALYZE"], "PostgreSQL (ANALYZE)")

    def drop(self) -> None:
        """Drop the database, disconnecting anything still connected (PostgreSQL 13+)."""
        if self.created:
            self._sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False


class RedisKeys:
    """A Redis key prefix for one system of one run."""

    def __init__(self, urls: ServiceUrls, prefix: str) -> None:
        self.urls = urls
        self.prefix = prefix

    def _cli(self, *args: str) -> str:
        return _run(["redis-cli", "-u", self.urls.redis_url, *args], f"Redis ({args[0]})")

    def check(self) -> None:
        """Fail early, with Redis's own words, when it cannot be reached."""
        answer = self._cli("PING").strip()
        if answer != "PONG":
            raise ServiceError(f"Redis at {self.urls.redis_url} answered {answer!r} to PING")

    def keys(self) -> list[str]:
        out = self._cli("--scan", "--pattern", f"{self.prefix}*")
        return [line for line in out.splitlines() if line]

    def delete_all(self) -> int:
        """Delete every key under the prefix; returns how many there were."""
        keys = self.keys()
        for i in range(0, len(keys), DELETE_BATCH):
            self._cli("DEL", *keys[i:i + DELETE_BATCH])
        return len(keys)


class Analyzer:
    """Stands in for autovacuum's analyze on a server that has autovacuum off (this project's test
    machines do): ``ANALYZE`` of the run's database every ``ANALYZE_EVERY_SECS`` while the system runs.
    Without fresh statistics PostgreSQL plans joins as if the tables were empty, and every figure would
    describe a misconfigured database rather than frontdesk. Its CPU is counted with PostgreSQL's."""

    def __init__(self, database: Database, every_secs: float = ANALYZE_EVERY_SECS) -> None:
        self.database = database
        self.every_secs = every_secs
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-analyze", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(CLIENT_TIMEOUT_SECS)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_secs):
            try:
                self.database.analyze()
                self.runs += 1
            except ServiceError:  # the database is going away with the run; the next try tells
                continue
