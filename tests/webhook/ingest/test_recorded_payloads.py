"""Payloads recorded from Debian's Alertmanager 0.25 in the e2e run parse and ingest as expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.harness import Harness
from webhook.ingest.payload import parse_payload

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_recorded_payload_parses(path: Path) -> None:
    p = parse_payload(path.read_bytes())
    assert p.version == "4" and p.alerts and all(a.fingerprint for a in p.alerts)


async def test_recorded_sequence_opens_then_resolves(harness: Harness) -> None:
    for name in ("grouped-firing", "grouped-mixed", "resolved"):
        body = json.loads((FIXTURES / f"{name}.json").read_text())
        assert (await harness.post_webhook(body)).status_code == 200
    [inc] = (await harness.api("GET", "/api/v1/incidents")).json()["incidents"]
    assert inc["state"] == "resolved" and inc["alert_count"] == 2
