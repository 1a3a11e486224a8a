"""Two replicas on one PostgreSQL database receiving the same deliveries (Alertmanager HA) agree."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.harness import make_config, start_harness
from tests.support.payloads import alert, payload

pytestmark = pytest.mark.postgres


async def test_same_payloads_to_two_replicas_make_one_incident_each(fresh_pg_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    cfg = make_config(fresh_pg_url, tmp_path)
    bodies = [payload(*(alert(alertname=f"A{i}", pod=f"p{j}") for j in range(5))) for i in range(40)]
    async for a in start_harness(cfg, clock):
        async for b in start_harness(cfg, clock):
            sends = [h.post_webhook(body) for body in bodies for h in (a, b) for _ in range(3)]
            results = await asyncio.gather(*sends)
            assert {r.status_code for r in results} == {200}
            items = (await a.api("GET", "/api/v1/incidents", params={"limit": 500})).json()["incidents"]
            assert len(items) == 40
            assert {i["alert_count"] for i in items} == {5}
            # an ack through one replica is visible through the other, and a second ack changes nothing
            iid = items[0]["id"]
            r1, r2 = await asyncio.gather(a.api("POST", f"/api/v1/incidents/{iid}/ack"),
                                          b.api("POST", f"/api/v1/incidents/{iid}/ack"))
            assert sorted([r1.json()["changed"], r2.json()["changed"]]) == [False, True]
            assert (await b.api("GET", f"/api/v1/incidents/{iid}")).json()["state"] == "acknowledged"
