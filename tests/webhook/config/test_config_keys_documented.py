"""Every key of tocsin.yaml has a line in examples/tocsin.yaml or in docs/*.md.

Keys are walked from the models (TocsinConfig and everything it nests: models, Optional models, lists and
tuples of models; a dict-valued field is one key, its entries are the user's names). A key is written as its
dotted path with `[]` after a list, the YAML name of aliased fields: `escalation.delivery.lease`,
`remediation.cluster.insecure`, `oncall.schedules[].layers[].handoff`, `escalation.route.continue`. A model that
contains itself (`Route.routes`) is one key there, not walked again.

A key counts as documented when one of these holds (the rule the failure message repeats):

1. YAML: its full path occurs in examples/tocsin.yaml or in a ```yaml block of docs/*.md whose top-level keys
   are config sections (a block starting indented continues the block before it). Commented-out config lines
   count as if uncommented: `# ` written at the key's own column, block style (`#   token_file: ...` under
   `# - name: ...`). Prose comments must not start with `lowercase_word:`. YAML below a recursion
   (`escalation.route.routes[].matchers`) counts for the key where the model was first met
   (`escalation.route.matchers`).
2. Prose: a backticked span in docs/*.md holds the key as a dotted name of at least `parent.key` (more of the
   path is fine, `[]` optional): `remediation.tick_interval`, `cluster.insecure`, `api_tokens[].token`,
   `escalation.noise.team_label`. A bare `insecure` does not count: the section must be clear.
"""

from __future__ import annotations

import contextlib
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from webhook.config import TocsinConfig
from webhook.config.remediation import RemediationConfig

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "tocsin.yaml"
DOCS = REPO / "docs"
SECTIONS = frozenset(TocsinConfig.model_fields)

# --- the keys of the models ------------------------------------------------------------------------------


def _yaml_name(name: str, field: Any) -> str:
    return str(field.alias) if field.alias else name


def _walk_type(tp: Any, path: str, seen: tuple[tuple[type, str], ...], aliases: dict[str, str]) -> Iterator[str]:
    """Keys below `path` reached through the annotation `tp` (not `path` itself)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        yield from _walk_type(args[0], path, seen, aliases)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                yield from _walk_type(arg, path, seen, aliases)
    elif origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return  # a dict-valued field is one key: its keys are the user's names
    elif origin is not None and isinstance(origin, type) and issubclass(origin, (Sequence, set, frozenset)) \
            and not issubclass(origin, str):
        for arg in args:
            if arg is not Ellipsis:
                yield from _walk_type(arg, path + "[]", seen, aliases)
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        outer = next((at for model, at in seen if model is tp), None)
        if outer is not None:  # a model inside itself (Route.routes): its keys are those listed at `outer`
            aliases[path] = outer
            return
        yield from _model_keys(tp, path, (*seen, (tp, path)), aliases)


def _model_keys(model: type[BaseModel], prefix: str, seen: tuple[tuple[type, str], ...],
                aliases: dict[str, str]) -> Iterator[str]:
    for name, field in model.model_fields.items():
        path = f"{prefix}.{_yaml_name(name, field)}" if prefix else _yaml_name(name, field)
        yield path
        yield from _walk_type(field.annotation, path, seen, aliases)


def config_keys(root: type[BaseModel] = TocsinConfig) -> list[str]:
    """Every dotted key path of `root` and what it nests, in declaration order."""
    return list(dict.fromkeys(_model_keys(root, "", ((root, ""),), {})))


def recursion_aliases(root: type[BaseModel] = TocsinConfig) -> dict[str, str]:
    """Where a model recurs, the path of the recursion and the path of its keys:
    {"escalation.route.routes[]": "escalation.route"}; YAML below the first is read as below the second."""
    aliases: dict[str, str] = {}
    for _ in _model_keys(root, "", ((root, ""),), aliases):
        pass
    return aliases


# --- the keys written in YAML (example and doc blocks), commented-out lines included -----------------------

_KEY_LINE = re.compile(r"^(\s*)((?:-\s+)*)([a-z_][a-z0-9_]*):(?:\s|$)")
_COMMENTED = re.compile(r"^(\s*)# (.*)$")


def _strip_comment(text: str) -> str:
    """The line without a trailing `# comment` (a # inside quotes, as in "#alerts", stays)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    return text


def _flow_balance(text: str) -> int:
    depth, quote = 0, None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return depth


def _uncommented(line: str) -> str:
    m = _COMMENTED.match(line)
    return m[1] + m[2] if m else line


def _line_paths(text: str, prefix: str = "") -> set[str]:
    """Block-style keys by indentation, commented-out lines uncommented (`# ` removed at the key's column).
    Lines inside a flow collection ({...} spanning lines) are skipped; the YAML parser reads those."""
    found: set[str] = set()
    stack: list[tuple[int, str, bool]] = []  # (column, path, is a list item)
    depth = 0
    for raw in text.splitlines():
        line = _strip_comment(_uncommented(raw))
        inside, depth = depth > 0, depth + _flow_balance(line)
        m = None if inside else _KEY_LINE.match(line)
        if m is None:
            continue
        col, dashes, key = len(m[1]), m[2], m[3]
        if dashes:
            while stack and (stack[-1][0] > col or (stack[-1][0] == col and stack[-1][2])):
                stack.pop()
            item = (stack[-1][1] if stack else prefix) + "[]" * dashes.count("-")
            stack.append((col, item, True))
            col += len(dashes)
        while stack and stack[-1][0] >= col:
            stack.pop()
        parent = stack[-1][1] if stack else prefix
        path = f"{parent}.{key}" if parent else key
        found.add(path)
        stack.append((col, path, False))
    return found


def _data_paths(data: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _data_paths(value, path)
    elif isinstance(data, list):
        for item in data:
            yield from _data_paths(item, prefix + "[]")


def yaml_paths(text: str) -> set[str]:
    """Key paths of a YAML text: parsed (flow style too) plus its commented-out block-style lines."""
    found = _line_paths(text)
    with contextlib.suppress(yaml.YAMLError):  # a fragment that does not parse: the line reading covers it
        found |= set(_data_paths(yaml.safe_load(text)))
    return found


_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def doc_yaml_blocks(page: str) -> list[str]:
    """The config blocks of a page: yaml fences whose top-level keys are config sections."""
    blocks: list[str] = []
    for lang, text in _FENCE.findall(page):
        if lang != "yaml":
            continue
        if text.startswith(" ") and blocks:
            blocks[-1] += text
        else:
            blocks.append(text)
    return [b for b in blocks if (m := _KEY_LINE.match(b.lstrip("\n"))) and m[3] in SECTIONS]


def doc_spans(page: str) -> list[str]:
    """Backticked spans outside fenced blocks."""
    return re.findall(r"`([^`\n]+)`", _FENCE.sub("", page))


# --- the rule ----------------------------------------------------------------------------------------------

_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\[\])?(?:\.[A-Za-z_]\w*(?:\[\])?)*")


def _dotted_names(spans: list[str]) -> set[tuple[str, ...]]:
    return {tuple(tok.replace("[]", "").split(".")) for span in spans for tok in _DOTTED.findall(span)}


def _unrecursed(path: str, aliases: Mapping[str, str]) -> str:
    """`escalation.route.routes[].routes[].matchers` -> `escalation.route.matchers`."""
    changed = True
    while changed:
        changed = False
        for inner, outer in aliases.items():
            if path == inner or path.startswith(inner + "."):
                path, changed = outer + path[len(inner):], True
    return path


class Sources:
    """What the example and the docs write: key paths in YAML, dotted names in backticks."""

    def __init__(self, example: str, pages: Mapping[str, str], aliases: Mapping[str, str] | None = None) -> None:
        aliases = recursion_aliases() if aliases is None else aliases
        written = yaml_paths(example)
        for page in pages.values():
            for block in doc_yaml_blocks(page):
                written |= yaml_paths(block)
        self.yaml = {_unrecursed(p, aliases) for p in written}
        self.names = _dotted_names([s for page in pages.values() for s in doc_spans(page)])

    def documents(self, key: str) -> bool:
        if key in self.yaml:
            return True
        parts = tuple(key.replace("[]", "").split("."))
        need = min(2, len(parts))
        return any(parts[-n:] in self.names for n in range(need, len(parts) + 1))


def shipped_sources() -> Sources:
    return Sources(EXAMPLE.read_text(), {p.name: p.read_text() for p in sorted(DOCS.glob("*.md"))})


def undocumented(keys: list[str], sources: Sources) -> list[str]:
    return [k for k in keys if not sources.documents(k)]


RULE = ("a key is documented by its full path in examples/tocsin.yaml or a ```yaml config block of docs/*.md "
        "(commented-out lines count), or by `parent.key` (or more of its path) in backticks in docs/*.md")


def assert_documented(keys: list[str], sources: Sources) -> None:
    missing = undocumented(keys, sources)
    if missing:  # raised, not asserted: the message stays exactly this (one key a line)
        raise AssertionError(f"{len(missing)} of {len(keys)} config keys are undocumented ({RULE}):\n  "
                             + "\n  ".join(missing))


def test_every_config_key_is_documented_in_the_example_or_the_docs() -> None:
    assert_documented(config_keys(), shipped_sources())


# --- the rule itself is strict enough -------------------------------------------------------------------------

class _Knobs(BaseModel):
    turbo: bool = False


class _RemediationPlus(RemediationConfig):
    surprise_knob: int = 0
    extra: list[_Knobs] = []
    labels_by_name: dict[str, _Knobs] = {}


class _ConfigPlus(BaseModel):
    remediation: _RemediationPlus = _RemediationPlus()


def test_a_new_undocumented_key_is_reported() -> None:
    """A field added to a section (a scalar, a list of models, a dict) fails the check and is named."""
    real, keys = set(config_keys()), config_keys(_ConfigPlus)
    added = ["remediation.surprise_knob", "remediation.extra", "remediation.extra[].turbo",
             "remediation.labels_by_name"]
    assert [k for k in keys if k not in real] == added
    assert [k for k in undocumented(keys, shipped_sources()) if k not in real] == added
    with pytest.raises(AssertionError) as failure:
        assert_documented(keys, shipped_sources())
    listed = str(failure.value).splitlines()[1:]
    assert [line for line in listed if line.strip() not in real] == [f"  {k}" for k in added], failure.value


def test_the_walk_reaches_nested_optional_and_listed_models_once_each() -> None:
    keys = config_keys()
    assert len(keys) == len(set(keys)) > 150
    for key in ("escalation.delivery.lease", "channels.slack.base_url", "remediation.cluster.insecure",
                "oncall.schedules[].layers[].handoff", "oncall.schedules[].swaps[].first.at",
                "escalation.policies[].digest.targets[].via", "escalation.route.continue",
                "escalation.route.routes", "oncall.schedules[].layers[].restrictions[].from",
                "auth.api_tokens[].token", "channels.pagerduty.services"):
        assert key in keys, key
    assert not [k for k in keys if k.startswith(("channels.pagerduty.services.", "escalation.route.routes[]"))]


def test_the_matching_rule() -> None:
    example = ("channels:\n  locale: en\n  # slack:\n  #   base_url: x   # GovSlack\n"
               "auth:\n  # api_tokens:\n  #   - name: ci\n  #     token: abc\n"
               "oncall:\n  responders:\n    - {name: a, email: a@x,\n       phone: '+1'}\n")
    page = ("Use `remediation.tick_interval` and `cluster.insecure`; not `insecure` or `dry_run` alone.\n"
            "```yaml\nescalation:\n  noise:\n    # team_label: team\n```\n"
            "```yaml\nescalation:\n  route:\n    routes:\n      - name: a\n        routes: [{continue: true}]\n```\n"
            "```yaml\nid: a-runbook\nsafety:\n  cooldown: 5m\n```\n")
    src = Sources(example, {"p.md": page})
    documented = ["channels.locale", "channels.slack", "channels.slack.base_url", "auth.api_tokens",
                  "auth.api_tokens[].name", "auth.api_tokens[].token", "oncall.responders[].email",
                  "oncall.responders[].phone", "remediation.tick_interval", "remediation.cluster.insecure",
                  "escalation.noise.team_label", "escalation.route.name", "escalation.route.continue"]
    assert undocumented(documented, src) == []
    not_documented = ["channels.slack.token", "auth.api_tokens[].token_file", "oncall.responders[].slack_user",
                      "remediation.dry_run", "server.insecure", "remediation.safety.cooldown",
                      "escalation.noise.storm_hold", "escalation.route.matchers"]
    assert undocumented(not_documented, src) == not_documented


def test_the_commented_out_remediation_section_of_the_example_is_complete_and_shows_the_defaults() -> None:
    """examples/tocsin.yaml documents remediation as a commented-out section: uncommented, it is the default."""
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index("# remediation:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(_uncommented(line))
    data = yaml.safe_load("\n".join(block))["remediation"]
    assert RemediationConfig.model_validate(data) == RemediationConfig()
    written = set(_data_paths(data, "remediation"))
    assert [k for k in config_keys() if k.startswith("remediation.") and k not in written] == []
