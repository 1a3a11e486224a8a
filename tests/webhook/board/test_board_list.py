"""The board's list: by team, by search text (wildcards and quotes literal, on both databases), by urgency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeClock
from tests.support.harness import Harness, make_config, start_harness
from tests.support.payloads import alert, payload


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in start_harness(make_config(f"sqlite:///{tmp_path / 'tocsin.db'}", tmp_path), FakeClock()):
        yield h


async def _names(h: Harness, **params: Any) -> list[str]:
    r = await h.api("GET", "/api/v1/incidents", params=params)
    assert r.status_code == 200, r.text
    return [i["labels"]["namespace"] for i in r.json()["incidents"]]


async def test_search_takes_wildcards_and_quotes_literally(harness: Harness) -> None:
    """On SQLite and PostgreSQL: title, summary and label values, case-insensitive; % _ ' " \\ match themselves."""
    await harness.post_webhook(payload(
        alert(namespace="pay_ments", annotations={"summary": "Disk 100% full"}),
        alert(namespace="payXments", annotations={"summary": "it's \"quoted\" \\ here"}),
        alert(namespace="plain", alertname="KubePodCrashLooping", annotations={})))
    assert await _names(harness, q="pay_") == ["pay_ments"]
    assert await _names(harness, q="100%") == ["pay_ments"]
    assert await _names(harness, q="%") == ["pay_ments"]
    assert await _names(harness, q="it's \"QUOTED\" \\") == ["payXments"]
    assert await _names(harness, q="crashloop") == ["plain"]  # alertname, in the title and the labels
    assert await _names(harness, q="PAYX") == ["payXments"]  # a label value
    assert await _names(harness, q="'; DROP TABLE incidents; --") == []
    assert sorted(await _names(harness)) == sorted(["pay_ments", "payXments", "plain"])


async def test_oversized_or_malformed_list_parameters_are_422(lite: Harness) -> None:
    for params in ({"q": "x" * 201}, {"sort": "loudest"}, {"sort": "urgency", "before": 5},
                   {"team": ["t"] * 51}, {"team": "x" * 129}):
        r = await lite.api("GET", "/api/v1/incidents", params=params)
        assert r.status_code == 422, params
    assert (await lite.api("GET", "/api/v1/incidents", params={"q": "x" * 200})).status_code == 200


async def test_team_filter_reads_the_team_label(lite: Harness) -> None:
    await lite.post_webhook(payload(alert(namespace="a", team="db"), alert(namespace="b", team="web"),
                                    alert(namespace="c")))
    assert await _names(lite, team="db") == ["a"]
    assert sorted(await _names(lite, team=["db", "web"])) == ["a", "b"]
    assert await _names(lite, team="nobody") == []


async def test_urgency_puts_open_triggered_critical_and_old_first(lite: Harness) -> None:
    await lite.post_webhook(payload(alert(namespace="old-low", severity="low")))
    lite.clock.advance(seconds=60)
    await lite.post_webhook(payload(alert(namespace="crit-acked", severity="critical"),
                                    alert(namespace="high", severity="high")))
    lite.clock.advance(seconds=60)
    await lite.post_webhook(payload(alert(namespace="new-crit", severity="critical"),
                                    alert(namespace="gone", severity="critical"),
                                    alert(namespace="snoozed", severity="critical")))
    ids = {i["labels"]["namespace"]: i["id"] for i in
           (await lite.api("GET", "/api/v1/incidents")).json()["incidents"]}
    await lite.api("POST", f"/api/v1/incidents/{ids['crit-acked']}/ack")
    await lite.api("POST", f"/api/v1/incidents/{ids['gone']}/resolve")
    await lite.api("POST", f"/api/v1/incidents/{ids['snoozed']}/snooze", json={"duration": "1h"})
    assert await _names(lite, sort="urgency") == ["new-crit", "high", "old-low", "crit-acked", "snoozed", "gone"]
    assert (await _names(lite))[0] == "snoozed"  # the default stays newest first
    r = (await lite.api("GET", "/api/v1/incidents", params={"sort": "urgency", "limit": 2})).json()
    assert r["next_before"] is None and len(r["incidents"]) == 2
