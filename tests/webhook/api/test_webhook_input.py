"""Hostile and broken input on the webhook: clear errors, the right status codes, nothing stored."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.clock import FakeClock
from tests.support.harness import API_TOKEN, WEBHOOK_TOKEN, Harness, make_config, start_harness
from tests.support.payloads import alert, payload

URL = "/webhook/alertmanager"


async def test_missing_token_is_401_with_a_challenge(harness: Harness) -> None:
    r = await harness.client.post(URL, json=payload(alert()))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [
    f"Bearer {WEBHOOK_TOKEN}x", f"Bearer {API_TOKEN}", "Bearer", "Token abc", "Basic !!!notbase64",
    "Basic " + base64.b64encode(b"am:wrong").decode(), "Basic " + base64.b64encode(b"am").decode(),
])
async def test_wrong_credentials_are_401(harness: Harness, header: str) -> None:
    r = await harness.client.post(URL, json=payload(alert()), headers={"Authorization": header})
    assert r.status_code == 401
    assert (await harness.api("GET", "/api/v1/incidents")).json()["incidents"] == []


async def test_basic_auth_is_accepted(harness: Harness) -> None:
    cred = base64.b64encode(b"am:am-pass-123").decode()
    r = await harness.client.post(URL, json=payload(alert()), headers={"Authorization": f"Basic {cred}"})
    assert r.status_code == 200


async def test_body_over_the_limit_is_413_by_declared_length(harness: Harness) -> None:
    big = b"x" * (harness.cfg.server.max_body_bytes + 1)
    r = await harness.client.post(URL, content=big, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert r.status_code == 413 and r.json()["limit_bytes"] == harness.cfg.server.max_body_bytes


async def test_body_over_the_limit_is_413_when_streamed_without_length(harness: Harness) -> None:
    chunk = b"y" * 65536
    n = harness.cfg.server.max_body_bytes // len(chunk) + 2

    async def gen():  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield chunk

    r = await harness.client.post(URL, content=gen(), headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert r.status_code == 413


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "<body>"),
    (b"[]", "<body>"),
    (orjson.dumps({**payload(alert()), "version": "3"}), "version"),
    (orjson.dumps({k: v for k, v in payload(alert()).items() if k != "alerts"}), "alerts"),
    (orjson.dumps({**payload(alert()), "alerts": [{**alert(), "status": "burning"}]}), "alerts.0.status"),
    (orjson.dumps({**payload(alert()), "alerts": [{**alert(), "startsAt": "yesterday"}]}), "alerts.0.startsAt"),
    (orjson.dumps({**payload(alert()), "alerts": [{**alert(), "labels": {"a": 1}}]}), "alerts.0.labels.a"),
    (orjson.dumps({**payload(alert()), "truncatedAlerts": -1}), "truncatedAlerts"),
])
async def test_malformed_payloads_are_422_naming_the_field(harness: Harness, body: bytes, field: str) -> None:
    r = await harness.client.post(URL, content=body, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}",
                                                              "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert field in [p["field"] for p in r.json()["problems"]], r.json()


async def test_unknown_fields_are_ignored(harness: Harness) -> None:
    body = {**payload({**alert(), "silencedBy": [], "newThing": {"x": 1}}), "future": True}
    assert (await harness.post_webhook(body)).status_code == 200


async def test_hostile_label_values_are_stored_verbatim_as_data(harness: Harness) -> None:
    evil = "'; DROP TABLE incidents; --\n{{7*7}}<script>"
    r = await harness.post_webhook(payload(alert(service=evil)))
    assert r.status_code == 200
    [inc] = (await harness.api("GET", "/api/v1/incidents", params={"label": f"service={evil}"})).json()["incidents"]
    assert inc["labels"]["service"] == evil


async def test_storage_down_is_503_so_alertmanager_retries(harness: Harness) -> None:
    svc = harness.app.state.svc
    original = svc.db.engine
    from sqlalchemy import create_engine

    svc.db.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                                  connect_args={"connect_timeout": 1})
    try:
        r = await harness.post_webhook(payload(alert()))
        assert r.status_code == 503 and r.json()["error"] == "storage unavailable"
        assert (await harness.client.get("/readyz")).status_code == 503
    finally:
        svc.db.engine.dispose()
        svc.db.engine = original
    assert (await harness.post_webhook(payload(alert()))).status_code == 200
    assert (await harness.client.get("/readyz")).status_code == 200


async def test_no_token_configured_refuses_to_start_outside_dev_mode(tmp_path: Path) -> None:
    from webhook.config import TocsinConfig
    from webhook.yamlpos import ConfigError

    cfg = TocsinConfig(database={"url": f"sqlite:///{tmp_path}/x.db"}, server={"var_dir": str(tmp_path)})
    from webhook.app import create_app

    with pytest.raises(ConfigError, match="no webhook credentials"):
        create_app(cfg)


async def test_dev_mode_generates_and_keeps_tokens(tmp_path: Path) -> None:
    from webhook.auth import resolve_credentials
    from webhook.config import TocsinConfig

    cfg = TocsinConfig(server={"var_dir": str(tmp_path), "dev_mode": True})
    c1, c2 = resolve_credentials(cfg), resolve_credentials(cfg)
    assert c1.webhook_tokens == c2.webhook_tokens and len(c1.webhook_tokens[0]) >= 32
    assert c1.api_tokens != () and c1.api_tokens[0].secret != c1.webhook_tokens[0]
    assert (tmp_path / "webhook-token").stat().st_mode & 0o077 == 0
    assert c1.webhook_tokens[0].decode() not in repr(c1) and c1.api_tokens[0].secret.decode() not in repr(c1)


async def test_api_token_equal_to_webhook_token_is_refused(tmp_path: Path) -> None:
    from webhook.auth import resolve_credentials
    from webhook.yamlpos import ConfigError

    cfg = make_config("sqlite://", tmp_path, auth={"api_tokens": [{"name": "x", "token": WEBHOOK_TOKEN}]})
    with pytest.raises(ConfigError, match="must differ"):
        resolve_credentials(cfg)


async def test_small_body_limit_is_configurable(tmp_path: Path) -> None:
    cfg = make_config(f"sqlite:///{tmp_path}/t.db", tmp_path, server={"max_body_bytes": 2048})
    async for h in start_harness(cfg, FakeClock()):
        r = await h.post_webhook(payload(*(alert(pod=f"p{i}") for i in range(20))))
        assert r.status_code == 413
        assert (await h.post_webhook(payload(alert()))).status_code == 200


async def test_webhook_ignores_content_type_and_accepts_alertmanagers_own(harness: Harness) -> None:
    r = await harness.client.post(URL, content=orjson.dumps(payload(alert())),
                                  headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}",
                                           "Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"})
    assert r.status_code == 200
    assert isinstance(r, httpx.Response)
