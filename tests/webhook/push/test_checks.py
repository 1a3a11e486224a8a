"""The config warns when a critical route's first step reaches someone only through Web Push."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import make_config
from webhook.config import TocsinConfig
from webhook.push.checks import push_findings, push_only_findings

RESPONDERS = [{"name": "alice", "phone": "+4915100000001", "contact_rules": [{"channel": "push"}]},
              {"name": "bob", "phone": "+4915100000002",
               "contact_rules": [{"channel": "push"}, {"channel": "sms", "after": "2m"}]}]
ROUTE = {"policy": "calm", "routes": [{"name": "crit", "matchers": ['severity="critical"'], "policy": "loud"}]}


def config(tmp_path: Path, loud: list[dict[str, Any]], calm: list[dict[str, Any]] | None = None) -> TocsinConfig:
    base = make_config(f"sqlite:///{tmp_path / 't.db'}", tmp_path).model_dump(mode="python")
    policies = [{"name": "loud", "steps": [{"targets": loud}]},
                {"name": "calm", "steps": [{"targets": calm or [{"user": "alice"}]}]}]
    return TocsinConfig(server=base["server"], database=base["database"], auth=base["auth"],
                        oncall={"responders": RESPONDERS}, escalation={"policies": policies, "route": ROUTE})


@pytest.mark.parametrize(("targets", "warned"), [
    ([{"user": "alice"}], ["alice"]),  # her only contact rule is push
    ([{"user": "bob"}], []),  # SMS follows
    ([{"user": "bob", "via": ["push"]}], ["bob"]),
    ([{"user": "bob", "via": ["push", "sms"]}], []),
    ([{"slack": "#ops"}], []),
])
def test_critical_first_steps_reaching_people_only_by_push_are_named(tmp_path: Path, targets: list[dict[str, Any]],
                                                                     warned: list[str]) -> None:
    found = push_only_findings(config(tmp_path, targets))
    assert [f.split(" reaches ")[1].split(" ")[0] for f in found] == warned
    assert all(f.startswith("route crit (policy loud): the first step") for f in found)


def test_routes_that_critical_alerts_do_not_reach_are_not_checked(tmp_path: Path) -> None:
    assert push_only_findings(config(tmp_path, [{"slack": "#ops"}], calm=[{"user": "alice", "via": ["push"]}])) == []


def test_push_contacts_without_the_webpush_channel_are_named(tmp_path: Path) -> None:
    found = push_findings(config(tmp_path, [{"user": "bob", "via": ["push", "sms"]}]))
    assert found[:3] == [
        "responder alice has a push contact rule, but channels.webpush is not configured: those pages only go to "
        "the log",
        "responder bob has a push contact rule, but channels.webpush is not configured: those pages only go to "
        "the log",
        "policy loud pages via push, but channels.webpush is not configured: those pages only go to the log"]
