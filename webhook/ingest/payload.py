"""Alertmanager webhook payload, version 4: what we read, validated; unknown fields ignored."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

LabelName = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
LabelValue = Annotated[str, StringConstraints(max_length=16 * 1024)]
AnnotationValue = Annotated[str, StringConstraints(max_length=256 * 1024)]

#: Alertmanager's zero time, sent as endsAt of firing alerts without an end.
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
#: The largest count the database stores (a 32-bit INTEGER column on PostgreSQL).
MAX_COUNT = 2**31 - 1


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Alert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[LabelName, LabelValue] = Field(max_length=512)
    annotations: dict[LabelName, AnnotationValue] = Field(default_factory=dict, max_length=512)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = Field("", max_length=8192)
    fingerprint: str = Field("", max_length=64)


class WebhookPayload(_Lenient):
    version: Literal["4"]
    groupKey: str = Field("", max_length=64 * 1024)
    truncatedAlerts: int = Field(0, ge=0, le=MAX_COUNT)
    status: Literal["firing", "resolved"]
    receiver: str = Field("", max_length=1024)
    groupLabels: dict[LabelName, LabelValue] = {}
    commonLabels: dict[LabelName, LabelValue] = {}
    commonAnnotations: dict[LabelName, AnnotationValue] = {}
    externalURL: str = Field("", max_length=8192)
    alerts: list[Alert] = Field(max_length=100_000)


class PayloadError(ValueError):
    """The body is not a usable webhook payload; `problems` name each offending field."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))


# --- the fast decoder ------------------------------------------------------------------------------------
# The webhook decodes with msgspec into the structs below, which carry the same constraints as the pydantic
# models above. Anything msgspec refuses, and any timestamp not in the plain RFC 3339 form Alertmanager sends,
# goes to the pydantic models instead (`parse_payload`), which accept or refuse it and name every bad field.
# So the set of accepted payloads and the stored values are the pydantic models'
# (tests/webhook/ingest/test_payload_paths.py).

_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
_Value = Annotated[str, msgspec.Meta(max_length=16 * 1024)]
_AnnValue = Annotated[str, msgspec.Meta(max_length=256 * 1024)]
_Stamp = Annotated[str, msgspec.Meta(max_length=64)]


class WireAlert(msgspec.Struct, frozen=True):
    status: Literal["firing", "resolved"]
    labels: Annotated[dict[_Name, _Value], msgspec.Meta(max_length=512)]
    startsAt: _Stamp
    annotations: Annotated[dict[_Name, _AnnValue], msgspec.Meta(max_length=512)] = {}
    endsAt: _Stamp | None = None
    generatorURL: Annotated[str, msgspec.Meta(max_length=8192)] = ""
    fingerprint: Annotated[str, msgspec.Meta(max_length=64)] = ""


class WirePayload(msgspec.Struct, frozen=True):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: Annotated[list[WireAlert], msgspec.Meta(max_length=100_000)]
    groupKey: Annotated[str, msgspec.Meta(max_length=64 * 1024)] = ""
    truncatedAlerts: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)] = 0
    receiver: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    groupLabels: dict[_Name, _Value] = {}
    commonLabels: dict[_Name, _Value] = {}
    commonAnnotations: dict[_Name, _AnnValue] = {}
    externalURL: Annotated[str, msgspec.Meta(max_length=8192)] = ""


_DECODER = msgspec.json.Decoder(WirePayload)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d\d):(\d\d))", re.ASCII)
_STAMPS: dict[str, datetime] = {}


class SlowPath(ValueError):
    """The fast decoder cannot vouch for this body; validate it with the pydantic models."""


def decode_fast(body: bytes) -> WirePayload:
    """Decode a webhook body with msgspec; raise SlowPath for anything it does not accept as is."""
    try:
        return _DECODER.decode(body)
    except msgspec.MsgspecError as exc:
        raise SlowPath(str(exc)) from exc


def stamp(text: str) -> datetime:
    """An RFC 3339 timestamp as UTC, fractions cut to microseconds as pydantic does (not rounded).

    Raises SlowPath for anything else (no zone, other separators, impossible dates), which pydantic then judges.
    Recent values are memoised: re-sends and the alerts of one group repeat them.
    """
    got = _STAMPS.get(text)
    if got is not None:
        return got
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise SlowPath(f"timestamp {text[:64]!r}")
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    try:
        tz = UTC if z else timezone((-1 if sign == "-" else 1) * timedelta(hours=int(oh), minutes=int(om)))
        value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0")[:6].ljust(6, "0")),
                         tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise SlowPath(f"timestamp {text[:64]!r}") from exc
    if len(_STAMPS) >= 65536:
        _STAMPS.clear()
    _STAMPS[text] = value
    return value


def fingerprint_of(fingerprint: str, labels: dict[str, str]) -> str:
    """Fingerprint as sent, else derived from the labels like Alertmanager does (stable hash)."""
    if fingerprint:
        return fingerprint
    h = hashlib.sha256()
    for k in sorted(labels):
        h.update(k.encode())
        h.update(b"\xff")
        h.update(labels[k].encode())
        h.update(b"\xff")
    return h.hexdigest()[:16]


def parse_payload(body: bytes) -> WebhookPayload:
    """Parse and validate a webhook body in one pass (pydantic-core), naming fields on failure."""
    try:
        return WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False)[:20]:
            field = ".".join(str(p) for p in err["loc"]) or "<body>"
            msg = "not valid JSON" if err["type"] == "json_invalid" else err["msg"]
            problems.append({"field": field, "message": msg})
        raise PayloadError(problems) from exc


def nul_problems(payload: WebhookPayload | WirePayload) -> list[dict[str, str]]:
    """Fields holding a NUL character, which valid JSON may carry (\\u0000) but PostgreSQL cannot store in text
    or jsonb: refused up front, naming the field, instead of failing the commit (and every retry) later."""
    msg = "contains a NUL character (\\u0000), which cannot be stored"
    out = [{"field": name, "message": msg} for name in ("receiver", "groupKey") if "\x00" in getattr(payload, name)]
    for i, a in enumerate(payload.alerts):
        for part in ("labels", "annotations"):
            for k, v in getattr(a, part).items():
                if "\x00" in k or "\x00" in v:
                    out.append({"field": f"alerts.{i}.{part}.{k.replace(chr(0), '?')}", "message": msg})
        for name in ("generatorURL", "fingerprint"):
            if "\x00" in getattr(a, name):
                out.append({"field": f"alerts.{i}.{name}", "message": msg})
    return out[:20]
