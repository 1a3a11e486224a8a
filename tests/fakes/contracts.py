"""Check requests against the vendor contracts copied into tests/contracts (OpenAPI 3 and Slack's Swagger 2)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.fakes.server import Recorded

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads((CONTRACTS / name).read_text())


@cache
def openapi(name: str) -> OpenAPI:
    return OpenAPI.from_dict(load(name))


class _OpenApiRequest:
    """The request protocol openapi-core validates; the host is the vendor's, the rest is what we received."""

    def __init__(self, host_url: str, rec: Recorded) -> None:
        self.host_url = host_url
        self.path = rec.path
        self.method = rec.method.lower()
        self.body = rec.body
        self.content_type = rec.headers.get("content-type", "").split(";")[0].strip()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(), header=Headers(rec.headers), cookie=ImmutableMultiDict()
        )

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


def check_openapi(contract: str, host_url: str, rec: Recorded) -> list[str]:
    """Problems of `rec` against an OpenAPI 3 contract: unknown path/method, params, body schema, security."""
    try:
        openapi(contract).validate_request(_OpenApiRequest(host_url, rec))
    except Exception as exc:  # openapi-core raises a family of errors; each one is a violation
        detail = "; ".join(str(e) for e in getattr(exc, "schema_errors", ()) or ())
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        return [f"{rec.method} {rec.path}: {exc}{cause}{'; ' + detail if detail else ''}"]
    return []


# --- Slack: Swagger 2 form parameters, checked by hand --------------------------------------------------
# Slack documents blocks/attachments as "a JSON-based array ... presented as a URL-encoded string"; clients
# that send JSON bodies (slack-sdk does) pass them as arrays, so both spellings are accepted.
_JSON_ARRAY_PARAMS = {"blocks", "attachments"}


def _type_ok(value: Any, swagger_type: str, name: str, as_json: bool) -> bool:
    if swagger_type == "string":
        if isinstance(value, str):
            return True
        return as_json and name in _JSON_ARRAY_PARAMS and isinstance(value, list)
    if swagger_type == "boolean":
        return isinstance(value, bool) if as_json else value in {"true", "false", "1", "0"}
    if swagger_type == "integer":
        return isinstance(value, int) if as_json else str(value).lstrip("-").isdigit()
    return True


def check_slack(method: str, rec: Recorded) -> list[str]:
    """Problems of a Slack Web API call against the Swagger 2 subset: method known, required params, types."""
    spec = load("slack-chat.swagger2.json")
    op = spec["paths"].get(f"/{method}", {}).get(rec.method.lower())
    if op is None:
        return [f"{rec.method} /api/{method} is not in the contract"]
    as_json = isinstance(rec.json, dict)
    params: dict[str, Any] = rec.json if as_json else {k: v[0] for k, v in rec.form.items()}
    problems: list[str] = []
    declared = {p["name"]: p for p in op["parameters"]}
    for name, p in declared.items():
        if p["in"] == "header" and name == "token":
            # the contract's "token" header is sent as "Authorization: Bearer <token>" by every client
            if not rec.headers.get("authorization", "").startswith("Bearer ") and "token" not in params:
                problems.append(f"{method}: missing token")
        elif p.get("required") and name not in params:
            problems.append(f"{method}: missing required parameter {name}")
    for name, value in params.items():
        p = declared.get(name)
        if p is None:
            problems.append(f"{method}: unknown parameter {name}")
        elif not _type_ok(value, p.get("type", "string"), name, as_json):
            problems.append(f"{method}: parameter {name} is not of type {p.get('type')}")
    return problems


def check_block_kit(blocks: Any) -> list[str]:
    """Limits Slack enforces on Block Kit (it answers invalid_blocks); not in the contract but vendor behaviour."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return ["blocks: not JSON"]
    if not isinstance(blocks, list) or len(blocks) > 50:
        return ["blocks: must be a list of at most 50 blocks"]
    problems: list[str] = []
    action_ids: set[str] = set()
    for block in blocks:
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "header" and (block["text"].get("type") != "plain_text" or not 0 < len(text) <= 150):
            problems.append("header: plain_text of 1..150 characters")
        elif kind == "section":
            if not text and not block.get("fields"):
                problems.append("section: needs text or fields")
            if len(text) > 3000 or len(block.get("fields", [])) > 10:
                problems.append("section: text <= 3000, fields <= 10")
            problems += [f"section field over 2000 characters: {f['text'][:20]}"
                         for f in block.get("fields", []) if len(f["text"]) > 2000]
        elif kind == "context" and not 0 < len(block.get("elements", [])) <= 10:
            problems.append("context: 1..10 elements")
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 25:
                problems.append("actions: 1..25 elements")
            for el in elements:
                aid = el.get("action_id", "")
                if aid in action_ids or len(aid) > 255:
                    problems.append(f"actions: action_id {aid!r} duplicate or too long")
                action_ids.add(aid)
                if len(el.get("text", {}).get("text", "")) > 75 or len(el.get("value", "")) > 2000:
                    problems.append("button: text <= 75, value <= 2000")
                if len(el.get("url", "")) > 3000:
                    problems.append("button: url <= 3000")
        elif kind not in {"header", "section", "context", "actions", "divider"}:
            problems.append(f"unexpected block type {kind}")
    return problems


# --- Slack's external file upload (files_upload_v2): its own Swagger 2 subset ---------------------------------
FILES_CONTRACT = "slack-files-upload.swagger2.json"


def check_slack_files(method: str, rec: Recorded, params: dict[str, Any]) -> list[str]:
    """Problems of one step of the three-step upload against its contract; `params` are the request's
    parameters from the query string and the body together (Slack reads both).

    Adaptation (like check_slack's): the contract lists files.getUploadURLExternal under GET, and Slack takes
    every Web API method by GET or POST; slack-sdk POSTs with the parameters in the query string, so POST is
    accepted as well. Parameters, their types and the token are checked as declared.
    """
    spec = load(FILES_CONTRACT)
    if method == "<upload_url>":
        op = spec["paths"]["/<upload_url>"].get(rec.method.lower())
        if op is None:
            return [f"{rec.method} upload URL is not in the contract"]
        ctype = rec.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in op["consumes"]:
            return [f"upload URL: content type {ctype!r} not in {op['consumes']}"]
        return [] if rec.body else ["upload URL: no bytes"]
    item = spec["paths"].get(f"/{method}", {})
    op = item.get(rec.method.lower()) or (item.get("get") if rec.method == "POST" else None)
    if op is None:
        return [f"{rec.method} /api/{method} is not in the contract"]
    problems: list[str] = []
    declared = {p["name"]: p for p in op["parameters"]}
    for name, p in declared.items():
        if p["in"] == "header" and name == "token":
            if not rec.headers.get("authorization", "").startswith("Bearer ") and "token" not in params:
                problems.append(f"{method}: missing token")
        elif p.get("required") and name not in params:
            problems.append(f"{method}: missing required parameter {name}")
    for name, value in params.items():
        p = declared.get(name)
        if p is None:
            problems.append(f"{method}: unknown parameter {name}")
        elif not _type_ok(value, p.get("type", "string"), name, isinstance(rec.json, dict)):
            problems.append(f"{method}: parameter {name} is not of type {p.get('type')}")
    if method == "files.completeUploadExternal" and "files" in params:
        try:
            files = json.loads(str(params["files"]))
        except ValueError:
            files = None
        if not isinstance(files, list) or not 0 < len(files) <= 100 or \
                not all(isinstance(f, dict) and isinstance(f.get("id"), str) for f in files):
            problems.append("files.completeUploadExternal: files must be a JSON array of 1..100 {id, title}")
        if params.get("thread_ts") and not params.get("channel_id"):
            problems.append("files.completeUploadExternal: thread_ts needs channel_id")
    if method == "files.getUploadURLExternal" and len(str(params.get("alt_txt") or "")) > 1000:
        problems.append("files.getUploadURLExternal: alt_txt over 1000 characters")
    return problems
