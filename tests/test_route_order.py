"""The routes are ordered for speed (the agent API's mount first, the desktop's own routes before the
included routers), which is safe only because no two routes match one path: these tests fail
when a route is added that overlaps another, since the order of the two would then decide the
answer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Mount

from frontdesk.app import build_app
from frontdesk.settings import Settings
from tests.center import center_config

AGENT_PREFIX = "/agent/api/v1"
# the agent API's paths the OpenAPI document leaves out (the docs pages and the WebSockets)
UNDOCUMENTED = ("/openapi.json", "/docs", "/redoc", "/docs-assets/{rest:path}", "/ws", "/supervisor/ws")
_PARAM = re.compile(r"\{[^}]*\}")


def _apps(tmp_path: Path) -> tuple[Starlette, FastAPI]:
    app: Any = build_app(Settings(contact_center=center_config(), data_dir=tmp_path / "data", is_demo=False)).asgi
    while not isinstance(app, Starlette):
        app = app.app  # the middleware around the Starlette application
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == AGENT_PREFIX)
    agent_app: Any = mount.app
    while not isinstance(agent_app, FastAPI):
        agent_app = agent_app.app  # BodySizeLimit
    return app, agent_app


def _agent_paths(agent_app: FastAPI) -> list[str]:
    return [*agent_app.openapi()["paths"], *UNDOCUMENTED]


def _segments(path: str) -> list[str | None]:
    """The path's segments, None for a parameter (``{name}`` matches any one segment)."""
    return [None if "{" in segment else segment for segment in path.strip("/").split("/")]


def _overlap(a: str, b: str) -> bool:
    """Whether some path matches both path templates (``{name:path}``, last, matches the rest of a
    path, slashes included)."""
    sa, sb = _segments(a), _segments(b)
    if b.endswith(":path}") and not a.endswith(":path}"):
        sa, sb, a, b = sb, sa, b, a
    if a.endswith(":path}"):  # a's head, then anything: b's head must fit a's (or a's b's, if b is one too)
        head = sa[:-1]
        other = sb[:-1] if b.endswith(":path}") else sb
        shorter = min(len(head), len(other))
        if not b.endswith(":path}") and len(other) < len(head):
            return False
        return _compatible(head[:shorter], other[:shorter])
    return len(sa) == len(sb) and _compatible(sa, sb)


def _compatible(sa: list[str | None], sb: list[str | None]) -> bool:
    return all(x is None or y is None or x == y for x, y in zip(sa, sb, strict=True))


def _sample(path: str) -> str:
    return _PARAM.sub("x1", path)


def _scope(path: str, method: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}


def test_no_two_paths_of_the_agent_api_overlap(tmp_path: Path) -> None:
    _, agent_app = _apps(tmp_path)
    paths = _agent_paths(agent_app)
    overlapping = [(a, b) for i, a in enumerate(paths) for b in paths[i + 1:] if _overlap(a, b)]
    assert overlapping == []


def test_each_agent_path_is_matched_by_exactly_one_route(tmp_path: Path) -> None:
    _, agent_app = _apps(tmp_path)
    for path, operations in agent_app.openapi()["paths"].items():
        for method in operations:
            scope = _scope(_sample(path), method.upper())
            full = [route for route in agent_app.routes if route.matches(scope)[0] == Match.FULL]
            assert len(full) == 1, f"{method.upper()} {path}: matched by {full}"


def test_only_the_agent_mount_matches_agent_paths(tmp_path: Path) -> None:
    app, agent_app = _apps(tmp_path)
    others: list[BaseRoute] = [r for r in app.routes if not (isinstance(r, Mount) and r.path == AGENT_PREFIX)]
    assert len(others) == len(app.routes) - 1
    for path in _agent_paths(agent_app):
        for method in ("GET", "POST", "PUT", "DELETE"):
            scope = _scope(AGENT_PREFIX + _sample(path), method)
            assert [r for r in others if r.matches(scope)[0] != Match.NONE] == [], f"{method} {path}"


def test_the_overlap_check_sees_overlaps() -> None:
    assert _overlap("/chats/{chat_id}", "/chats/active")
    assert _overlap("/files/{rest:path}", "/files/a/b")
    assert not _overlap("/chats/{chat_id}/messages", "/chats/{chat_id}/typing")
    assert not _overlap("/chats/{chat_id}", "/chats/{chat_id}/end")
    assert not _overlap("/login", "/docs-assets/{rest:path}")
    assert _overlap("/docs-assets/{rest:path}", "/docs-assets/a/{name}")
