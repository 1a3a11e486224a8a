"""Alertmanager and Prometheus configs through amtool and promtool: valid, loading the packs, routing by severity."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.procs import AMTOOL, PROMTOOL
from tools.gen_rules import Pack

TOCSIN_WEBHOOK = "http://tocsin:8080/webhook/alertmanager"
TOKEN_FILE = "/etc/alertmanager/secrets/tocsin-webhook-token"


@pytest.fixture(scope="module")
def am_config(repo: Path) -> Path:
    return repo / "deploy/alertmanager/alertmanager.yml"


def test_amtool_check_config_accepts_the_alertmanager_config(am_config: Path) -> None:
    result = subprocess.run([AMTOOL, "check-config", str(am_config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_tocsin_receivers_post_every_alert_with_a_bearer_token_file(am_config: Path) -> None:
    config = yaml.safe_load(am_config.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    for name in ("tocsin-default", "tocsin-critical", "tocsin-high", "tocsin-medium", "tocsin-low"):
        (hook,) = receivers[name]["webhook_configs"]
        assert hook["url"] == TOCSIN_WEBHOOK
        assert hook["send_resolved"] is True
        assert hook["max_alerts"] == 0
        assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials_file": TOKEN_FILE}


def test_critical_is_grouped_fast_and_low_is_batched(am_config: Path) -> None:
    routes = {r["receiver"]: r for r in yaml.safe_load(am_config.read_text())["route"]["routes"]}
    seconds = {"s": 1, "m": 60, "h": 3600}

    def dur(text: str) -> int:
        return sum(int(n) * seconds[u] for n, u in re.findall(r"(\d+)([smh])", text))

    order = ["tocsin-critical", "tocsin-high", "tocsin-medium", "tocsin-low"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        values = [dur(routes[r][key]) for r in order]
        assert values == sorted(values) and values[0] < values[-1], key
    assert dur(routes["tocsin-critical"]["group_wait"]) <= 10
    assert dur(routes["tocsin-low"]["repeat_interval"]) >= 24 * 3600


def test_inhibition_covers_tiers_and_node_outages(am_config: Path) -> None:
    rules = yaml.safe_load(am_config.read_text())["inhibit_rules"]
    by_source = {tuple(r["source_matchers"]): r for r in rules}
    tier = by_source[('severity="critical"',)]
    assert tier["target_matchers"] == ['severity=~"high|medium"']
    assert {"alertname", "instance"} <= set(tier["equal"])
    node = by_source[('alertname=~"KubeNodeNotReady|NodeDown"',)]
    assert node["equal"] == ["node"]
    assert "KubePodCrashLooping" in node["target_matchers"][0]


@pytest.mark.parametrize(("labels", "receivers"), [
    ({"alertname": "Watchdog", "severity": "low", "team": "sre"}, "deadmansswitch"),
    ({"alertname": "KubeNodeNotReady", "severity": "critical", "team": "platform", "node": "n1"},
     "tocsin-critical"),
    ({"alertname": "TocsinDown", "severity": "critical", "team": "sre", "service": "tocsin"},
     "tocsin-fallback,tocsin-critical"),
    ({"alertname": "TocsinOutboxBacklog", "severity": "high", "team": "sre", "service": "tocsin"}, "tocsin-high"),
    ({"alertname": "CeleryQueueBacklog", "severity": "high", "service": "celery", "queue": "documents"},
     "tocsin-high"),
    ({"alertname": "NodeCPUHigh", "severity": "medium", "instance": "node-1"}, "tocsin-medium"),
    ({"alertname": "FlowerDown", "severity": "low", "service": "flower"}, "tocsin-low"),
    ({"alertname": "SomethingUnlabelled"}, "tocsin-default"),
    ({"alertname": "Odd", "severity": "warning"}, "tocsin-default"),
])
def test_amtool_routes_each_label_set_to_its_receiver(am_config: Path, labels: dict[str, str],
                                                      receivers: str) -> None:
    args = [f"{k}={v}" for k, v in labels.items()]
    result = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={am_config}", *args],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receivers


def test_every_pack_severity_reaches_tocsin(am_config: Path, packs: list[Pack]) -> None:
    for severity in {p.severity for p in packs}:
        result = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={am_config}",
                                 "alertname=Any", f"severity={severity}"],
                                capture_output=True, text=True, check=False)
        assert result.stdout.strip() == f"tocsin-{severity}"


def test_promtool_check_config_loads_every_pack(repo: Path, tmp_path: Path, packs: list[Pack]) -> None:
    """The example config, with its absolute paths pointed into a temp dir, passes `promtool check config`."""
    text = (repo / "deploy/prometheus/prometheus.yml").read_text()
    text = text.replace("/etc/prometheus/rules/", f"{repo}/alertrules/")
    secrets = tmp_path / "serviceaccount"
    secrets.mkdir()
    (secrets / "token").write_text("token\n")
    (secrets / "ca.crt").write_text("")
    text = text.replace("/var/run/secrets/kubernetes.io/serviceaccount", str(secrets))
    text = text.replace("/etc/prometheus/targets/", f"{tmp_path}/")
    (tmp_path / "kubelet.yml").write_text(yaml.safe_dump([{"targets": ["node-1:10250"]}]))
    settings = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "/etc/" not in settings and "/var/" not in settings
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    result = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True, text=True, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for pack in packs:
        assert f"Checking {pack.path}" in out
    assert "WARNING" not in out


def test_prometheus_config_scrapes_tocsin_and_alerts_to_alertmanager(repo: Path) -> None:
    config = yaml.safe_load((repo / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"tocsin", "api-server", "celery-exporter", "redis-exporter", "flower", "alertmanager"} <= jobs
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert len(config["rule_files"]) == 5 and "/etc/prometheus/rules/slo_recording.yml" in config["rule_files"]
