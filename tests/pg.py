"""The local PostgreSQL of the tests: one fresh database per test session (``fd_test_<random>``,
created from the ``test`` database and dropped at the end), one fresh schema per test in it."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg

# the database the tests connect to first (trust auth on 127.0.0.1); CI and developers have it
ADMIN_URL = os.environ.get("FRONTDESK_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def with_search_path(url: str, schema: str) -> str:
    """The URL with the connections' schema set (asyncpg passes query parameters as server settings)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"search_path": schema})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _admin_now(statement: str) -> None:
    """Run an admin statement to completion from synchronous code, on an event loop of its own in a
    thread of its own (the caller may be inside a running loop: a fixture asked for by an async one)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_admin(statement))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def create_database() -> str:
    """A new empty database; returns its URL."""
    name = f"fd_test_{secrets.token_hex(6)}"
    _admin_now(f'CREATE DATABASE "{name}"')
    return with_database(ADMIN_URL, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    _admin_now(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def new_schema(database_url: str) -> str:
    """A fresh schema in the database; returns the URL whose connections use it."""
    schema = f"s_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return with_search_path(database_url, schema)
