"""`tocsin report`: formats, output file, progress on stderr, clear errors (exit 2) and the empty period."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.webhook.report.history import END, ONCALL, START, generate, write
from webhook.cli import main
from webhook.report.cli import ProgressBar
from webhook.store.db import make_engine
from webhook.store.migrate import upgrade

PERIOD = ["--from", START.date().isoformat(), "--to", END.date().isoformat()]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'tocsin.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        write(conn, generate(count=40))
    engine.dispose()
    path = tmp_path / "tocsin.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": url}, "oncall": ONCALL}))
    return path


def test_json_to_a_file_with_a_progress_line_per_step(config: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert main(["report", "--config", str(config), *PERIOD, "--format", "json", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["period"] == {"from": START.isoformat(), "to": END.isoformat()}
    assert report["totals"]["incidents"] == 40 + 5  # the random ones and five hand-placed inside the period
    err = capsys.readouterr().err
    assert "report: step 1/4 incidents: 45 rows read" in err and "step 4/4 feedback" in err
    assert f"report written to {out}" in err


def test_markdown_and_html_with_inline_svg_charts(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--config", str(config), *PERIOD, "--format", "md", "--team", "payments"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# Alert-quality report") and "(team payments)" in md and "## Noisiest rules" in md
    assert main(["report", "--config", str(config), *PERIOD, "--zone", "Europe/Berlin"]) == 0
    html = capsys.readouterr().out
    assert html.startswith("<!doctype html>") and html.count("<svg") == 3
    assert "hour (Europe/Berlin)" in html
    assert "src=" not in html and 'href="http' not in html and "@import" not in html  # loads nothing


def test_an_empty_period_says_so_and_gives_an_empty_report(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--config", str(config), "--from", "2020-01-01", "--to", "2020-02-01",
                 "--format", "json"]) == 0
    cap = capsys.readouterr()
    assert "no incidents between 2020-01-01T00:00:00+00:00 and 2020-02-01T00:00:00+00:00" in cap.err
    report = json.loads(cap.out)
    assert report["totals"]["incidents"] == 0 and report["by_rule"] == [] and report["noisiest"] == []


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "/nonexistent/tocsin.yaml"], "config file /nonexistent/tocsin.yaml not found"),
    (["--since", "3x"], "--since: '3x' is not a duration"),
    (["--from", "2026-11-01", "--to", "2026-10-01"], "the period is empty"),
    (["--from", "2026-11-01T08:00"], "needs a time zone"),
    (["--from", "yesterday"], "is not a date or time"),
    (["--since", "7d", "--from", "2026-11-01"], "either --since or --from/--to"),
    (["--zone", "Mars/Olympus"], "is not an IANA time zone"),
])
def test_bad_input_is_a_clear_error_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     args: list[str], message: str) -> None:
    config = tmp_path / "tocsin.yaml"  # checked before the database is opened: none is needed
    config.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{tmp_path / 'unused.db'}"}}))
    argv = ["report", *(["--config", str(config)] if "--config" not in args else []), *args]
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert message in cap.err and cap.out == ""


def test_an_unmigrated_database_is_named_with_the_command_that_fixes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{tmp_path / 'empty.db'}"}}))
    assert main(["report", "--config", str(path)]) == 1
    assert f"run `tocsin db upgrade --config {path}`" in capsys.readouterr().err


class _Tty:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_on_a_terminal_the_progress_is_one_bar_redrawn_in_place() -> None:
    out, ticks = _Tty(), iter(range(100))
    bar = ProgressBar(out, tty=True, clock=lambda: float(next(ticks)))  # type: ignore[arg-type]
    for step in ("incidents", "timeline", "pages", "feedback"):
        bar(step, 10)
    frames = out.text.split("\r")[1:]
    assert len(frames) == 4 and out.text.count("\n") == 1
    assert frames[0].startswith("report [#####               ] 1/4 incidents: 10 rows")
    assert frames[-1].startswith("report [####################] 4/4 feedback")
