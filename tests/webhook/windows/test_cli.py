"""`tocsin window add/list/end` on the database of the config, and `tocsin route test` naming the window that
would suppress a page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.support.escalation_env import ONCALL, POLICIES, ROUTE
from webhook.cli import main


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The CLI reads and writes through the same repository as the service (tested on both engines there)."""
    return f"sqlite:///{tmp_path / 'tocsin.db'}"


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> str:
    p = tmp_path / "tocsin.yaml"
    p.write_text(yaml.safe_dump({"server": {"var_dir": str(tmp_path / "var")}, "database": {"url": db_url},
                                 "oncall": ONCALL, "escalation": {"policies": POLICIES, "route": ROUTE}}))
    return str(p)


def out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_route_test_without_a_database_says_windows_were_not_checked(config: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "test", "--config", config, "--at", "2026-11-29T01:30:00Z", "severity=critical"]) == 0
    assert "maintenance windows not checked: no database at" in out(capsys)


def test_add_list_end_and_route_test(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--config", config]) == 0
    out(capsys)
    assert main(["window", "add", "--config", config, "--match", 'alertname="HighErrorRate"',
                 "--match", 'namespace=~"shop.*"', "--for", "2h", "--comment", "deploy", "--by", "alice"]) == 0
    assert "window #1 (deploy) created by alice" in out(capsys)
    assert main(["window", "add", "--config", config, "--match", "namespace=shop", "--every", "sun",
                 "--between", "02:00-04:00", "--tz", "Europe/Berlin", "--comment", "weekly patching"]) == 0
    assert "every sun 02:00-04:00 Europe/Berlin" in out(capsys)
    assert main(["window", "list", "--config", config]) == 0
    listed = out(capsys).splitlines()
    assert listed[0].startswith("#2 [") and "weekly patching" in listed[0]
    assert listed[1].startswith("#1 [active]") and 'namespace=~"shop.*"' in listed[1] and "by alice" in listed[1]

    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert main(["route", "test", "--config", config, "--at", soon, "severity=critical", "alertname=HighErrorRate",
                 "namespace=shop-eu"]) == 0
    assert "suppressed by maintenance window #1 (deploy) until " in out(capsys)
    # Sunday 2026-11-29 02:30 in Berlin (01:30 UTC) is inside the weekly slot, which ends at 04:00 CET
    assert main(["route", "test", "--config", config, "--at", "2026-11-29T01:30:00Z", "severity=critical",
                 "namespace=shop"]) == 0
    assert ("suppressed by maintenance window #2 (weekly patching) until 2026-11-29T03:00:00+00:00"
            in out(capsys))
    assert main(["route", "test", "--config", config, "--at", "2026-11-29T01:30:00Z", "severity=critical",
                 "namespace=billing"]) == 0
    assert "suppressed" not in out(capsys)

    assert main(["window", "end", "--config", config, "1", "--by", "bob"]) == 0
    assert "window #1 (deploy) ended by bob; held escalation released for 0" in out(capsys)
    assert main(["window", "list", "--config", config]) == 0
    assert "#1" not in out(capsys)
    assert main(["window", "list", "--config", config, "--all"]) == 0
    assert "#1 [over]" in out(capsys)
    with pytest.raises(SystemExit, match="window #1 is already over"):
        main(["window", "end", "--config", config, "1"])
    with pytest.raises(SystemExit, match="no window #9"):
        main(["window", "end", "--config", config, "9"])


@pytest.mark.parametrize(("args", "message"), [
    (["--match", 'namespace="shop', "--for", "2h"], "matcher 'namespace=\"shop': value '\"shop' has an "
                                                    "unterminated quote"),
    (["--for", "2h"], "matchers: give at least one"),
    (["--match", "namespace=shop", "--from", "2026-12-06T04:00:00Z", "--to", "2026-12-06T02:00:00Z"],
     "is not after starts_at"),
    (["--match", "namespace=shop", "--from", "2026-12-06T02:00", "--for", "1h"], "give a time zone"),
    (["--match", "namespace=shop", "--every", "sun"], "needs --every DAYS and --between"),
    (["--match", "namespace=shop", "--every", "sun", "--between", "0200"], "use HH:MM-HH:MM"),
    (["--match", "namespace=shop", "--every", "sun", "--between", "02:00-04:00", "--tz", "Europe/Nowhere"],
     "unknown time zone 'Europe/Nowhere'"),
])
def test_bad_windows_are_refused_with_the_reason(config: str, args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["window", "add", "--config", config, *args])
    assert message in str(exc.value)
