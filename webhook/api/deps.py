"""Shared dependencies of the API routers: the service and the authenticated actor with the scope it needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from webhook.auth import check_api
from webhook.config import ApiScope
from webhook.service import Service

UNAUTHENTICATED = "send an API token as 'Authorization: Bearer <token>'"


def service(request: Request) -> Service:
    svc: Service = request.app.state.svc
    return svc


def unauthenticated(detail: str = UNAUTHENTICATED) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="tocsin-api"'})


def forbidden(name: str, scope: ApiScope) -> HTTPException:
    return HTTPException(403, f"API token {name!r} lacks the {scope!r} scope (auth.api_tokens[].scopes)")


def scoped(scope: ApiScope) -> Callable[[Request], str]:
    """A dependency: the name of the API token in the header (the actor) if it has `scope`; 401 or 403 if not.
    Webhook tokens are not accepted here."""

    def actor(request: Request) -> str:
        key = check_api(service(request).creds, request.headers.get("authorization"))
        if key is None:
            raise unauthenticated()
        if scope not in key.scopes:
            raise forbidden(key.name, scope)
        return key.name

    actor.__name__ = f"actor_with_{scope}_scope"
    return actor


ServiceDep = Annotated[Service, Depends(service)]
#: The actor of a GET of incidents, runs, runbooks or audit (scope `read`).
ActorDep = Annotated[str, Depends(scoped("read"))]
#: The actor of an ack, resolve or snooze (scope `respond`).
ResponderDep = Annotated[str, Depends(scoped("respond"))]
#: The actor of a run abort (scope `remediate`).
RemediatorDep = Annotated[str, Depends(scoped("remediate"))]
#: The actor of an approval or rejection of a waiting step (scope `approve`, then remediation.approvals).
ApproverDep = Annotated[str, Depends(scoped("approve"))]
