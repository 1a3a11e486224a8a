"""Shared dependencies of the API routers: the service and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from webhook.auth import check_api
from webhook.service import Service


def service(request: Request) -> Service:
    svc: Service = request.app.state.svc
    return svc


def actor(request: Request) -> str:
    """The API token's name; webhook tokens are not accepted here."""
    name = check_api(service(request).creds, request.headers.get("authorization"))
    if name is None:
        raise HTTPException(401, "send an API token as 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": 'Bearer realm="tocsin-api"'})
    return name


ServiceDep = Annotated[Service, Depends(service)]
ActorDep = Annotated[str, Depends(actor)]
