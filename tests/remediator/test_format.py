"""Runbook format: matchers, sandboxed templating, loader errors with lines, schema.json, the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from remediator.cli import main
from remediator.loader import RunbookError, parse_runbook
from remediator.matching import parse_matcher
from remediator.names import NameRule
from remediator.runbook import SCHEMA_MODELINE, json_schema_text
from remediator.templating import TemplateRefused, render, render_name, render_promql

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ('alertname="KubeNodeNotReady"', {"alertname": "KubeNodeNotReady"}, True),
    ('severity!="low"', {}, True),
    ('namespace=~"kube-.*"', {"namespace": "kube-system"}, True),
    ('namespace=~"kube"', {"namespace": "kube-system"}, False),  # anchored
    ('namespace!~"kube-.*|monitoring"', {"namespace": "monitoring"}, False),
    ('msg="say \\"hi\\""', {"msg": 'say "hi"'}, True),
    ("team=ops", {"team": "ops"}, True),
])
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("bad", ['a=="x"', 'a=~"("', "=x", 'a="unterminated', "a=b c"])
def test_bad_matchers_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_matcher(bad)


@pytest.mark.parametrize(("value", "why"), [
    ("api\n  namespace: kube-system", "contains a newline"),
    ("../etc", "path segment"),
    ("Api", "'A'"),
    ("-api", "must start and end"),
    ("x" * 254, "longer than 253"),
])
def test_label_values_must_be_kubernetes_names(value: str, why: str) -> None:
    with pytest.raises(TemplateRefused) as err:
        render_name("{{ labels.d }}", {"labels": {"d": value}}, "target.deployment", NameRule.SUBDOMAIN)
    assert why in err.value.reason and err.value.field == "target.deployment"


def test_sandbox_blocks_attribute_escapes() -> None:
    with pytest.raises(TemplateRefused):
        render("{{ labels.__class__.__mro__ }}", {"labels": {}}, "x")
    with pytest.raises(TemplateRefused):
        render("{{ missing }}", {}, "x")


def test_promql_values_cannot_leave_the_string_literal() -> None:
    query = render_promql('up{job="{{ labels.job }}"}', {"labels": {"job": '"} or vector(1) #'}}, "q")
    assert query == 'up{job="\\"} or vector(1) #"}'


def test_loader_errors_name_file_line_and_field() -> None:
    text = "\n".join([
        "id: x", "description: d", "owner: o", "match: ['alertname=\"X\"']",
        "target: {namespace: a}", "steps:", "  - action: scale", "    by: 1", "    max: 3",
        "  - action: rollout_restart", "    replicas: 3", "safety:", "  cooldown: soon"])
    with pytest.raises(RunbookError) as err:
        parse_runbook(text, "rb.yaml")
    assert [str(p) for p in err.value.problems] == [
        "rb.yaml:11: steps[1].replicas: Extra inputs are not permitted",
        "rb.yaml:13: safety.cooldown: Value error, 'soon' is not a duration such as 30s, 5m, 1h30m (invalid duration:"
        " units w d h m s ms, each once, largest first)",
    ]


def test_duplicate_keys_and_unknown_actions_are_errors() -> None:
    with pytest.raises(RunbookError, match=r"rb\.yaml:2: id: duplicate key"):
        parse_runbook("id: a\nid: b\n", "rb.yaml")
    with pytest.raises(RunbookError, match="does not match any of the expected tags"):
        parse_runbook("id: a\ndescription: d\nowner: o\nmatch: ['a=b']\ntarget: {}\nsteps: [{action: shell}]\n",
                      "rb.yaml")


def test_schema_json_is_current_and_every_runbook_points_to_it() -> None:
    assert (RUNBOOKS / "schema.json").read_text() == json_schema_text()
    assert "scale" in json.dumps(json.loads(json_schema_text()))
    for path in RUNBOOKS.glob("*.yaml"):
        assert path.read_text().startswith(SCHEMA_MODELINE + "\n"), path


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_cli_validate_and_test_the_shipped_runbooks() -> None:
    assert run_cli("validate", str(RUNBOOKS)) == (0, "12 runbook(s) valid\n")
    code, text = run_cli("test", str(RUNBOOKS))
    assert code == 0 and "0 failed" in text and "FAIL" not in text
    assert run_cli("schema", "--check", "--output", str(RUNBOOKS / "schema.json"))[0] == 0


def test_cli_validate_reports_problems(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(SCHEMA_MODELINE + "\nid: Bad\n")
    code, text = run_cli("validate", str(tmp_path))
    assert code == 1 and f"{tmp_path / 'bad.yaml'}:2: id: String should match pattern" in text


def test_cli_plan_touches_nothing_and_shows_refusals(tmp_path: Path) -> None:
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps({"alerts": [{"labels": {
        "alertname": "CeleryQueueBacklog", "namespace": "jobs", "queue": "default"}}]}))
    code, text = run_cli("plan", "celery-queue-backlog", "--alert", str(alert), "--dir", str(RUNBOOKS))
    assert code == 0
    assert "target: namespace=jobs, deployment=celery-worker" in text
    assert "step 0: scale {'by': 2, 'min': 2, 'max': 20}" in text
    assert 'verify within 15m: sum(celery_queue_length{queue_name="default"}) < 100' in text
    alert.write_text(json.dumps({"labels": {"alertname": "CeleryQueueBacklog", "namespace": "jobs",
                                            "deployment": "x\n namespace: kube-system"}}))
    code, text = run_cli("plan", str(RUNBOOKS / "celery-queue-backlog.yaml"), "--alert", str(alert))
    assert code == 1 and "REFUSED: target.deployment" in text
