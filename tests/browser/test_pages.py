"""The pages are served from the package, with their security headers, and load in Chromium."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Page

from frontdesk.api.static import build_static_routes
from tests.browser.conftest import screenshot
from tests.conftest import LiveServer


async def test_each_page_loads_its_scripts_in_chromium(page: Page, live: LiveServer) -> None:
    for path, title in (("/", "Harbour Lane Cycles"), ("/agent", "Agent desktop"),
                        ("/supervisor", "Supervisor view")):
        response = await page.goto(path)
        assert response is not None and response.status == 200
        assert title in await page.title()
        await page.wait_for_function("document.querySelector('h1') !== null")
        await screenshot(page, "page-" + (path.strip("/") or "demo"))


async def test_pages_carry_a_content_security_policy(live: LiveServer, http: httpx.AsyncClient) -> None:
    for path in ("/", "/agent", "/agent/", "/supervisor"):
        response = await http.get(live.base_url + path)
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["cache-control"] == "no-cache"


async def test_the_widget_script_and_hashed_assets_are_served(live: LiveServer, http: httpx.AsyncClient) -> None:
    widget = await http.get(live.base_url + "/widget.js")
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("text/javascript")
    page = (await http.get(live.base_url + "/agent")).text
    asset = page.split('src="', 1)[1].split('"', 1)[0]
    assert asset.startswith("/assets/")
    script = await http.get(live.base_url + asset)
    assert script.status_code == 200
    assert "immutable" in script.headers["cache-control"]
    assert (await http.get(live.base_url + "/assets/no-such-file.js")).status_code == 404


async def test_an_unbuilt_install_says_how_to_build(tmp_path: Path) -> None:
    from starlette.applications import Starlette

    app = Starlette(routes=build_static_routes(tmp_path / "dist"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        page = await client.get("/agent")
        assert page.status_code == 503 and "scripts/setup" in page.text
        widget = await client.get("/widget.js")
        assert widget.status_code == 503


async def test_the_json_index_moved_to_api(live: LiveServer, http: httpx.AsyncClient) -> None:
    index = (await http.get(live.base_url + "/api")).json()
    assert index["agent_desktop"] == "/agent" and index["customer_api"] == "/clientweb/api/v1/"
