"""The remediation config section: off by default, strict, and loud when enabled without what it needs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from webhook.config import TocsinConfig


def test_remediation_is_off_by_default() -> None:
    section = TocsinConfig().remediation
    assert not section.enabled and section.cluster.mode == "none" and section.namespace_deny == ["kube-system"]


@pytest.mark.parametrize(("section", "message"), [
    ({"enabled": True}, "needs cluster.mode and prometheus_url"),
    ({"enabled": True, "cluster": {"mode": "in_cluster"}}, "needs cluster.mode and prometheus_url"),
    ({"cluster": {"mode": "token", "host": "https://k8s:6443"}}, "token mode needs host and exactly one"),
    ({"cluster": {"mode": "in_cluster", "token": "t"}}, "only used with mode: token"),
    ({"cluster": {"mode": "token", "host": "h", "token": "t", "context": "c"}}, "only used with mode: kubeconfig"),
    ({"trigger": "on_ack"}, "on_open"),
    ({"verified_grace": "soon"}, "duration"),
    ({"enable": True}, "Extra inputs are not permitted"),
])
def test_bad_sections_are_refused_with_a_reason(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TocsinConfig(remediation=section)


def test_a_complete_section_loads_and_keeps_the_token_secret() -> None:
    cfg = TocsinConfig(remediation={
        "enabled": True, "prometheus_url": "http://prometheus:9090", "hold_escalation_for": "5m",
        "cluster": {"mode": "token", "host": "https://k8s:6443", "token": "s3cret", "ca_file": "/ca.crt"}})
    assert cfg.remediation.hold_escalation_for is not None
    assert cfg.remediation.hold_escalation_for.total_seconds() == 300
    assert "s3cret" not in repr(cfg.remediation)
