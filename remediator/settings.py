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
