"""`tocsin runbook validate|plan|test|schema`: check, preview and test runbooks without a cluster."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from remediator.casetest import case_files, run_cases
from remediator.engine import Alert
from remediator.loader import RunbookError, find_runbook, load_runbooks, parse_runbook
from remediator.plan import OWNER_KINDS, make_plan
from remediator.runbook import SCHEMA_MODELINE, json_schema_text
from remediator.settings import EngineSettings

DEFAULT_DIR = Path("runbooks")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tocsin runbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="load and check runbooks (file or directory)")
    validate.add_argument("path", nargs="?", type=Path, default=DEFAULT_DIR)
    plan = sub.add_parser("plan", help="show what a runbook would do for an alert; touches nothing")
    plan.add_argument("runbook", help="runbook file, or id of a runbook in --dir")
    plan.add_argument("--alert", type=Path, required=True,
                      help="JSON: an alert {labels, annotations} or an Alertmanager webhook payload")
    plan.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    plan.add_argument("--owner", type=_owner, metavar="KIND/NAME",
                      help="the workload owning the alert's pod (Deployment/web, StatefulSet/db) for runbooks with "
                           "workload_from_pod; default: read from the pod's name (a run asks the API server)")
    test = sub.add_parser("test", help="run the test cases in <dir>/tests/*.yaml")
    test.add_argument("path", nargs="?", type=Path, default=DEFAULT_DIR)
    schema = sub.add_parser("schema", help="write the JSON Schema editors use")
    schema.add_argument("--output", type=Path, default=DEFAULT_DIR / "schema.json")
    schema.add_argument("--check", action="store_true", help="fail if the file is not current")
    return parser


def _owner(text: str) -> str:
    kind, _, name = text.partition("/")
    if kind not in OWNER_KINDS or not name:
        raise argparse.ArgumentTypeError(f"expected Deployment/NAME or StatefulSet/NAME, not {text!r}")
    return text


def _validate(path: Path, out: TextIO) -> int:
    try:
        runbooks = load_runbooks(path)
    except RunbookError as exc:
        print(exc, file=out)
        return 1
    files = [path] if path.is_file() else sorted(path.glob("*.y*ml"))
    missing = [str(f) for f in files if not f.read_text(encoding="utf-8").startswith(SCHEMA_MODELINE)]
    for name in missing:
        print(f"{name}:1: first line must be {SCHEMA_MODELINE!r}", file=out)
    print(f"{len(runbooks)} runbook(s) valid" if not missing else "", file=out)
    return 1 if missing else 0


def _alerts(path: Path) -> list[Alert]:
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("alerts", [data]) if isinstance(data, dict) else data
    return [Alert({str(k): str(v) for k, v in a.get("labels", {}).items()},
                  {str(k): str(v) for k, v in a.get("annotations", {}).items()},
                  str(a.get("fingerprint", "")), str(a.get("startsAt", ""))) for a in items]


def _plan(ref: str, alert_path: Path, directory: Path, owner: str | None, out: TextIO) -> int:
    try:
        candidate = Path(ref)
        if candidate.is_file():
            runbook = parse_runbook(candidate.read_text(encoding="utf-8"), str(candidate))
        else:
            found = find_runbook(load_runbooks(directory), ref)
            if found is None:
                print(f"no runbook {ref!r} in {directory}", file=out)
                return 2
            runbook = found
    except RunbookError as exc:
        print(exc, file=out)
        return 1
    refused = False
    for alert in _alerts(alert_path):
        plan = asyncio.run(make_plan(runbook, alert, EngineSettings(), owner))
        refused = refused or plan.refused is not None or not plan.matches
        out.write(plan.render())
    return 1 if refused else 0


def _test(path: Path, out: TextIO) -> int:
    try:
        runbooks = load_runbooks(path)
        results = asyncio.run(run_cases(runbooks, case_files(path)))
    except (RunbookError, ValueError) as exc:
        print(exc, file=out)
        return 1
    for result in results:
        print(f"{'ok  ' if result.passed else 'FAIL'} {result.runbook}: {result.case}", file=out)
        for problem in result.problems:
            print(f"     {problem}", file=out)
    untested = sorted({r.id for r in runbooks} - {r.runbook for r in results})
    for runbook_id in untested:
        print(f"FAIL {runbook_id}: no test cases (add {path}/tests/{runbook_id}.yaml)", file=out)
    failed = sum(1 for r in results if not r.passed) + len(untested)
    print(f"{len(results) - failed + len(untested)} passed, {failed} failed", file=out)
    return 1 if failed else 0


def _schema(output: Path, check: bool, out: TextIO) -> int:
    text = json_schema_text()
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is out of date; run `tocsin runbook schema`", file=out)
            return 1
        print(f"{output} is current", file=out)
        return 0
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}", file=out)
    return 0


def main(argv: list[str], out: TextIO | None = None) -> int:
    """Entry point of `tocsin runbook ...` and `python -m remediator ...`; returns the exit status."""
    stream = out or sys.stdout
    args = _parser().parse_args(argv)
    if args.command == "validate":
        return _validate(args.path, stream)
    if args.command == "plan":
        return _plan(args.runbook, args.alert, args.dir, args.owner, stream)
    if args.command == "test":
        return _test(args.path, stream)
    return _schema(args.output, args.check, stream)
