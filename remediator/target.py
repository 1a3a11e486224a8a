"""The objects a run acts on, rendered from alert labels and checked against Kubernetes name rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from remediator.names import NameRule

#: target field -> the name rule its rendered value must satisfy
TARGET_RULES: dict[str, NameRule] = {
    "namespace": NameRule.LABEL,
    "deployment": NameRule.SUBDOMAIN,
    "statefulset": NameRule.SUBDOMAIN,
    "pod": NameRule.SUBDOMAIN,
    "container": NameRule.LABEL,
    "node": NameRule.SUBDOMAIN,
    "hpa": NameRule.SUBDOMAIN,
    "pvc": NameRule.SUBDOMAIN,
}


@dataclass(frozen=True)
class Target:
    """Rendered, validated names; None where the runbook did not ask for one."""

    namespace: str | None = None
    deployment: str | None = None
    statefulset: str | None = None
    pod: str | None = None
    container: str | None = None
    node: str | None = None
    hpa: str | None = None
    pvc: str | None = None

    def key(self) -> str:
        """One string per object the run acts on: "one run at a time per target" and cooldowns use it."""
        for kind in ("deployment", "statefulset", "hpa", "pvc", "pod"):
            value = getattr(self, kind)
            if value:
                return f"{kind}/{self.namespace or ''}/{value}"
        if self.node:
            return f"node/{self.node}"
        return f"namespace/{self.namespace or ''}"

    def as_context(self) -> dict[str, str]:
        """The target as template context (`{{ target.deployment }}`); unset fields are absent."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def template_context(labels: Mapping[str, str], annotations: Mapping[str, str],
                     target: Target | None = None) -> dict[str, Any]:
    """What templates may see: labels, annotations (values only) and the rendered target."""
    return {
        "labels": dict(labels),
        "annotations": dict(annotations),
        "target": target.as_context() if target is not None else {},
    }
