"""The configuration's vocabulary: the strict base model and the value types every section shares.

Durations are spelled as in runbooks and Prometheus (remediator.durations: "500ms", "30s", "1h30m", "1w"; bare
numbers are seconds), names alike everywhere (policies, responders, schedules, teams).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from remediator.durations import PATTERN, parse_duration

__all__ = ["E164", "Duration", "Name", "Strict", "TimeZoneName", "parse_duration"]


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values cannot change after load; a field with an
    alias (`from`, `to`) may also be given by its name."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def _e164(number: str) -> str:
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", number):
        raise ValueError(f"phone number {number!r} is not E.164 (e.g. +4915112345678)")
    return number


#: A timedelta in Python; kept as a timedelta when dumped (escalation snapshots store it as seconds).
Duration = Annotated[timedelta, BeforeValidator(parse_duration),
                     WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["30s", "5m", "1h"]})]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
E164 = Annotated[str, AfterValidator(_e164)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
