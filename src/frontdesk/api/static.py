"""The browser pages frontdesk serves from its package: the demo site (``/``), the customer widget
(``/widget.js``), the agent desktop (``/agent``) and the supervisor view (``/supervisor``).

They are built from ``web/`` by ``scripts/setup`` into ``frontdesk/web/dist`` and ship inside the
wheel; nothing is fetched from the internet. Pages are never cached (a new release is seen at once);
the hashed files under ``/assets/`` are cached for a year. Every page carries a Content Security
Policy that allows only frontdesk's own scripts, styles and connections.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

PAGES = {"/": "index.html", "/agent": "agent/index.html", "/supervisor": "supervisor/index.html"}
WIDGET_SCRIPT = "widget.js"

Endpoint = Callable[[Request], Awaitable[Response]]

PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>frontdesk</title></head>
<body><h1>The browser front end is not built</h1>
<p>This frontdesk was installed without its built pages. Run <code>scripts/setup</code> (it builds
<code>web/</code> with npm) or install a wheel built by it. The APIs work regardless:
<code>/clientweb/api/v1/</code>, <code>/agent/api/v1/docs</code>.</p></body></html>"""


def built_assets_dir() -> Path:
    """Where the built front end lives inside the installed package."""
    return Path(str(resources.files("frontdesk"))) / "web" / "dist"


def build_static_routes(dist: Path | None = None) -> list[BaseRoute]:
    """Routes for the pages, the widget script and the hashed assets under ``dist``."""
    root = dist if dist is not None else built_assets_dir()

    def page(file_name: str) -> Endpoint:
        async def serve(request: Request) -> Response:
            path = root / file_name
            if not path.is_file():
                return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
            return FileResponse(path, media_type="text/html; charset=utf-8", headers=PAGE_SECURITY_HEADERS)
        return serve

    async def widget(request: Request) -> Response:
        path = root / WIDGET_SCRIPT
        if not path.is_file():
            return Response("/* frontdesk: the widget is not built; run scripts/setup */\n", status_code=503,
                            media_type="text/javascript")
        # Sites embed the script by its fixed name, so it is revalidated rather than cached for long.
        return FileResponse(path, media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})

    routes: list[BaseRoute] = []
    for url, file_name in PAGES.items():
        endpoint = page(file_name)
        routes.append(Route(url, endpoint, methods=["GET", "HEAD"]))
        if url != "/":
            routes.append(Route(url + "/", endpoint, methods=["GET", "HEAD"]))
    routes.append(Route("/" + WIDGET_SCRIPT, widget, methods=["GET", "HEAD"]))
    routes.append(Mount("/assets", app=ImmutableFiles(directory=root / "assets", check_dir=False), name="assets"))
    return routes


class ImmutableFiles(StaticFiles):
    """Content-hashed build output: cached for a year, never sniffed."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
