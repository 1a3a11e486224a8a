"""Load runbooks from YAML; every error names the file, the line and the field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from remediator.actions import ACTIONS
from remediator.runbook import Runbook


@dataclass(frozen=True)
class Problem:
    """One error found while loading: where it is and what is wrong."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"{self.file}:{self.line}:{where} {self.message}"


class RunbookError(Exception):
    """One or more runbooks are invalid; `problems` lists each."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


def _node_at(node: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
    """The deepest YAML node along a pydantic error location (union tags in loc are skipped)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if found is None:
                continue  # a discriminator tag or a missing key: stay on the parent
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
    return node


def _duplicate_keys(node: yaml.Node, file: str, path: str = "") -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                problems.append(Problem(file, key.start_mark.line + 1, f"{path}{name}", "duplicate key"))
            seen.add(name)
            problems += _duplicate_keys(value, file, f"{path}{name}.")
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, file, f"{path}{i}.")
    return problems


def _field(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_runbook(text: str, file: str) -> Runbook:
    """Validate one runbook document; raises RunbookError with file:line: field: message."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RunbookError([Problem(file, (mark.line + 1) if mark else 1, "", f"invalid YAML: {exc}")]) from exc
    if root is None or not isinstance(data, dict):
        raise RunbookError([Problem(file, 1, "", "a runbook must be a YAML mapping")])
    problems = _duplicate_keys(root, file)
    if problems:
        raise RunbookError(problems)
    try:
        return Runbook.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = [p for p in err["loc"] if isinstance(p, int | str)]
            node = _node_at(root, loc)
            clean = [p for i, p in enumerate(loc)
                     if not (p in ACTIONS and i > 0 and isinstance(loc[i - 1], int))]
            problems.append(Problem(file, node.start_mark.line + 1, _field(clean), err["msg"]))
        raise RunbookError(problems) from exc


def runbook_files(path: Path) -> list[Path]:
    """The runbook files under path: the file itself, or *.yaml / *.yml directly in the directory."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_runbooks(path: Path) -> list[Runbook]:
    """Load and validate every runbook under path; all problems are reported at once. Ids must be unique."""
    runbooks: list[Runbook] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for file in runbook_files(path):
        try:
            runbook = parse_runbook(file.read_text(encoding="utf-8"), str(file))
        except RunbookError as exc:
            problems += exc.problems
            continue
        if runbook.id in seen:
            problems.append(Problem(str(file), 1, "id", f"duplicate id {runbook.id!r} (also in {seen[runbook.id]})"))
        seen[runbook.id] = str(file)
        runbooks.append(runbook)
    if problems:
        raise RunbookError(problems)
    return runbooks


def find_runbook(runbooks: Sequence[Runbook], ref: str) -> Runbook | None:
    """A runbook by id."""
    return next((r for r in runbooks if r.id == ref), None)
