"""Load YAML and map a validation error location back to the file line it came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


@dataclass(frozen=True)
class ConfigErrorItem:
    """One problem in a YAML file: where (file, line, dotted field) and what."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '<root>'}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; carries every problem found, not just the first."""

    def __init__(self, items: Sequence[ConfigErrorItem]) -> None:
        self.items = list(items)
        super().__init__("\n".join(str(i) for i in self.items))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path, max_bytes: int = 8 * 1024 * 1024) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file strictly (safe loader, unique keys, size cap); return (data, node tree)."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigErrorItem(name, None, "", f"cannot read file: {exc.strerror}")]) from exc
    if len(raw) > max_bytes:
        raise ConfigError([ConfigErrorItem(name, None, "", f"file larger than {max_bytes} bytes")])
    try:
        text = raw.decode("utf-8")
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigErrorItem(name, None, "", f"not UTF-8: {exc.reason}")]) from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError([ConfigErrorItem(name, line, "", f"invalid YAML: {exc.problem}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigErrorItem(name, None, "", f"invalid YAML: {exc}")]) from exc
    return data, node


def line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the deepest node found along loc (pydantic error location)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            continue  # union tags and similar pydantic-only loc parts
        line = node.start_mark.line + 1
    return line


def errors_from_validation(exc: ValidationError, file: str, node: yaml.Node | None) -> ConfigError:
    """Turn a pydantic ValidationError into file:line: field: message items."""
    items = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc)
        items.append(ConfigErrorItem(file, line_of(node, loc), dotted, err["msg"]))
    return ConfigError(items)
