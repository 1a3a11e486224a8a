"""The operator console (docs/console.md): the page at /console/, its static files, and the service worker.

Everything is read once from webhook/static/console/ at import; a request can only name a file of that listing, so
no path from the URL ever reaches the file system."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

router = APIRouter(tags=["console"])

#: The page loads nothing from elsewhere and runs no inline script or style; it talks only to this origin's API.
#: Graphs are fetched with the session cookie and shown from blob: URLs.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
       "manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml",
         ".webmanifest": "application/manifest+json", ".png": "image/png", ".ico": "image/x-icon",
         ".woff2": "font/woff2"}
COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
#: Files fetched with ?v=<version> never change under that URL; others (ES module imports) revalidate by ETag.
LONG = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
WORKER = "sw.js"
PAGE = "index.html"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _walk(root: Traversable, prefix: str = "") -> dict[str, Asset]:
    out: dict[str, Asset] = {}
    for entry in root.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            out.update(_walk(entry, name + "/"))
            continue
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if suffix not in TYPES:
            continue
        body = entry.read_bytes()
        out[name] = Asset(body, TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return out


def _load() -> tuple[dict[str, Asset], str, bytes]:
    assets = _walk(files("webhook").joinpath("static/console"))
    version = hashlib.sha256(b"".join(a.etag.encode() for _, a in sorted(assets.items()))).hexdigest()[:12]
    page = assets[PAGE].body.replace(b"?v=1", f"?v={version}".encode())
    return assets, version, page


ASSETS, VERSION, _PAGE = _load()


@router.get("/console", include_in_schema=False)
async def console_redirect() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/", summary="The operator console (sign in with a one-time code or SSO)",
            response_class=Response, responses={200: {"content": {"text/html": {}}}})
async def console() -> Response:
    return Response(_PAGE, media_type=TYPES[".html"],
                    headers={**COMMON, "Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
                             "Cache-Control": "no-store"})


@router.get("/console/options", summary="What the sign-in view offers: {\"oidc\": true} when SSO is configured")
async def options(request: Request) -> Response:
    svc = getattr(request.app.state, "svc", None)
    oidc = svc is not None and svc.cfg.console.oidc is not None
    return Response(b'{"oidc":true}' if oidc else b'{"oidc":false}', media_type="application/json",
                    headers={**COMMON, "Cache-Control": "no-store"})


@router.get("/console/sw.js", summary="The console's service worker (Web Push notifications)",
            response_class=Response, responses={200: {"content": {"text/javascript": {}}}})
async def service_worker() -> Response:
    asset = ASSETS.get(WORKER)
    if asset is None:
        raise HTTPException(404, "no service worker in this build")
    return Response(asset.body, media_type="application/javascript",
                    headers={**COMMON, "Cache-Control": "no-cache", "ETag": asset.etag})


@router.get("/console/static/{name:path}", summary="The console's scripts, styles, translations and icons",
            response_class=Response)
async def static(name: str, request: Request) -> Response:
    asset = ASSETS.get(name)
    if asset is None or name == WORKER:
        raise HTTPException(404, "no such console file")
    versioned = request.query_params.get("v") == VERSION
    headers = {**COMMON, "ETag": asset.etag, "Cache-Control": LONG if versioned else REVALIDATE}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
