"""`remediation.cluster.connect_timeout` / `read_timeout`: durations, positive (review finding 12)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from webhook.config.remediation import ClusterConfig


def test_timeouts_default_to_5s_and_30s_and_take_durations() -> None:
    assert (ClusterConfig().connect_timeout, ClusterConfig().read_timeout) == (timedelta(seconds=5),
                                                                              timedelta(seconds=30))
    cfg = ClusterConfig.model_validate({"connect_timeout": "2s", "read_timeout": "1m"})
    assert (cfg.connect_timeout, cfg.read_timeout) == (timedelta(seconds=2), timedelta(minutes=1))


@pytest.mark.parametrize("key", ["connect_timeout", "read_timeout"])
def test_a_zero_timeout_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="must be positive"):
        ClusterConfig.model_validate({key: "0s"})


def test_the_configured_timeouts_reach_the_kubernetes_client(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The service builds its cluster access from the config: the timeouts are not only the library's defaults."""
    import webhook.remediation.service as service
    from webhook.config.remediation import RemediationConfig

    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    seen = []
    monkeypatch.setattr(service, "connect", lambda access: seen.append(access) or object())
    cfg = RemediationConfig.model_validate({
        "enabled": True, "prometheus_url": "http://127.0.0.1:9", "runbooks_dir": str(runbooks),
        "cluster": {"mode": "token", "host": "https://127.0.0.1:6443", "token": "t" * 20,
                    "connect_timeout": "2s", "read_timeout": "45s"}})
    service.build_remediation(cfg, db=None, clock=None, hooks=None)  # type: ignore[arg-type]
    assert (seen[0].connect_timeout, seen[0].read_timeout) == (2.0, 45.0)
