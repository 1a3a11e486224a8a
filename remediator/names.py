"""Kubernetes name rules (DNS-1123) and resource quantities: the only shapes label values may take."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class NameRule(StrEnum):
    """Which Kubernetes rule a rendered name must satisfy."""

    LABEL = "DNS-1123 label"  # namespaces, container names
    SUBDOMAIN = "DNS-1123 subdomain"  # most object names: pods, deployments, nodes, PVCs


def name_problem(value: str, rule: NameRule) -> str | None:
    """None when value is a valid name under rule, else a sentence saying what is wrong."""
    limit = 63 if rule is NameRule.LABEL else 253
    pattern = _LABEL if rule is NameRule.LABEL else _SUBDOMAIN
    if not value:
        return f"empty value is not a valid {rule}"
    if len(value) > limit:
        return f"{value[:40]!r}... is longer than {limit} characters ({rule})"
    if pattern.fullmatch(value):
        return None
    bad = sorted({c for c in value if not (c.islower() or c.isdigit() or c in "-.")} | (
        {"."} if rule is NameRule.LABEL and "." in value else set()))
    detail = f"contains {', '.join(repr(c) for c in bad)}" if bad else "must start and end with [a-z0-9]"
    if "\n" in value:
        detail = "contains a newline"
    elif ".." in value or "/" in value:
        detail = "contains a path segment"
    return f"{value!r} is not a valid {rule}: {detail}"


_SUFFIXES: dict[str, Decimal] = {
    "Ki": Decimal(1024), "Mi": Decimal(1024**2), "Gi": Decimal(1024**3), "Ti": Decimal(1024**4),
    "k": Decimal(1000), "M": Decimal(1000**2), "G": Decimal(1000**3), "T": Decimal(1000**4),
    "m": Decimal("0.001"), "": Decimal(1),
}
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?")


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity ("512Mi", "1.5Gi", "250m", "2") as a number of base units."""
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity such as 512Mi, 2Gi or 250m")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets digits through
        raise ValueError(f"{text!r} is not a number") from exc
    return number * _SUFFIXES[match.group(2) or ""]


def format_bytes(value: Decimal) -> str:
    """Bytes as the largest binary suffix that keeps an integer (rounded up to whole Mi)."""
    mib = int((value / _SUFFIXES["Mi"]).to_integral_value(rounding="ROUND_CEILING"))
    if mib % 1024 == 0:
        return f"{mib // 1024}Gi"
    return f"{mib}Mi"
