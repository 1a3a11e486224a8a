"""Copy the operations Tocsin calls out of the vendors' full contracts, verbatim, with what they reference.

Run from the repository root when a contract in ../shared/contracts changes:
    .venv/bin/python tests/contracts/extract.py /work/shared/contracts
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

SUBSETS = {
    # source file -> (output file, {path: [methods]})
    "slack-web-api.openapi-v2.json": (
        "slack-chat.swagger2.json", {"/chat.postMessage": ["post"], "/chat.update": ["post"]},
    ),
    "twilio-api-v2010.openapi.json": (
        "twilio-messages-calls.openapi.json",
        {"/2010-04-01/Accounts/{AccountSid}/Messages.json": ["post"],
         "/2010-04-01/Accounts/{AccountSid}/Calls.json": ["post"]},
    ),
    "pagerduty-events-v2.openapi.json": ("pagerduty-enqueue.openapi.json", {"/enqueue": ["post"]}),
}


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _put(out: dict[str, Any], ref: str, value: Any) -> None:
    parts = ref.removeprefix("#/").split("/")
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def extract(spec: dict[str, Any], wanted: dict[str, list[str]], source: str) -> dict[str, Any]:
    skip = {"paths", "definitions", "components", "tags"}
    out: dict[str, Any] = {key: value for key, value in spec.items() if key not in skip}
    out["x-tocsin-source"] = f"verbatim subset of shared/contracts/{source}, made by tests/contracts/extract.py"
    out["paths"] = {}
    for path, methods in wanted.items():
        item = spec["paths"][path]
        kept = {key: value for key, value in item.items() if key not in {"get", "post", "put", "delete", "patch"}}
        kept.update({method: item[method] for method in methods})
        out["paths"][path] = kept
    if "components" in spec and "securitySchemes" in spec["components"]:
        out.setdefault("components", {})["securitySchemes"] = spec["components"]["securitySchemes"]
    pending: set[str] = set()
    _refs(out, pending)
    done: set[str] = set()
    while pending - done:
        ref = sorted(pending - done)[0]
        done.add(ref)
        value = _resolve(spec, ref)
        _put(out, ref, value)
        _refs(value, pending)
    return out


def main(src_dir: str) -> None:
    for source, (target, wanted) in SUBSETS.items():
        spec = json.loads((Path(src_dir) / source).read_text())
        subset = extract(spec, wanted, source)
        (HERE / target).write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
        print(f"{target}: {len(json.dumps(subset))} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/contracts")
