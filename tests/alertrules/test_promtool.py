"""The rule packs through Debian's promtool: `check rules` on every pack, `test rules` on every test file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.procs import PROMTOOL
from tools.gen_rules import Pack


def test_promtool_check_rules_accepts_every_pack(packs: list[Pack]) -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", *(str(p.path) for p in packs)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(packs)


def test_promtool_unit_tests_pass(test_files: dict[Path, dict[str, Any]], repo: Path) -> None:
    """Every test file once; the files are split over one promtool per core (it runs them one by one)."""
    names = sorted(str(p.relative_to(repo)) for p in test_files)
    ways = max(1, min(os.cpu_count() or 1, 4))
    procs = [subprocess.Popen([PROMTOOL, "test", "rules", *names[i::ways]], cwd=repo, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(ways) if names[i::ways]]
    successes = 0
    for proc in procs:
        out, err = proc.communicate()  # little output: one line per file
        assert proc.returncode == 0, out + err
        assert "WARNING" not in out + err
        successes += out.count("SUCCESS")
    assert successes == len(test_files)


def test_promtool_reports_a_wrong_expectation(tmp_path: Path, repo: Path) -> None:
    """The harness can fail: the Watchdog test with a wrong severity must not pass."""
    source = (repo / "alertrules/tests/low/meta_test.yml").read_text()
    broken = source.replace("../../low/meta.yml", str(repo / "alertrules/low/meta.yml"))
    broken = broken.replace('severity: "low"', 'severity: "critical"')
    assert broken != source
    (tmp_path / "broken_test.yml").write_text(broken)
    result = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "broken_test.yml")],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr
