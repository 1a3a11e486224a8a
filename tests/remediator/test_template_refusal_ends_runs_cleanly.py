"""A template error in a precondition or verify query ends the run cleanly, before it acts (review finding 6).

The review's reproduction: the verify query uses `{{ labels.queue }}`, the alert has no `queue` label. The run
used to apply its steps, then raise out of engine.start() and stay RUNNING with its target claimed. Now both
queries are rendered before the run claims its target: the run ends REFUSED (template guard) and pages,
nothing touched the cluster, the target is free for the next run.
"""

from __future__ import annotations

import pytest

from remediator.casetest import FakePrometheus, PrometheusSpec
from remediator.engine import Engine
from remediator.fakecluster import ClusterSpec, FakeCluster
from remediator.records import Outcome, RunStatus
from remediator.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.remediator_engine import Recorder, alert, runbook

QUEUE = 'celery_queue_length{queue_name="{{ labels.queue }}"} < 100'
CASES = {
    "verify": {"verify": {"query": QUEUE, "within": "5m", "interval": "30s"}},
    "precondition": {"preconditions": [{"query": QUEUE}]},
}


@pytest.mark.parametrize("where", sorted(CASES))
async def test_a_missing_label_in_a_query_refuses_the_run_before_it_acts(clock: FakeClock, where: str) -> None:
    rb = runbook(safety={"cooldown": "10m", "max_runs_per_hour": 5}, **CASES[where])
    cluster = FakeCluster(ClusterSpec.model_validate({"deployments": [
        {"namespace": "shop", "name": "api", "replicas": 2}]}), clock.now())
    store, rec = MemoryStore(), Recorder()
    engine = Engine(store=store, cluster=cluster, prometheus=FakePrometheus(PrometheusSpec(holds=True)),
                    runbooks=[rb], clock=clock.now, sleep=clock.sleep, events=rec.sink, metrics=rec)

    run = await engine.start(rb, alert("1"))  # no `queue` label

    assert run.status is RunStatus.FINISHED and run.outcome is Outcome.REFUSED
    field = "verify.query" if where == "verify" else "preconditions[0]"
    assert run.reason.startswith(f"{field}: cannot render") and "'queue'" in run.reason, run.reason
    assert cluster.calls == []
    assert rec.refusals == ["template"] and rec.events[-1].page is True
    assert await store.runs_with_status((RunStatus.PENDING, RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL)) == []
    assert run.target_key is None and run.started_at is None  # never claimed: no cooldown either
    fixed = await engine.start(rb, alert("2", queue="emails"))
    assert fixed.outcome is Outcome.VERIFIED and cluster.calls == ["scale Deployment shop/api 3"]
