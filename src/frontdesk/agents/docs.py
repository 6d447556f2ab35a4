"""The agent API's interactive documentation (``/docs``: Swagger UI, ``/redoc``: ReDoc), served
entirely by frontdesk: the pages load their scripts, styles and icon from ``/docs-assets/``, the
assets the pinned ``fastapi-offline`` package ships. No CDN, no web fonts, no online validator:
the docs work on a machine without internet access."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"


def add_offline_docs(app: FastAPI, title: str) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets; ``app`` must be built with ``docs_url`` and
    ``redoc_url`` None (FastAPI's own pages load from a CDN)."""
    assets = Path(str(files("fastapi_offline") / "static"))
    app.mount(ASSETS_PATH, StaticFiles(directory=assets), name="docs-assets")

    def base(request: Request) -> str:
        # the URL prefix the app is mounted at (/agent/api/v1)
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = base(request)
        return get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}", title=f"{title} — Swagger UI",
                                   swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = base(request)
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{title} — ReDoc",
                              redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png", with_google_fonts=False)
