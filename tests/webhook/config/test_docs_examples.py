"""The YAML examples of the channel, schedule, escalation and remediation docs are one valid config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.cli import main

DOCS = Path(__file__).resolve().parents[3] / "docs"
#: Every config example of these pages; runbooks.md also holds runbook files, only its config blocks count.
PAGES = ("channels.md", "schedules.md", "escalation.md", "runbooks.md")
SECTIONS = {"channels", "oncall", "escalation", "remediation"}
_BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(page: str) -> list[str]:
    """The page's yaml blocks; one starting indented continues the block before it (schedules under oncall)."""
    out: list[str] = []
    for text in _BLOCK.findall((DOCS / page).read_text()):
        if text.startswith(" ") and out:
            out[-1] += text
        else:
            out.append(text)
    return out


def merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def config_blocks() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for page in PAGES:
        for text in blocks(page):
            data = yaml.safe_load(text)
            assert isinstance(data, dict), (page, text)
            if set(data) & SECTIONS:
                assert set(data) <= SECTIONS, (page, sorted(data))
                found.append((page, data))
    return found


def test_no_example_relies_on_placeholder_expansion_the_loader_does_not_do() -> None:
    for page in PAGES:
        for text in blocks(page):
            assert "${" not in text, (page, text)


def test_every_config_example_validates_with_tocsin_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    examples = config_blocks()
    assert {page for page, _ in examples} == set(PAGES)
    merged: dict[str, Any] = {}
    for _, data in examples:
        merge(merged, data)
    assert set(merged) == SECTIONS
    # the secrets the docs say come from the environment, under the names the docs give
    names = set(re.findall(r"TOCSIN_CHANNELS__[A-Z_]*[A-Z](?![A-Z_<])", (DOCS / "channels.md").read_text()))
    assert "TOCSIN_CHANNELS__SLACK__TOKEN" in names and len(names) >= 5
    for name in names:
        monkeypatch.setenv(name, "secret-from-the-environment")
    path = tmp_path / "tocsin.yaml"
    path.write_text(yaml.safe_dump(merged))
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    for name in names:  # without them the channel examples are incomplete: the variables are the mechanism
        monkeypatch.delenv(name)
    assert main(["check", str(path)]) == 1
    assert "token" in capsys.readouterr().err
