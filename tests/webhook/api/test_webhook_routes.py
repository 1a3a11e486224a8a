"""The documented FastAPI route and the ASGI fast path answer webhooks identically."""

from __future__ import annotations

import orjson
import pytest
from starlette.requests import Request

from tests.support.payloads import alert, payload
from tests.webhook.conftest import WEBHOOK_TOKEN, Harness
from webhook.api.alertmanager import PATH, receive


def _request(harness: Harness, body: bytes, token: str | None) -> Request:
    headers = [(b"content-length", str(len(body)).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    sent = False

    async def recv() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": PATH, "headers": headers, "app": harness.app,
             "query_string": b""}
    return Request(scope, recv)


@pytest.mark.parametrize(("body", "token", "status"), [
    (orjson.dumps(payload(alert())), WEBHOOK_TOKEN, 200),
    (orjson.dumps(payload(alert())), None, 401),
    (b"{", WEBHOOK_TOKEN, 422),
])
async def test_documented_route_matches_the_fast_path(harness: Harness, body: bytes, token: str | None,
                                                      status: int) -> None:
    direct = await receive(_request(harness, body, token))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    fast = await harness.client.post(PATH, content=body, headers=headers)
    assert direct.status_code == fast.status_code == status
    assert orjson.loads(direct.body).keys() == fast.json().keys()
