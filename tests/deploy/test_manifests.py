"""The Kubernetes manifests for Tocsin itself agree with the code: config validates, probes and ports exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.app import create_app
from webhook.config import TocsinConfig
from webhook.yamlpos import ConfigError

REPO = Path(__file__).resolve().parents[2]


def docs(path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((REPO / path).read_text()) if d]


def test_embedded_config_is_valid_and_reads_secrets_from_files() -> None:
    cm = next(d for d in docs("deploy/kubernetes/tocsin.yaml") if d["kind"] == "ConfigMap")
    cfg = TocsinConfig(**yaml.safe_load(cm["data"]["tocsin.yaml"]))
    assert cfg.auth.webhook.bearer_token_files and cfg.auth.api_tokens[0].token_file is not None
    assert cfg.server.host == "0.0.0.0" and cfg.server.port == 8080
    # the token files exist only in the cluster: here the error must name them
    with pytest.raises(ConfigError, match="/etc/tocsin/tokens/webhook-token"):
        create_app(cfg)


def test_probes_ports_and_service_account_match() -> None:
    by_kind = {d["kind"]: d for d in docs("deploy/kubernetes/tocsin.yaml")}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    routes = set(create_app(TocsinConfig(**{
        "auth": {"webhook": {"bearer_tokens": ["x" * 20]}, "api_tokens": [{"name": "a", "token": "y" * 20}]}
    })).openapi()["paths"])
    assert c["readinessProbe"]["httpGet"]["path"] in routes
    assert c["livenessProbe"]["httpGet"]["path"] in routes
    assert c["ports"][0]["containerPort"] == 8080
    rbac = docs("deploy/kubernetes/rbac.yaml")
    accounts = {(d["metadata"]["name"], d["metadata"]["namespace"]) for d in rbac if d["kind"] == "ServiceAccount"}
    assert (pod["serviceAccountName"], by_kind["Deployment"]["metadata"]["namespace"]) in accounts


def test_alertmanager_posts_to_the_service_in_the_manifest() -> None:
    am = yaml.safe_load((REPO / "deploy/alertmanager/alertmanager.yml").read_text())
    svc = next(d for d in docs("deploy/kubernetes/tocsin.yaml") if d["kind"] == "Service")
    hooks = [w["url"] for r in am["receivers"] for w in r.get("webhook_configs", [])]
    urls = {u for u in hooks if u.endswith("/webhook/alertmanager")}
    port = svc["spec"]["ports"][0]["port"]
    assert urls and all(u == f"http://{svc['metadata']['name']}:{port}/webhook/alertmanager" for u in urls)
