"""The `remediation:` config section: runbooks, cluster access, Prometheus, trigger, escalation hold."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from webhook.config.oncall import OnCallConfig
from webhook.config.types import Duration, Strict


class ClusterConfig(Strict):
    """How to reach the Kubernetes API server. `none`: no cluster, remediation stays off."""

    mode: Literal["none", "in_cluster", "kubeconfig", "token"] = "none"
    #: kubeconfig mode: file (default ~/.kube/config) and context (default: the current one).
    kubeconfig: Path | None = None
    context: str | None = None
    #: token mode: API server URL, bearer token (or a file holding it) and CA bundle.
    host: str | None = None
    token: SecretStr | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    #: Skip TLS verification (kind clusters and tests only).
    insecure: bool = False
    #: Every Kubernetes call gives up after these (connect: per attempt, up to 4; read: once), failing the step
    #: with an error (the run escalates) instead of hanging on a hung API server.
    connect_timeout: Duration = timedelta(seconds=5)
    read_timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.mode == "token" and (not self.host or (self.token is None) == (self.token_file is None)):
            raise ValueError("token mode needs host and exactly one of token or token_file")
        if self.mode != "token" and (self.host or self.token or self.token_file):
            raise ValueError("host/token/token_file are only used with mode: token")
        if self.mode != "kubeconfig" and (self.kubeconfig or self.context):
            raise ValueError("kubeconfig/context are only used with mode: kubeconfig")
        if self.connect_timeout <= timedelta(0) or self.read_timeout <= timedelta(0):
            raise ValueError("connect_timeout and read_timeout must be positive")
        return self


class ApprovalsConfig(Strict):
    """Who may decide a waiting step, from Slack and from the API (whose token also needs the `approve` scope)."""

    #: Responders (by name) allowed to approve or reject; with `teams` both empty any mapped responder may.
    responders: list[str] = []
    #: Teams whose members and lead may approve or reject.
    teams: list[str] = []
    #: Where the request goes when no Slack message carries the incident yet (default: channels.slack.default_channel).
    slack_channel: str | None = None

    def allows(self, responder: str, oncall: OnCallConfig) -> bool:
        if not self.responders and not self.teams:
            return True
        members = {n for t in oncall.teams if t.name in self.teams for n in (*t.members, t.lead) if n}
        return responder in self.responders or responder in members

    def unknown(self, oncall: OnCallConfig) -> list[str]:
        """Names in the allow-lists that the on-call config does not define."""
        known, teams = {r.name for r in oncall.responders}, {t.name for t in oncall.teams}
        return ([f"remediation.approvals.responders: unknown responder {n!r}" for n in self.responders
                 if n not in known]
                + [f"remediation.approvals.teams: unknown team {n!r}" for n in self.teams if n not in teams])


class RemediationConfig(Strict):
    """Runbook-driven remediation (docs/runbooks.md, "Service integration"). Off unless enabled."""

    enabled: bool = False
    #: Directory of runbook YAML files; every file is validated at start (errors stop the start).
    runbooks_dir: Path = Path("runbooks")
    cluster: ClusterConfig = ClusterConfig()
    #: Prometheus that verify queries and preconditions run against.
    prometheus_url: str = ""
    #: Global dry run: every mutating call uses server-side dry run, whatever the runbook says.
    dry_run: bool = False
    #: If non-empty, only these namespaces may be acted on; the deny list wins.
    namespace_allow: list[str] = []
    namespace_deny: list[str] = ["kube-system"]
    #: URL prefixes the `http` action may call.
    http_allowlist: list[str] = []
    #: When a run starts: when the incident opens, or when its escalation reaches `trigger_step`
    #: (the escalation calls webhook.store.remediation_requests.escalation_step_reached).
    trigger: Literal["on_open", "escalation_step"] = "on_open"
    trigger_step: int = Field(1, ge=0)
    #: Upper bound on each runbook's safety.hold_escalation_for (None: the runbook decides).
    hold_escalation_for: Duration | None = None
    #: After `verified`, keep holding the escalation this long so the alert's resolve can arrive.
    verified_grace: Duration = timedelta(minutes=5)
    #: Resolve the incident (actor tocsin-remediation) when its run is verified.
    resolve_on_verified: bool = False
    #: How often approval timeouts and interrupted runs are checked (requests are picked up every tick).
    tick_interval: Duration = timedelta(seconds=30)
    #: A claimed request not turned into a run within this time is claimed again (its replica died).
    claim_lease: Duration = timedelta(minutes=5)
    #: A run not updated for this long is considered interrupted and escalated (never re-executed).
    stale_run_after: Duration = timedelta(minutes=15)
    max_concurrent_runs: int = Field(16, ge=1, le=1000)
    #: Approve / Reject buttons in Slack: who may press them, where requests go.
    approvals: ApprovalsConfig = ApprovalsConfig()

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if self.enabled and (self.cluster.mode == "none" or not self.prometheus_url):
            raise ValueError("remediation.enabled needs cluster.mode and prometheus_url")
        return self
