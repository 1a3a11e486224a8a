"""Everything about a webhook payload that needs no database: decoding, identities, incident keys, severity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from webhook.config import TocsinConfig
from webhook.incidents.model import (
    incident_key,
    key_labels_for,
    severity_of,
)
from webhook.ingest.payload import (
    ZERO_TIME,
    PayloadError,
    SlowPath,
    WebhookPayload,
    WirePayload,
    decode_fast,
    fingerprint_of,
    nul_problems,
    parse_payload,
    stamp,
)
from webhook.store.raw import json_text


def prepare(payload: WebhookPayload | WirePayload, cfg: TocsinConfig) -> PreparedPayload:
    """Everything about a payload that needs no database: identities, incident keys, severity.

    A fast-decoded payload carries its timestamps as text (`stamp` raises SlowPath for one that needs the
    pydantic models); a pydantic one carries datetimes.
    """
    when: Callable[[Any], datetime] = stamp if isinstance(payload, WirePayload) else _utc
    out = []
    for a in payload.alerts:
        ends = when(a.endsAt) if a.endsAt is not None else None
        out.append(_prepared(fingerprint_of(a.fingerprint, a.labels), when(a.startsAt), a.status, a.labels,
                             a.annotations, ends if ends is not None and ends > ZERO_TIME else None,
                             a.generatorURL, cfg))
    return PreparedPayload(payload.receiver, payload.groupKey, payload.status, payload.truncatedAlerts, out)


def decode(body: bytes, cfg: TocsinConfig) -> PreparedPayload:
    """A webhook body, validated and prepared; raises PayloadError naming the fields of a bad one.

    msgspec decodes the usual body; whatever it does not accept as is goes through the pydantic models,
    which decide (and explain) exactly as before, so both paths accept the same payloads with the same values.
    """
    try:
        payload: WebhookPayload | WirePayload = decode_fast(body)
    except SlowPath:
        payload = parse_payload(body)
    if b"\\u0000" in body and (problems := nul_problems(payload)):  # a cheap scan first: almost never there
        raise PayloadError(problems)
    try:
        try:
            return prepare(payload, cfg)
        except SlowPath:  # a timestamp the fast path cannot vouch for: the pydantic models decide
            return prepare(parse_payload(body), cfg)
    except OverflowError as exc:  # a timestamp that leaves datetime's range once converted to UTC
        raise PayloadError([{"field": "alerts.startsAt/endsAt", "message": f"timestamp out of range: {exc}"}]) \
            from exc


def _utc(value: datetime) -> datetime:
    """pydantic's datetime as UTC; one without a zone is taken as UTC (Alertmanager always sends one)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: (key label names, their values) -> (incident key, key labels): a memo of a pure function, not state
_KEYS: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[str, str]] = {}


def prepared_alert(fingerprint: str, starts_at: datetime, status: str, labels: dict[str, str],
                   annotations: dict[str, str], ends_at: datetime | None, generator_url: str,
                   cfg: TocsinConfig) -> PreparedAlert:
    """An alert as stored (the alert journal) prepared again under `cfg` (its grouping may differ): the replay."""
    return _prepared(fingerprint, starts_at, status, labels, annotations, ends_at, generator_url, cfg)


def _prepared(fingerprint: str, starts_at: datetime, status: str, labels: dict[str, str],
              annotations: dict[str, str], ends_at: datetime | None, generator_url: str,
              cfg: TocsinConfig) -> PreparedAlert:
    names = key_labels_for(labels, cfg.incidents)
    values = tuple([labels.get(n, "") for n in names])
    memo = (tuple(names), values)
    key = _KEYS.get(memo)
    if key is None:
        if len(_KEYS) >= 65536:
            _KEYS.clear()
        key = _KEYS[memo] = (incident_key(labels, names), json_text(dict(zip(names, values, strict=True))))
    return PreparedAlert(fingerprint, starts_at, status, json_text(labels), json_text(annotations, canonical=True),
                         ends_at, generator_url, key[0], key[1], severity_of(labels))


class PreparedAlert(NamedTuple):
    """An alert from a payload with everything derived that needs no database (done in the request).

    Labels and annotations travel as JSON text, the form they are stored in: the HTTP process encodes them once,
    and the ingest process parses them only for an incident it opens. Annotations are canonical (sorted keys), so
    that a re-send compares equal as text.
    """

    fingerprint: str
    starts_at: datetime
    status: str
    labels_json: str
    annotations_json: str
    ends_at: datetime | None
    generator_url: str
    key: str
    key_labels_json: str
    severity: str


class PreparedPayload(NamedTuple):
    receiver: str
    group_key: str
    status: str
    truncated_alerts: int
    alerts: list[PreparedAlert]
