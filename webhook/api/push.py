"""Web Push API: the VAPID public key, a person's own subscriptions, and Acknowledge from a push notification."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from webhook.api.common import api_action
from webhook.api.deps import ActorDep, ResponderDep, ServiceDep
from webhook.config.channels import WebPushChannel
from webhook.push import keys, repo
from webhook.push.tables import MAX_ENDPOINT
from webhook.push.tokens import MAX_TOKEN, AckSigner, BadToken
from webhook.service import Service
from webhook.store.db import StorageUnavailable

router = APIRouter(prefix="/api/v1/push", tags=["push"])

LOOPBACK_NAMES = frozenset({"localhost"})
P256DH_BYTES, AUTH_BYTES = 65, 16


class Keys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: str = Field(max_length=120, description="the browser's P-256 public key, base64url (65 bytes)")
    auth: str = Field(max_length=40, description="the browser's auth secret, base64url (16 bytes)")


class SubscriptionBody(BaseModel):
    """What `PushSubscription.toJSON()` gives, plus an optional device label."""

    model_config = ConfigDict(extra="ignore")  # browsers add expirationTime
    endpoint: str = Field(max_length=MAX_ENDPOINT)
    keys: Keys
    device: str | None = Field(None, max_length=100)


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=MAX_TOKEN)
    #: The incident the notification is about (sw.js sends it): a token for another one is refused.
    incident: int | None = None


def _push(svc: Service) -> WebPushChannel:
    push = svc.cfg.channels.webpush
    if push is None:
        raise HTTPException(404, "Web Push is off: configure channels.webpush")
    return push


def _check_endpoint(endpoint: str, push: WebPushChannel, dev: bool) -> None:
    parts = urlsplit(endpoint)
    if parts.username or parts.password or parts.fragment or not parts.hostname:
        raise HTTPException(422, "endpoint must be an https URL with a host, without credentials or fragment")
    if parts.scheme == "https":
        host = parts.hostname.lower().rstrip(".")
        allowed = [h.lower() for h in push.allowed_hosts]
        if allowed and not any(host == h or host.endswith("." + h) for h in allowed):
            raise HTTPException(422, f"endpoint host {host[:100]!r} is not a known push service "
                                     "(channels.webpush.allowed_hosts)")
        return
    loopback = parts.hostname in LOOPBACK_NAMES
    with contextlib.suppress(ValueError):  # a name, not an address
        loopback = loopback or ipaddress.ip_address(parts.hostname).is_loopback
    if parts.scheme == "http" and loopback and (dev or push.allow_insecure_loopback):
        return
    raise HTTPException(422, "endpoint must be an https URL (the push service's)")


def _decoded(value: str, length: int, name: str) -> bytes:
    try:
        raw = keys.b64url_decode(value)
    except ValueError as exc:
        raise HTTPException(422, f"keys.{name} is not base64url") from exc
    if len(raw) != length:
        raise HTTPException(422, f"keys.{name} must be {length} bytes, got {len(raw)}")
    return raw


def _check_keys(k: Keys) -> None:
    point = _decoded(k.p256dh, P256DH_BYTES, "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise HTTPException(422, "keys.p256dh is not a point on P-256") from exc
    _decoded(k.auth, AUTH_BYTES, "auth")


def _responder(svc: Service, who: str) -> None:
    if who not in svc.cfg.oncall.responder_map():
        raise HTTPException(403, f"{who!r} is not a responder (oncall.responders): pages go to people only")


@router.get("/key", summary="The VAPID public key browsers subscribe with (applicationServerKey)")
async def public_key(svc: ServiceDep, _actor: ActorDep) -> dict[str, str]:
    return {"public_key": keys.public_key(keys.vapid_key(svc.cfg, _push(svc)))}


@router.post("/subscriptions", status_code=201, summary="Store this browser's push subscription for the caller")
async def subscribe(body: SubscriptionBody, request: Request, svc: ServiceDep, who: ResponderDep) -> dict[str, int]:
    push = _push(svc)
    _responder(svc, who)
    _check_endpoint(body.endpoint, push, svc.cfg.server.dev_mode)
    _check_keys(body.keys)
    device = (body.device or request.headers.get("user-agent", "") or "browser").strip()[:200]
    try:
        sid = await svc.db.write(repo.add, who, body.endpoint, body.keys.p256dh, body.keys.auth, device, svc.clock(),
                                 push.max_subscriptions)
    except repo.TooManySubscriptions as exc:
        raise HTTPException(409, f"at most {push.max_subscriptions} subscriptions per person: "
                                 "remove an old device first") from exc
    except repo.EndpointTaken as exc:
        raise HTTPException(409, "this browser is subscribed for another person: they remove it first") from exc
    except StorageUnavailable as exc:
        raise HTTPException(503, "storage unavailable") from exc
    return {"id": sid}


@router.get("/subscriptions", summary="The caller's own push subscriptions (no keys)")
async def own(svc: ServiceDep, who: ActorDep) -> dict[str, Any]:
    _push(svc)
    subs = await svc.db.read(repo.for_person, who)
    return {"subscriptions": [s.to_json() for s in subs]}


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Remove one of the caller's subscriptions")
async def unsubscribe(subscription_id: int, svc: ServiceDep, who: ResponderDep) -> None:
    _push(svc)
    if not await svc.db.write(repo.remove, who, subscription_id):
        raise HTTPException(404, f"you have no push subscription {subscription_id}")


@router.post("/ack", summary="Acknowledge from a push notification; the signed token is the credential")
async def ack(body: AckBody, svc: ServiceDep) -> dict[str, Any]:
    push = _push(svc)
    now = svc.clock()
    try:
        grant = AckSigner(keys.ack_key(svc.cfg, push), push.ack_token_ttl).verify(body.token, now)
    except BadToken as exc:
        raise HTTPException(401, exc.reason) from exc
    if body.incident is not None and body.incident != grant.incident_id:
        raise HTTPException(403, "this token acknowledges another incident")
    if grant.person not in svc.cfg.oncall.responder_map():
        raise HTTPException(403, f"{grant.person!r} is no longer a responder")
    return await api_action(svc, grant.incident_id, "ack", grant.person, "via web push")
