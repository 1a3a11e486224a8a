"""Engine-wide settings: the operator's outer limits, which every runbook's own safety settings sit inside."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EngineSettings:
    """Built once by the caller (the service reads TOCSIN_* settings; the CLI uses the defaults)."""

    dry_run: bool = False
    """Global dry run: every mutating call uses server-side dry run (dryRun=All), whatever the runbook says."""

    namespace_allow: tuple[str, ...] = ()
    """If non-empty, only these namespaces may be acted on."""

    namespace_deny: tuple[str, ...] = ("kube-system",)
    """Never act on these namespaces (checked after the allow list)."""

    max_pods_deleted: int = 10
    """Cluster-wide cap on pods deleted by all runbooks within a runbook's blast-radius window."""

    max_nodes_cordoned: int = 1
    """Cluster-wide cap on nodes cordoned within the window."""

    min_ready_nodes_percent: int = 80
    """Refuse node actions when fewer nodes than this are Ready (the runbook may ask for more)."""

    http_allowlist: tuple[str, ...] = ()
    """URL prefixes the `http` action may call (scheme, host and path prefix must match)."""

    stale_run_after_seconds: float = 900.0
    """A RUNNING run not updated for this long is considered interrupted by recover()."""

    triggered_by: str = field(default="tocsin")
    """Actor recorded in audit entries for automatic runs."""

    def namespace_problem(self, namespace: str) -> str | None:
        """Why the engine may not act in `namespace` (deny list first, then a non-empty allow list), or None.
        One rule for the target's namespace (guards) and for every pod a drain would evict."""
        if namespace in self.namespace_deny:
            return f"namespace {namespace} is on the deny list"
        if self.namespace_allow and namespace not in self.namespace_allow:
            return f"namespace {namespace} is not on the allow list"
        return None

    @property
    def heartbeat_seconds(self) -> float:
        """How often a RUNNING run that verifies or waits proves it is alive: well inside stale_run_after, so
        that only a run whose process stopped is ever recovered."""
        return max(self.stale_run_after_seconds / 5, 0.001)
