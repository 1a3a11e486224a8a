"""`tocsin replay` from the command line: a period replayed in every format with progress on stderr; clear errors
for a missing config, an invalid period, a database without the journal and a period without traffic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.payloads import alert, payload
from webhook.cli import main
from webhook.config import load_config
from webhook.ingest.batch import ingest_batch
from webhook.ingest.prepare import decode
from webhook.replay.engine import Replay, Replayed
from webhook.store.db import Connection, Database
from webhook.store.migrate import upgrade

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def write_config(tmp_path: Path, second_step: str = "15m") -> Path:
    cfg: dict[str, Any] = {
        "server": {"var_dir": str(tmp_path / "var")},
        "database": {"url": f"sqlite:///{tmp_path / 'tocsin.db'}"},
        "oncall": {"responders": [{"name": "alice", "slack_user": "U0ALICE", "timezone": "Europe/Berlin"},
                                  {"name": "bob", "slack_user": "U0BOB"}]},
        "escalation": {"policies": [{"name": "high", "steps": [
            {"targets": [{"user": "alice"}]}, {"after": second_step, "targets": [{"user": "bob"}]}]}],
            "route": {"policy": "high"}},
    }
    path = tmp_path / f"tocsin-{second_step}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def record(path: Path) -> None:
    """Two incidents through the engine's code: one resolved after 5 minutes, one left firing for an hour."""
    cfg = load_config(path)
    db = Database.from_url(cfg.database_url())
    upgrade(db.engine)
    driver = Replay(cfg)
    out = Replayed([], 0, 0, 0, 0)
    a, b = alert(pod="a", starts=T0), alert(pod="b", alertname="Other", starts=T0)
    steps = [(payload(a, b), 0), (payload({**a, "status": "resolved", "endsAt": (T0 + timedelta(minutes=5))
                                            .isoformat()}), 5)]

    def run(conn: Connection) -> None:
        for body, minute in steps:
            at = T0 + timedelta(minutes=minute)
            driver._until(conn, at, [], {}, out)
            ingest_batch(conn, [decode(json.dumps(body).encode(), cfg)], at, cfg.incidents.flap, driver.hooks)
        driver._until(conn, T0 + timedelta(hours=1), [], {}, out)

    db.run_write(run)
    db.close()


def test_replay_prints_the_difference_in_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = write_config(tmp_path)
    record(current)
    candidate = write_config(tmp_path, "5m")
    args = ["replay", "--config", str(candidate), "--from", "2026-11-02", "--to", "2026-11-03"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "replay: 3/3 alert deliveries (100%" in err  # progress, one line per tenth off a terminal
    # bob is paged after 5 minutes, not 15: for the incident resolved at 5 minutes a page and its resolve are new,
    # the other one's page moves from 08:15 to 08:05
    assert "only in the replay (2):" in out and "moved 1" in out
    assert main([*args, "--format", "json", "-o", str(tmp_path / "r.json")]) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["diff"]["identical"] is False and data["journal_rows"] == 3
    assert [(p["responder"], p["kind"], p["alertname"]) for p in data["diff"]["only_replayed"]] == [
        ("bob", "trigger", "HighErrorRate"), ("bob", "resolve", "HighErrorRate")]
    assert main([*args, "--format", "html", "-o", str(tmp_path / "r.html")]) == 0
    assert "What-if replay" in (tmp_path / "r.html").read_text()
    same = ["replay", "--config", str(current), "--from", "2026-11-02", "--to", "2026-11-03", "--format", "json"]
    assert main(same) == 0
    assert json.loads(capsys.readouterr().out)["diff"]["identical"] is True


def test_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "candidate config" in capsys.readouterr().err
    path = write_config(tmp_path)
    assert main(["replay", "--config", str(path), "--since", "30d", "--from", "2026-11-01"]) == 2
    assert "either --since or --from/--to" in capsys.readouterr().err
    db = Database.from_url(load_config(path).database_url())
    upgrade(db.engine, "0001")  # an older release's schema: no journal yet
    db.close()
    assert main(["replay", "--config", str(path)]) == 1
    assert "no alert journal yet" in capsys.readouterr().err
    db = Database.from_url(load_config(path).database_url())
    upgrade(db.engine)
    db.close()
    assert main(["replay", "--config", str(path), "--from", "2026-01-01", "--to", "2026-01-02"]) == 0
    assert "nothing to replay: no alert deliveries journaled between" in capsys.readouterr().err
