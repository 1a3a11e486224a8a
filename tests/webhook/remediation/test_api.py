"""The remediation API: runbooks, runs, approve/reject/abort, audit; authentication and hostile input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediator.records import ApprovalDecision
from tests.fakekube import FakeKube
from tests.support.clock import FakeClock
from tests.support.harness import API_TOKEN, WEBHOOK_TOKEN
from tests.support.remediation_env import (
    Sleeper,
    Svc,
    deliver_body,
    firing,
    remediation_config,
    scale_calls,
    start_service,
    waiting_run,
)
from webhook.config import TocsinConfig


async def test_runbooks_are_listed(svc: Svc) -> None:
    body = (await svc.api("GET", "/api/v1/runbooks")).json()
    assert sorted(r["id"] for r in body["runbooks"]) == ["approve-me", "scale-me", "verify-me"]
    assert body["runbooks"][0]["match"] and "safety" in body["runbooks"][0]


async def test_approval_via_the_api_resumes_the_run(svc: Svc, kube: FakeKube) -> None:
    run = await waiting_run(svc)
    assert run["status"] == "awaiting_approval" and run["approvals"][0]["message"].endswith("scale api?")
    assert scale_calls(kube) == 0
    incident = int(run["incident_id"])
    assert (await svc.incident(incident))["timeline"][-1]["kind"] == "remediation_approval"
    response = await svc.api("POST", f"/api/v1/runs/{run['id']}/approve", json={"note": "go"})
    assert response.status_code == 202 and response.json()["decision"] == "approved"
    await svc.rem.drain()
    done = (await svc.api("GET", f"/api/v1/runs/{run['id']}")).json()
    assert done["status"] == "finished" and done["outcome"] == "completed" and scale_calls(kube) == 1
    assert [s["action"] for s in done["steps"]] == ["approval", "scale"]
    decided = [a for a in done["audit"] if a["kind"] == "approval_decided"]
    assert decided[0]["actor"] == "alice" and "approved by alice" in decided[0]["message"]
    again = await svc.api("POST", f"/api/v1/runs/{run['id']}/approve")
    assert again.status_code == 409 and "finished" in again.json()["detail"]


async def test_reject_aborts_and_nothing_changes(svc: Svc, kube: FakeKube) -> None:
    run = await waiting_run(svc)
    assert (await svc.api("POST", f"/api/v1/runs/{run['id']}/reject")).status_code == 202
    await svc.rem.drain()
    done = (await svc.api("GET", f"/api/v1/runs/{run['id']}")).json()
    assert done["outcome"] == "aborted" and "rejected by alice" in done["reason"] and scale_calls(kube) == 0


async def test_abort_a_waiting_run(svc: Svc, kube: FakeKube) -> None:
    run = await waiting_run(svc)
    response = await svc.api("POST", f"/api/v1/runs/{run['id']}/abort")
    assert response.status_code == 202 and response.json()["by"] == "alice"
    await svc.rem.drain()
    done = (await svc.api("GET", f"/api/v1/runs/{run['id']}")).json()
    assert done["outcome"] == "aborted" and "aborted by alice" in done["reason"] and scale_calls(kube) == 0
    assert (await svc.api("POST", f"/api/v1/runs/{run['id']}/abort")).status_code == 409


async def test_runs_are_filtered_and_the_audit_shows_every_attempt(svc: Svc) -> None:
    await svc.deliver(deliver_body(firing("ScaleMe"), firing("ApproveMe", deployment="web")))
    await svc.rem.run_pending()
    runs = (await svc.api("GET", "/api/v1/runs")).json()["runs"]
    assert sorted(r["runbook_id"] for r in runs) == ["approve-me", "scale-me"]
    assert [r["runbook_id"] for r in (await svc.api("GET", "/api/v1/runs?runbook=scale-me")).json()["runs"]] == [
        "scale-me"]
    waiting = (await svc.api("GET", "/api/v1/runs?status=awaiting_approval")).json()["runs"]
    assert [r["runbook_id"] for r in waiting] == ["approve-me"]
    incident = runs[0]["incident_id"]
    assert len((await svc.api("GET", f"/api/v1/runs?incident={incident}")).json()["runs"]) >= 1
    entries = (await svc.api("GET", "/api/v1/audit?runbook=scale-me&kind=step_applied")).json()["entries"]
    [applied] = entries
    assert applied["actor"].startswith("incident ") and applied["dry_run"] is False
    assert applied["details"]["params"] and "scale" in applied["message"]
    page = (await svc.api("GET", "/api/v1/audit?limit=1")).json()
    assert len(page["entries"]) == 1 and page["next_before"] == page["entries"][0]["id"]


UNKNOWN = [("GET", "/api/v1/runs/999999"), ("GET", "/api/v1/runs/abc"), ("POST", "/api/v1/runs/999999/approve"),
           ("POST", "/api/v1/runs/..%2F..%2Fetc/abort"), ("POST", "/api/v1/runs/-1/reject")]
PROTECTED = [("GET", "/api/v1/runbooks"), ("GET", "/api/v1/runs"), ("GET", "/api/v1/runs/1"),
             ("GET", "/api/v1/audit"), ("POST", "/api/v1/runs/1/approve"), ("POST", "/api/v1/runs/1/abort")]
MALFORMED: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/runs?status=exploded", {}),
    ("GET", "/api/v1/runs?limit=0", {}),
    ("GET", "/api/v1/runs?limit=100000", {}),
    ("GET", "/api/v1/audit?run=abc", {}),
    ("GET", "/api/v1/audit?before=-5", {}),
    ("POST", "/api/v1/runs/1/approve", {"json": {"note": "x", "approver": "mallory"}}),
    ("POST", "/api/v1/runs/1/approve", {"json": {"note": "x" * 5000}}),
    ("POST", "/api/v1/runs/1/approve", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/api/v1/runs/1/abort", {"json": ["a", "list"]}),
]


async def test_hostile_requests_are_refused(svc: Svc, kube: FakeKube) -> None:
    await waiting_run(svc)  # run 1 exists and waits: a refusal must not be mistaken for "nothing there"
    for method, path in UNKNOWN:
        assert (await svc.api(method, path)).status_code == 404, path
    for token in ("", "wrong-token-0123456789", WEBHOOK_TOKEN):
        for method, path in PROTECTED:
            response = await svc.api(method, path, token=token)
            assert response.status_code == 401 and "API token" in response.json()["detail"], (token, path)
    for method, path, kwargs in MALFORMED:
        headers = {"Authorization": "Bearer api-token-0123456789abcdef", **kwargs.get("headers", {})}
        extra = {k: v for k, v in kwargs.items() if k != "headers"}
        response = await svc.client.request(method, path, headers=headers, **extra)
        assert response.status_code == 422, (path, response.text)
    assert scale_calls(kube) == 0
    assert (await svc.api("GET", "/api/v1/runs/1")).json()["status"] == "awaiting_approval"


async def test_the_first_decision_wins(svc: Svc, kube: FakeKube) -> None:
    run = await waiting_run(svc)
    await svc.rem.store.decide_approval(str(run["id"]), 0, ApprovalDecision.REJECTED, "carol", svc.clock())
    response = await svc.api("POST", f"/api/v1/runs/{run['id']}/approve")
    assert response.status_code == 409 and "rejected by carol" in response.json()["detail"]
    assert scale_calls(kube) == 0


async def test_resolving_the_incident_cancels_a_run_waiting_for_approval(svc: Svc, kube: FakeKube) -> None:
    run = await waiting_run(svc)
    incident = int(run["incident_id"])
    assert (await svc.api("POST", f"/api/v1/incidents/{incident}/resolve")).status_code == 200
    await svc.rem.tick()
    await svc.rem.drain()
    done = (await svc.api("GET", f"/api/v1/runs/{run['id']}")).json()
    assert done["status"] == "finished"
    assert done["outcome"] == "aborted"
    assert done["reason"] == "cancelled: incident resolved by alice"
    assert scale_calls(kube) == 0
    finished = [e for e in (await svc.incident(incident))["timeline"] if e["kind"].startswith("remediation_aborted")]
    assert finished
    assert "paging" not in finished[-1]["detail"].get("message", "")


async def test_approving_needs_the_approve_scope_and_the_allow_list(db_url: str, tmp_path: Path, kube: FakeKube,
                                                                    clock: FakeClock, sleeper: Sleeper) -> None:
    """Finding 16: an ordinary API token (no `approve` scope) cannot decide a dangerous step, and a token with it
    obeys remediation.approvals like a Slack click does; the refused attempts change nothing."""
    base = remediation_config(db_url, tmp_path, kube).model_dump(mode="python")
    base["remediation"]["approvals"]["responders"] = ["alice"]
    tokens = [{"name": "alice", "token": API_TOKEN, "scopes": ["read", "approve"]},
              {"name": "ci", "token": "ci-token-0123456789abcdef"},
              {"name": "carol", "token": "carol-token-0123456789abcdef", "scopes": ["read", "approve"]}]
    cfg = TocsinConfig(**{**base, "auth": {**base["auth"], "api_tokens": tokens},
                          "oncall": {"responders": [{"name": "alice", "slack_user": "UALICE"},
                                                   {"name": "carol", "slack_user": "UCAROL"}]}})
    async for svc in start_service(cfg, clock, sleeper):
        run = await waiting_run(svc)
        path = f"/api/v1/runs/{run['id']}"
        unscoped = await svc.api("POST", f"{path}/approve", token="ci-token-0123456789abcdef")
        assert unscoped.status_code == 403 and "'ci' lacks the 'approve' scope" in unscoped.json()["detail"]
        unlisted = await svc.api("POST", f"{path}/reject", token="carol-token-0123456789abcdef")
        assert unlisted.status_code == 403 and "carol is not an approver" in unlisted.json()["detail"]
        assert (await svc.api("GET", path)).json()["status"] == "awaiting_approval" and scale_calls(kube) == 0
        abort = await svc.api("POST", f"{path}/abort", token=API_TOKEN)
        assert abort.status_code == 403 and "'remediate' scope" in abort.json()["detail"]
        approved = await svc.api("POST", f"{path}/approve", token=API_TOKEN)
        assert approved.status_code == 202 and approved.json()["by"] == "alice"
        await svc.rem.drain()
        assert (await svc.api("GET", path)).json()["outcome"] == "completed" and scale_calls(kube) == 1


def test_token_scopes_are_checked_at_start() -> None:
    from pydantic import ValidationError

    from webhook.config import ApiToken

    assert ApiToken(name="x", token="t" * 16).scopes == ["read", "respond", "remediate", "windows", "schedules"]
    for bad, needle in [({"token": "t" * 16, "scopes": ["calendar", "read"]}, "give it no other scope"),
                        ({"token": "short"}, "shorter than 16"),
                        ({"token": "t" * 16, "scopes": []}, "at least 1 item"),
                        ({"token": "t" * 16, "scopes": ["admin"]}, "'read', 'respond'")]:
        with pytest.raises(ValidationError, match=needle):
            ApiToken(name="x", **bad)
