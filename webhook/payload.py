"""Alertmanager webhook payload, version 4: what we read, validated; unknown fields ignored."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

LabelName = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
LabelValue = Annotated[str, StringConstraints(max_length=16 * 1024)]
AnnotationValue = Annotated[str, StringConstraints(max_length=256 * 1024)]

#: Alertmanager's zero time, sent as endsAt of firing alerts without an end.
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


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

    def identity(self) -> str:
        """Fingerprint as sent, else derived from the labels like Alertmanager does (stable hash)."""
        if self.fingerprint:
            return self.fingerprint
        h = hashlib.sha256()
        for k in sorted(self.labels):
            h.update(k.encode())
            h.update(b"\xff")
            h.update(self.labels[k].encode())
            h.update(b"\xff")
        return h.hexdigest()[:16]


class WebhookPayload(_Lenient):
    version: Literal["4"]
    groupKey: str = Field("", max_length=64 * 1024)
    truncatedAlerts: int = Field(0, ge=0)
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
