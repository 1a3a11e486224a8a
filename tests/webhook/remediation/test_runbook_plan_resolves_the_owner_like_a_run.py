"""`tocsin runbook plan` resolves a per-pod alert's target the way a run does: the pod-crashlooping runbook finds
the Deployment (there from the pod's name or --owner, at run time from the API server), renders its verify query
and shows the service's rate-limit key (deployment/shop/web, not pod/...)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from remediator.cli import main

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"


def plan(tmp_path: Path, labels: dict[str, str], *extra: str) -> tuple[int, str]:
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps({"labels": labels}))
    out = io.StringIO()
    code = main(["plan", "pod-crashlooping", "--alert", str(alert), "--dir", str(RUNBOOKS), *extra], out)
    return code, out.getvalue()


def crashing(pod: str) -> dict[str, str]:
    return {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": pod, "container": "app"}


def test_a_per_pod_alert_plans_against_the_deployment_owning_the_pod(tmp_path: Path) -> None:
    code, text = plan(tmp_path, crashing("web-7d9f8b6c5d-x2k4q"))
    assert code == 0, text
    assert "REFUSED" not in text and "no attribute 'deployment'" not in text
    assert "target: namespace=shop, deployment=web, pod=web-7d9f8b6c5d-x2k4q, container=app" in text
    assert "resolve: pod shop/web-7d9f8b6c5d-x2k4q belongs to Deployment/web (from the pod's name" in text
    assert "runs/hour on deployment/shop/web," in text
    assert 'pod=~"web-.*", reason="CrashLoopBackOff"' in text


def test_the_owner_can_be_given_when_the_pod_name_does_not_tell(tmp_path: Path) -> None:
    code, text = plan(tmp_path, crashing("handmade"))
    assert code == 1 and "REFUSED: cannot tell from the name of pod shop/handmade" in text
    code, text = plan(tmp_path, crashing("handmade"), "--owner", "Deployment/web")
    assert code == 0, text
    assert "belongs to Deployment/web (given with --owner" in text and "runs/hour on deployment/shop/web," in text


def test_a_statefulset_pod_resolves_to_its_statefulset_and_refuses_as_a_run_would(tmp_path: Path) -> None:
    code, text = plan(tmp_path, crashing("db-0"))
    assert "statefulset=db" in text and "runs/hour on statefulset/shop/db," in text
    assert code == 1 and "REFUSED: verify.query" in text  # the runbook's verify query names target.deployment


def test_a_malformed_owner_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        plan(tmp_path, crashing("handmade"), "--owner", "DaemonSet/x")
    assert "expected Deployment/NAME or StatefulSet/NAME" in capsys.readouterr().err
