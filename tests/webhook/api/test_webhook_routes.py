"""One entrance: the webhook is answered by the fast path in front of the app, and documented in OpenAPI."""

from __future__ import annotations

from tests.support.harness import WEBHOOK_TOKEN, Harness
from tests.support.payloads import alert, payload
from webhook.api.alertmanager import PATH


async def test_the_webhook_is_documented_in_the_openapi_schema(harness: Harness) -> None:
    schema = (await harness.client.get("/openapi.json")).json()
    post = schema["paths"][PATH]["post"]
    assert set(post["responses"]) == {"200", "401", "413", "422", "503"}
    assert "Alertmanager" in post["summary"]


async def test_no_framework_route_serves_the_webhook(harness: Harness) -> None:
    """The FastAPI app alone does not know the path: only the fast path in front of it answers."""
    assert PATH not in {getattr(r, "path", None) for r in harness.app.routes}
    ok = await harness.client.post(PATH, json=payload(alert()), headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert ok.status_code == 200
    assert ok.json() == {"status": "stored", "alerts": 1}
