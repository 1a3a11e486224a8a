"""How the console is served (no browser): the redirect, the page's CSP, static files with their types and caching,
the service worker, and no way out of webhook/static/console/ through the URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from webhook.api import console
from webhook.api.console import ASSETS, CSP, VERSION


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """Only the console's router: these routes need no service behind them."""
    app = FastAPI()
    app.include_router(console.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tocsin.test") as c:
        yield c


async def test_console_redirects_to_the_page_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    r = await client.get("/console")
    assert (r.status_code, r.headers["location"]) == (308, "/console/")
    r = await client.get("/console/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert csp == CSP and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                      "base-uri 'none'", "frame-ancestors 'none'", "worker-src 'self'"):
        assert directive in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert f"/console/static/app.js?v={VERSION}" in r.text  # the version that makes long caching safe
    assert "<script>" not in r.text and "style=" not in r.text and " on" + "click=" not in r.text


TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
         "i18n/de.json": "application/json", "icon.svg": "image/svg+xml",
         "manifest.webmanifest": "application/manifest+json"}
OUTSIDE = ["/console/static/../api/console.py", "/console/static/%2e%2e/api/console.py",
           "/console/static/..%2f..%2fapi%2fconsole.py", "/console/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
           "/console/static//etc/passwd", "/console/static/i18n/../../console.py", "/console/static/",
           "/console/static/nothing.js", "/console/static/index.html%00.js", "/console/static/I18N/en.json",
           "/console/static/sw.js", "/console/static/%5c..%5capi%5cconsole.py"]


async def test_static_files_have_their_types_and_are_cached_by_version_or_etag(client: httpx.AsyncClient) -> None:
    for name, media_type in TYPES.items():
        r = await client.get(f"/console/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"] == media_type, name
        assert r.headers["cache-control"] == "no-cache" and r.content == ASSETS[name].body
        again = await client.get(f"/console/static/{name}", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        versioned = await client.get(f"/console/static/{name}?v={VERSION}")
        assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_no_file_outside_the_listing_is_served_and_the_worker_has_a_route(client: httpx.AsyncClient) -> None:
    for path in OUTSIDE:
        r = await client.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert b"import" not in r.content and b"root:" not in r.content
    r = await client.get("/console/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/javascript"
    assert r.headers["cache-control"] == "no-cache"
    assert r.content == ASSETS["sw.js"].body


async def test_options_say_whether_sso_is_offered(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/options")
    assert (r.status_code, r.json(), r.headers["cache-control"]) == (200, {"oidc": False}, "no-store")
    app = FastAPI()
    app.include_router(console.router)
    app.state.svc = SimpleNamespace(cfg=SimpleNamespace(console=SimpleNamespace(oidc=object())))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tocsin.test") as c:
        assert (await c.get("/console/options")).json() == {"oidc": True}
