"""The three ways to reach the API server work with the real client: kubeconfig context, in-cluster, token."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
import yaml
from kubernetes.config import incluster_config

from remediator.kube import ClusterAccess, connect
from tests.fakekube.builders import node
from tests.fakekube.server import FakeKube


async def test_kubeconfig_with_a_selected_context(kube: FakeKube, tmp_path: Path) -> None:
    node(kube, "n1")
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "broken",
        "clusters": [{"name": "dead", "cluster": {"server": "http://127.0.0.1:1"}},
                     {"name": "fake", "cluster": {"server": kube.url}}],
        "users": [{"name": "u", "user": {"token": "kubeconfig-token"}}],
        "contexts": [{"name": "broken", "context": {"cluster": "dead", "user": "u"}},
                     {"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    cluster = connect(ClusterAccess(mode="kubeconfig", kubeconfig=str(path), context="fake"))
    assert [n.name for n in await cluster.list_nodes()] == ["n1"]


async def test_in_cluster_service_account_over_tls(kube: FakeKube, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    node(kube, "n1")
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    assert kube._server is not None
    kube._server.socket = server_ctx.wrap_socket(kube._server.socket, server_side=True)
    token, cert = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("service-account-token")
    ca.cert_pem.write_to_path(str(cert))
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(cert))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", kube.url.rsplit(":", 1)[1])
    cluster = connect(ClusterAccess(mode="in_cluster"))
    assert [n.name for n in await cluster.list_nodes()] == ["n1"]


def test_token_mode_needs_host_and_token() -> None:
    with pytest.raises(ValueError, match="host and token"):
        connect(ClusterAccess(mode="token", host="http://127.0.0.1:1"))
