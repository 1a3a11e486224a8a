"""Alertmanager-style label matchers (=, !=, =~, !~) with quoting and fully anchored regexes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*')
_UNQUOTED = re.compile(r'[^"{}!=~,\\\s]*')


class Op(StrEnum):
    """Matcher operators, as Alertmanager spells them."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class Matcher:
    """One label matcher; a missing label matches as the empty string, as in Alertmanager."""

    name: str
    op: Op
    value: str

    def __post_init__(self) -> None:
        if self.op in (Op.RE, Op.NRE):
            re.compile(self.value)  # fail at load, not at match

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op is Op.EQ:
            return actual == self.value
        if self.op is Op.NE:
            return actual != self.value
        found = re.fullmatch(f"(?:{self.value})", actual) is not None
        return found if self.op is Op.RE else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def _unquote(raw: str) -> str:
    if not raw.startswith('"'):
        if not _UNQUOTED.fullmatch(raw):
            raise ValueError(f"unquoted value {raw!r} contains special characters; quote it")
        return raw
    if len(raw) < 2 or not raw.endswith('"'):
        raise ValueError(f"value {raw!r} has an unterminated quote")
    out: list[str] = []
    chars = iter(raw[1:-1])
    for c in chars:
        if c == '"':
            raise ValueError(f"value {raw!r} has an unescaped quote inside")
        if c == "\\":
            nxt = next(chars, "")
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
        else:
            out.append(c)
    return "".join(out)


def parse_matcher(text: str) -> Matcher:
    """Parse 'name="value"', 'name!=value', 'name=~"re|gex"'; raises ValueError with the reason."""
    match = _MATCHER.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a matcher like name=\"value\" (operators =, !=, =~, !~)")
    name, op, raw = match.groups()
    value = _unquote(raw)
    try:
        return Matcher(name, Op(op), value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression in {text!r}: {exc}") from exc


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)
