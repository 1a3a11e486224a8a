"""What `make run` starts: the example config in dev mode prints working credentials and a receiver snippet."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.payloads import alert, payload
from tests.support.procs import free_port, spawn, wait_http

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_dev_mode_with_the_example_config(tmp_path: Path) -> None:
    port = free_port()
    exe = str(Path(sys.executable).with_name("tocsin"))
    env = {**os.environ, "TOCSIN_SERVER__PORT": str(port)}
    proc = spawn("tocsin", [exe, "serve", "--config", str(REPO / "examples/tocsin.yaml"), "--dev"], tmp_path, env=env)
    try:
        wait_http(proc, f"http://127.0.0.1:{port}/readyz", timeout=60)
        out = proc.log.read_text()
        hook = re.search(r"webhook token:\s+(\S+)", out)
        api = re.search(r"API token:\s+(\S+)", out)
        assert hook and api
        assert hook.group(1) == (tmp_path / "var/webhook-token").read_text().strip()
        snippet = yaml.safe_load(out[out.index("receivers:"):].split("\n\n")[0])
        cfg = snippet["receivers"][0]["webhook_configs"][0]
        assert cfg["url"] == f"http://127.0.0.1:{port}/webhook/alertmanager"
        assert Path(cfg["http_config"]["authorization"]["credentials_file"]).read_text().strip() == hook.group(1)
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(base + "/webhook/alertmanager", json=payload(alert()),
                       headers={"Authorization": f"Bearer {hook.group(1)}"})
        assert r.status_code == 200
        items = httpx.get(base + "/api/v1/incidents", headers={"Authorization": f"Bearer {api.group(1)}"}).json()
        assert len(items["incidents"]) == 1
        assert (tmp_path / "var/tocsin.db").exists()
        # the console: no channel is configured, so in dev mode the sign-in code is in the server's log
        assert httpx.post(base + "/api/v1/session/code", json={"name": "alice"}).status_code == 202
        code = None
        for _ in range(500):  # the code is sent in the background; bounded wait for its log line
            found = re.search(r"DEV MODE sign-in code for alice: (\d+)", proc.log.read_text())
            if found:
                code = found.group(1)
                break
            time.sleep(0.02)
        assert code is not None, proc.log.read_text()[-2000:]
        signed = httpx.post(base + "/api/v1/session", json={"name": "alice", "code": code})
        assert signed.status_code == 200 and signed.json()["person"]["name"] == "alice"
        me = httpx.get(base + "/api/v1/session", cookies={"tocsin_session": signed.cookies["tocsin_session"]})
        assert me.status_code == 200 and me.json()["csrf"] == signed.json()["csrf"]
        assert httpx.get(base + "/console/").status_code == 200
    finally:
        proc.stop()
