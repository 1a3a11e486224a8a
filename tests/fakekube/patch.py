"""Patch semantics of the API server: strategic merge, JSON merge (RFC 7386), JSON patch (RFC 6902); selectors."""

from __future__ import annotations

import copy
import re
from typing import Any

#: list fields merged by key in strategic merge patches (the subset our actions touch)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "conditions": "type", "ports": "containerPort", "volumeMounts": "mountPath"}


class PatchError(Exception):
    """The patch cannot be applied (the server answers 422 / 400)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch: like merge patch, but lists with a merge key merge item by item."""
    if isinstance(patch, list) and field in MERGE_KEYS and isinstance(target, list):
        key = MERGE_KEYS[field]
        out = [copy.deepcopy(item) for item in target]
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise PatchError(f"list {field} items need the merge key {key!r}")
            index = next((i for i, old in enumerate(out) if old.get(key) == item[key]), None)
            if item.get("$patch") == "delete":
                if index is not None:
                    out.pop(index)
            elif index is None:
                out.append(strategic_merge({}, item))
            else:
                out[index] = strategic_merge(out[index], item)
        return out
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = strategic_merge(out.get(key), value, key)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise PatchError(f"path segment {part!r} does not exist") from exc
    return node


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 add/remove/replace/test/copy/move on a deep copy of doc."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        if kind in ("move", "copy"):
            source = _pointer(op["from"])
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = json_patch(doc, [{"op": "remove", "path": op["from"]}])
            doc = json_patch(doc, [{"op": "add", "path": op["path"], "value": value}])
            continue
        if kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise PatchError(f"test failed at {op['path']}")
            continue
        if not parts:
            raise PatchError("cannot patch the document root")
        parent, last = _parent(doc, parts), parts[-1]
        if kind == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif kind in ("remove", "replace"):
            try:
                if isinstance(parent, list):
                    index = int(last)
                    parent.pop(index) if kind == "remove" else parent.__setitem__(index, op["value"])
                elif kind == "remove":
                    del parent[last]
                else:
                    if last not in parent:
                        raise KeyError(last)
                    parent[last] = op["value"]
            except (KeyError, IndexError, ValueError) as exc:
                raise PatchError(f"{kind}: {op['path']} does not exist") from exc
        else:
            raise PatchError(f"unknown op {kind!r}")
    return doc


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise PatchError(f"{'/'.join(parts)} does not exist") from exc
    return node


_REQ = re.compile(r"\s*(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*")


def parse_selector(text: str) -> list[tuple[str, str, set[str]]]:
    """'a=b,c!=d,e in (x,y),f,!g' -> requirements (key, op, values)."""
    requirements = []
    for part in re.split(r",(?![^(]*\))", text or ""):
        if not part.strip():
            continue
        match = _REQ.fullmatch(part)
        if match is None:
            raise PatchError(f"invalid selector {part!r}")
        neg, key, eq, value, setop, values = match.groups()
        if eq:
            requirements.append((key, "!=" if eq == "!=" else "=", {value}))
        elif setop:
            requirements.append((key, setop, {v.strip() for v in values.split(",") if v.strip()}))
        else:
            requirements.append((key, "!exists" if neg else "exists", set()))
    return requirements


def selector_matches(requirements: list[tuple[str, str, set[str]]], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        present, value = key in labels, labels.get(key)
        ok = {"=": present and value in values, "in": present and value in values,
              "!=": not present or value not in values, "notin": not present or value not in values,
              "exists": present, "!exists": not present}[op]
        if not ok:
            return False
    return True
