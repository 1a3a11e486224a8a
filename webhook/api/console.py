"""GET /console: a small page for humans on a phone (acknowledge, resolve, approve runs) over the API."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["console"])
_PAGE = files("webhook").joinpath("static/console.html").read_text(encoding="utf-8")
#: The page loads nothing from elsewhere; it talks only to this origin's API. Graphs are fetched with the token and
#: shown from blob: URLs (an <img src> could not send the Authorization header).
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@router.get("/console", response_class=HTMLResponse, summary="The operator console (uses the API with a token)")
async def console() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
                                        "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})
