"""The fast decoder (msgspec) and the pydantic models accept the same payloads and yield the same values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.harness import make_config
from tests.support.payloads import alert, payload
from webhook.ingest.payload import PayloadError, SlowPath, decode_fast, parse_payload, stamp
from webhook.ingest.prepare import decode, prepare

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"
CFG = make_config("sqlite://", Path("/tmp"))


def both(body: bytes) -> tuple[Any, Any]:
    return prepare(decode_fast(body), CFG), prepare(parse_payload(body), CFG)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_recorded_payloads_decode_alike(path: Path) -> None:
    fast, slow = both(path.read_bytes())
    assert fast == slow and fast.alerts


@pytest.mark.parametrize("starts", [
    "2026-11-28T03:00:00Z", "2026-11-28T03:00:00.123456789Z", "2026-11-28T03:00:00.9999999Z",
    "2026-11-28T03:00:00.5+02:00", "2026-11-28T03:00:00-05:30", "2026-11-28T03:00:00.1Z",
])
def test_timestamps_match_pydantic_to_the_microsecond(starts: str) -> None:
    a = alert(pod="t")
    a["startsAt"] = starts
    a["endsAt"] = starts.replace("03:00", "04:00")
    fast, slow = both(orjson.dumps(payload(a)))
    assert fast == slow
    assert fast.alerts[0].starts_at.tzinfo is not None and fast.alerts[0].starts_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text", ["2026-11-28T03:00:00", "2026-11-28 03:00:00Z", "2026-11-28", "1764298800",
                                  "2026-02-30T03:00:00Z", "2026-11-28T03:00:00+25:00",
                                  "\uff12\uff10\uff12\uff16-11-28T03:00:00Z"])  # fullwidth digits
def test_unusual_timestamps_go_to_the_pydantic_models(text: str) -> None:
    with pytest.raises(SlowPath):
        stamp(text)


def test_derived_fingerprints_agree() -> None:
    a = alert(pod="no-fp")
    a.pop("fingerprint", None)
    fast, slow = both(orjson.dumps(payload(a)))
    assert fast == slow and len(fast.alerts[0].fingerprint) == 16


@pytest.mark.parametrize("body", [
    b"{", b"[]", orjson.dumps({**payload(alert()), "version": "3"}),
    orjson.dumps({**payload(alert()), "alerts": [{**alert(), "labels": {"a": 1}}]}),
    orjson.dumps({**payload(alert()), "truncatedAlerts": -1}),
    orjson.dumps({**payload(alert()), "groupLabels": {"": "x"}}),
    orjson.dumps({**payload(alert()), "alerts": [{**alert(), "fingerprint": "f" * 65}]}),
])
def test_what_either_refuses_is_refused_with_named_fields(body: bytes) -> None:
    with pytest.raises(SlowPath):
        prepare(decode_fast(body), CFG)
    with pytest.raises(PayloadError) as err:
        decode(body, CFG)
    assert err.value.problems and all(p["field"] for p in err.value.problems)


def test_a_naive_timestamp_is_accepted_by_the_slow_path_as_utc() -> None:
    a = alert(pod="naive")
    a["startsAt"] = "2026-11-28T03:00:00"
    a["endsAt"] = "2026-11-28T04:00:00"
    got = decode(orjson.dumps(payload(a)), CFG)
    assert got.alerts[0].starts_at.isoformat() == "2026-11-28T03:00:00+00:00"
    assert got.alerts[0].ends_at is not None and got.alerts[0].ends_at.isoformat() == "2026-11-28T04:00:00+00:00"
