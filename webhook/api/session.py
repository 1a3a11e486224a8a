"""Console sign-in (docs/console.md, "Sign-in and roles"): ask for a one-time code, enter it for a session
cookie, read the session (with its CSRF token), sign out."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from webhook.api.deps import SESSION_COOKIE, SignInDep, check_csrf, console_session
from webhook.signin.repo import CodeCheck
from webhook.signin.service import MAX_LOGIN, Opened, SignIn
from webhook.store.db import StorageUnavailable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["session"])

#: The answer to every code request, whether the name is known or not (no enumeration of responders).
CODE_SENT = {"detail": "if the name belongs to a responder, a sign-in code is on its way through their channel"}
Login = Annotated[str, Field(min_length=1, max_length=MAX_LOGIN, pattern=r"^[^\x00-\x1f\x7f]+$",
                             description="a responder's name or e-mail address")]


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Login


class CodeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Login
    code: str = Field(pattern=r"^\s*[0-9]{6,10}\s*$", max_length=16, description="the digits that were sent")


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def too_many(why: str, retry_after: int) -> HTTPException:
    return HTTPException(429, why, headers={"Retry-After": str(retry_after)})


def set_session_cookie(response: Response, request: Request, signin: SignIn, opened: Opened) -> None:
    """HttpOnly, SameSite=Strict, Path=/, Secure per console.secure_cookies; lives as long as the session."""
    response.set_cookie(SESSION_COOKIE, opened.session_id, max_age=int(signin.console.session_ttl.total_seconds()),
                        path="/", httponly=True, samesite="strict",
                        secure=secure_cookie(signin.console.secure_cookies, request.url.scheme))


def secure_cookie(mode: str, scheme: str) -> bool:
    """console.secure_cookies: always, never, or auto (when the request came over https)."""
    return mode == "always" or (mode == "auto" and scheme == "https")


def session_json(opened_or_person: dict[str, Any], csrf: str) -> dict[str, Any]:
    return {"person": opened_or_person, "csrf": csrf}


@router.post("/session/code", status_code=202, summary="Send a one-time sign-in code to a responder")
async def ask_code(body: CodeRequest, request: Request, signin: SignInDep) -> dict[str, str]:
    refused = signin.limited(body.name, client_of(request))
    if refused is not None:
        raise too_many(refused[0].value, refused[1])
    try:
        await signin.request_code(body.name)
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    return CODE_SENT


@router.post("/session", summary="Enter the code: a session cookie and the CSRF token for changes",
             responses={401: {"description": "wrong or expired code"}, 429: {"description": "too many attempts"}})
async def enter_code(body: CodeEntry, request: Request, signin: SignInDep) -> JSONResponse:
    wait = signin.check_limited(client_of(request))
    if wait is not None:
        raise too_many("too many sign-in attempts from this address", wait)
    try:
        result = await signin.check_code(body.name, body.code)
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    if result.check is CodeCheck.WRONG:
        return JSONResponse({"detail": "wrong code", "attempts_left": result.attempts_left}, 401)
    if result.check is CodeCheck.EXHAUSTED:
        raise HTTPException(429, "too many wrong codes: ask for a new one")
    if result.check is CodeCheck.EXPIRED:
        raise HTTPException(401, "code expired")
    person = signin.person(result.person) if result.person else None
    if result.check is not CodeCheck.OK or person is None:
        raise HTTPException(401, "no code was asked for this name, or it was used: ask for a new one")
    try:
        opened = await signin.open_session(person, "code", request.headers.get("user-agent", ""))
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    response = JSONResponse(session_json(person.to_json(), opened.csrf))
    set_session_cookie(response, request, signin, opened)
    return response


@router.get("/session", summary="The signed-in person, their permissions and the CSRF token",
            responses={401: {"description": "not signed in"}})
async def get_session(request: Request) -> dict[str, Any]:
    session = await console_session(request)
    if session is None:
        raise HTTPException(401, "not signed in to the console")
    return session_json(session.person.to_json(), session.csrf)


@router.delete("/session", status_code=204, summary="Sign out (needs the CSRF token)")
async def sign_out(request: Request, signin: SignInDep) -> Response:
    session = await console_session(request)
    if session is None:
        raise HTTPException(401, "not signed in to the console")
    check_csrf(request, session)
    try:
        await signin.end(session)
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
