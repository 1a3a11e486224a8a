"""`tocsin serve` as a real process next to real Prometheus and Alertmanager (the e2e tests' `tocsin` fixture)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.procs import Proc, free_port, spawn, wait_http

WEBHOOK_TOKEN = "e2e-webhook-token-0123456789"
API_TOKEN = "e2e-api-token-0123456789"


@dataclass
class Tocsin:
    """A running `tocsin serve` process and the way to restart it on the same database."""

    workdir: Path
    config: Path
    port: int
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = str(Path(sys.executable).with_name("tocsin"))
        env = {**os.environ, "TOCSIN_SERVER__LOG_LEVEL": "warning"}
        self.proc = spawn("tocsin", [exe, "serve", "--config", str(self.config)], self.workdir, env=env)
        wait_http(self.proc, self.url + "/readyz", timeout=60)

    def stop(self, sig: int | None = None) -> None:
        if self.proc is not None:
            self.proc.stop(sig) if sig is not None else self.proc.stop()

    def api(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
        r.raise_for_status()
        return r.json()


def make_tocsin(workdir: Path, db_url: str) -> Tocsin:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg = {
        "server": {"host": "127.0.0.1", "port": port, "var_dir": str(workdir / "var")},
        "database": {"url": db_url},
        "auth": {"webhook": {"bearer_tokens": [WEBHOOK_TOKEN]}, "api_tokens": [{"name": "e2e", "token": API_TOKEN}]},
    }
    path = workdir / "tocsin.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return Tocsin(workdir, path, port)


def alertmanager_config(tocsin: Tocsin, token_file: Path, extra_receivers: list[dict[str, Any]] | None = None,
                        recorder_url: str | None = None) -> dict[str, Any]:
    hook = {"url": tocsin.url + "/webhook/alertmanager", "send_resolved": True, "max_alerts": 0,
            "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}}}
    receivers: list[dict[str, Any]] = [{"name": "tocsin", "webhook_configs": [hook]}]
    routes = []
    if recorder_url:
        receivers.append({"name": "recorder", "webhook_configs": [{"url": recorder_url, "send_resolved": True}]})
        routes.append({"receiver": "recorder", "matchers": ['alertname=~".+"'], "continue": True})
    routes.append({"receiver": "tocsin", "matchers": ['alertname=~".+"']})
    return {
        "route": {"receiver": "tocsin", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "1h", "routes": routes},
        "receivers": receivers + (extra_receivers or []),
    }
