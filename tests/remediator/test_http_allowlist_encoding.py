"""The http action's allow-list cannot be escaped with percent-encoding, and labels are URL-encoded
(review finding 14).

Servers that percent-decode before routing (nginx, many frameworks) read `/api/v1/flags/%2e%2e/%2e%2e/admin`
as `/api/admin`: the allow-list now judges the decoded path and refuses dot segments, encoded slashes and
double encoding. Values interpolated from alert labels into the URL are percent-encoded, so a label cannot add
a path segment, a query or a fragment.
"""

from __future__ import annotations

import pytest

from remediator.actions.http import allowed
from remediator.casetest import FakePrometheus, PrometheusSpec
from remediator.engine import Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.records import Outcome
from remediator.settings import EngineSettings
from remediator.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.remediator_engine import alert, runbook

ALLOW = ("https://flags.internal/api/v1/flags",)
BASE = "https://flags.internal/api/v1/flags"


@pytest.mark.parametrize("path", [
    "/%2e%2e/%2e%2e/admin/wipe",  # the review's example
    "/.%2e/.%2e/admin/wipe",
    "/%2e./admin",
    "/%2E%2E/admin",
    "/x/%2e/../../admin",
    "/..%2f..%2fadmin",
    "/x%2F..%2F..%2Fadmin",
    "/%5c..%5cadmin",
    "/x\\..\\admin",
    "/%252e%252e/admin",  # decoded twice by some stacks
    "/./x",
    "/..;/admin",  # path parameters: Tomcat and others read `..;` as `..`
    "/%2e%2e;x=1/admin",
])
def test_encoded_dot_segments_and_slashes_are_refused(path: str) -> None:
    assert not allowed(BASE + path, ALLOW)


@pytest.mark.parametrize("path", ["", "/", "/x", "/new%20checkout", "/a.b/c..d", "/x?flag=..&to=%2f"])
def test_ordinary_paths_under_the_prefix_pass(path: str) -> None:
    assert allowed(BASE + path, ALLOW)


def test_an_encoded_prefix_is_compared_decoded() -> None:
    assert allowed("https://flags.internal/api/v1/%66lags/x", ALLOW)
    assert not allowed("https://flags.internal/api/v1/%66lagsX/x", ALLOW)


class Calls:
    def __init__(self) -> None:
        self.urls: list[str] = []

    async def __call__(self, method: str, url: str, body: dict[str, str] | None, timeout_seconds: float) -> int:
        self.urls.append(url)
        return 200


async def run_with_flag(clock: FakeClock, flag: str) -> tuple[Outcome | None, str, list[str]]:
    rb = runbook(steps=[{"action": "http", "method": "PUT", "url": BASE + "/{{ labels.flag }}/off"}])
    cluster = FakeCluster(ClusterSpec(), clock.now())
    calls = Calls()
    engine = Engine(store=MemoryStore(), cluster=cluster, prometheus=FakePrometheus(PrometheusSpec(holds=True)),
                    runbooks=[rb], settings=EngineSettings(http_allowlist=ALLOW), clock=clock.now,
                    sleep=clock.sleep, http=calls)
    run = await engine.start(rb, alert(flag=flag))
    return run.outcome, run.reason, calls.urls


@pytest.mark.parametrize(("flag", "url"), [
    ("checkout-beta", BASE + "/checkout-beta/off"),
    ("x?admin=1#", BASE + "/x%3Fadmin%3D1%23/off"),  # no query, no fragment: all inside one segment
    ("new checkout", BASE + "/new%20checkout/off"),
])
async def test_label_values_are_url_encoded(clock: FakeClock, flag: str, url: str) -> None:
    outcome, reason, urls = await run_with_flag(clock, flag)
    assert outcome is Outcome.VERIFIED, reason
    assert urls == [url]


@pytest.mark.parametrize("flag", ["../../admin", "..", "a/../../admin", "%2e%2e"])
async def test_a_label_cannot_leave_the_allowed_prefix(clock: FakeClock, flag: str) -> None:
    outcome, reason, urls = await run_with_flag(clock, flag)
    assert outcome is Outcome.ESCALATED and "is not on the HTTP allow-list" in reason
    assert urls == []
