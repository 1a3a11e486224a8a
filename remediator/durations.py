"""Prometheus-style durations ("30s", "5m", "1h30m") as a pydantic type with a JSON Schema pattern.

The one duration grammar of Tocsin: runbooks and tocsin.yaml (webhook.config.types) spell time alike. It is
Prometheus's (units w, d, h, m, s, ms, each at most once, largest first; "0" alone), without years.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
PATTERN = r"^(0|(?=[0-9])([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"


def parse_duration(value: object) -> timedelta:
    """Accept "90s", "5m", "1h30m" (and timedelta / seconds as numbers from Python callers)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{value!r} is not a duration: it must not be negative")
        return timedelta(seconds=value)
    if not isinstance(value, str) or not re.fullmatch(PATTERN, value):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m, 1h30m (invalid duration: units w d h m s ms, "
                         "each once, largest first)")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(value)))


def format_duration(value: timedelta) -> str:
    """The shortest Prometheus-style spelling of value (whole seconds)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["30s", "5m", "1h"]}),
]
