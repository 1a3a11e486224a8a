"""The YAML configuration with TOCSIN_* environment overrides: strict models, loaded and validated once."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from webhook.config.channels import ChannelsConfig
from webhook.config.console import ConsoleConfig
from webhook.config.escalation import EscalationConfig, check_references
from webhook.config.graphs import GraphsConfig
from webhook.config.oncall import OnCallConfig
from webhook.config.prevention import PreventionConfig
from webhook.config.prometheus import PrometheusConfig
from webhook.config.reconcile import ReconcileConfig
from webhook.config.remediation import RemediationConfig
from webhook.config.types import Duration, Strict
from webhook.config.windows import WindowsConfig
from webhook.yamlpos import ConfigError, ConfigErrorItem, errors_from_validation, load_yaml

LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    #: URL under which humans and Alertmanager reach this service (used in links and snippets).
    public_url: str = ""
    #: Webhook bodies above this size are refused with 413 before parsing.
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    #: API request bodies (ack, snooze, approve, ...) above this size are refused with 413; they are read only
    #: after the API token was checked.
    max_api_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: Dev mode generates tokens under var_dir when none are configured. Never use it in production.
    dev_mode: bool = False
    var_dir: Path = Path("var")
    #: Log level of `tocsin serve` and its ingest process (logs go to stderr).
    log_level: Annotated[Literal["debug", "info", "warning", "error", "critical"],
                         BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)] = "info"
    #: `tocsin serve`: the interpreter's thread switch interval in seconds. The database writer thread retakes the
    #: GIL after every SQLite/psycopg call; with Python's default 5 ms it waits behind the event loop each time.
    switch_interval: float = Field(0.0005, gt=0, le=0.1)


class DatabaseConfig(Strict):
    #: SQLAlchemy URL. Default: SQLite (WAL) under var_dir. PostgreSQL: postgresql+psycopg://user@host/db
    url: str = ""
    #: Run Alembic migrations at start (`tocsin db upgrade` does the same explicitly).
    auto_migrate: bool = True
    #: SQLite synchronous pragma: FULL fsyncs each commit (survives power loss), NORMAL survives crashes.
    sqlite_synchronous: str = Field("FULL", pattern="^(FULL|NORMAL)$")
    pool_size: int = Field(5, ge=1, le=100)
    #: PostgreSQL: longest wait for a lock (a stalled peer holding an incident key's lock), then 503.
    lock_timeout: Duration = timedelta(seconds=5)
    #: PostgreSQL: longest statement.
    statement_timeout: Duration = timedelta(seconds=30)
    #: PostgreSQL: a session idle inside a transaction this long is ended by the server (its locks freed).
    idle_in_transaction_timeout: Duration = timedelta(seconds=60)
    #: PostgreSQL with several replicas: a leader that stops touching its leadership session this long (hung,
    #: partitioned) loses it to another replica; the singleton jobs (retention, reconcile) move within this
    #: plus one tick. A dead leader's session ends at once.
    leader_lease: Duration = timedelta(seconds=10)

    @field_validator("leader_lease")
    @classmethod
    def _lease_bounds(cls, v: timedelta) -> timedelta:
        if not timedelta(seconds=2) <= v <= timedelta(minutes=10):
            raise ValueError("must be between 2s and 10m")
        return v

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of webhook.store.db.make_engine / Database.from_url."""
        def ms(d: timedelta) -> int:
            return int(d.total_seconds() * 1000)

        return {"sqlite_synchronous": self.sqlite_synchronous, "pool_size": self.pool_size,
                "lock_timeout_ms": ms(self.lock_timeout), "statement_timeout_ms": ms(self.statement_timeout),
                "idle_in_transaction_timeout_ms": ms(self.idle_in_transaction_timeout)}


class BasicAuth(Strict):
    username: str = Field(min_length=1)
    password: SecretStr


class WebhookAuth(Strict):
    #: Tokens Alertmanager sends as `Authorization: Bearer ...` (http_config.authorization).
    bearer_tokens: list[SecretStr] = []
    #: Files holding one token each (e.g. Kubernetes secrets); read at start.
    bearer_token_files: list[Path] = []
    basic: BasicAuth | None = None


ApiScope = Literal["read", "respond", "remediate", "approve", "windows", "schedules", "calendar"]
#: What a token may do when its entry names no scopes: everything but approving dangerous runbook steps.
DEFAULT_SCOPES: tuple[ApiScope, ...] = ("read", "respond", "remediate", "windows", "schedules")


class ApiToken(Strict):
    #: Recorded as the actor ("who") of every action taken with this token.
    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w.@-]+$")
    token: SecretStr | None = None
    token_file: Path | None = None
    #: read: GET incidents, runs, runbooks, audit, schedules; respond: ack, resolve, snooze; remediate: abort
    #: runs; approve: approve or reject waiting steps (also subject to remediation.approvals); windows: create
    #: and end maintenance windows; schedules: overrides and swaps; calendar: only
    #: the schedule feeds and /oncall, and the only kind of token accepted as `?token=` in a URL.
    scopes: list[ApiScope] = Field(default_factory=lambda: list(DEFAULT_SCOPES), min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give exactly one of token or token_file")
        if "calendar" in self.scopes and len(set(self.scopes)) > 1:
            raise ValueError("a calendar token ends up in calendar servers and URLs: give it no other scope")
        if self.token is not None and len(self.token.get_secret_value().strip()) < 16:
            raise ValueError("token shorter than 16 characters")
        return self


class AuthConfig(Strict):
    webhook: WebhookAuth = WebhookAuth()
    api_tokens: list[ApiToken] = []


class GroupingRule(Strict):
    """Alerts matching all of `match` (equality) and `match_re` (anchored regex) use these key labels."""

    match: dict[str, str] = {}
    match_re: dict[str, str] = {}
    key_labels: list[Annotated[str, Field(pattern=LABEL_NAME)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _regexes_compile(self) -> Self:
        for name, rx in self.match_re.items():
            try:
                re.compile(rx)
            except re.error as exc:
                raise ValueError(f"match_re.{name}: invalid regex: {exc}") from exc
        return self


class FlapConfig(Strict):
    #: This many state changes (fire/resolve) of one incident within `window` mark it flapping.
    changes: int = Field(4, ge=2)
    window: Duration = timedelta(minutes=10)
    #: A flapping incident resolves only after its alerts stayed resolved this long.
    quiet_period: Duration = timedelta(minutes=15)


class IncidentConfig(Strict):
    #: Alerts sharing the values of these labels form one incident (absent labels count as empty).
    key_labels: list[Annotated[str, Field(pattern=LABEL_NAME)]] = ["alertname", "cluster", "namespace", "service"]
    #: First matching rule wins; otherwise key_labels applies.
    grouping: list[GroupingRule] = []
    flap: FlapConfig = FlapConfig()
    #: Resolved incidents (with their alerts, timeline, escalation and deliveries) and webhook receipts older
    #: than this are deleted, hourly and in small chunks; 0 keeps everything. Runbook runs and audit stay.
    retention: Duration = timedelta(days=400)


class IngestConfig(Strict):
    #: Payloads committed together in one transaction (group commit).
    max_batch: int = Field(128, ge=1, le=4096)
    #: Per-request wait for the commit before answering 503.
    commit_timeout: Duration = timedelta(seconds=10)
    #: Payloads waiting for their commit, at most; beyond it webhooks get 503 at once (Alertmanager retries)
    #: instead of piling up in memory while the database is slow.
    max_queue: int = Field(10_000, ge=1, le=1_000_000)
    #: `tocsin serve`: decide and commit in a child process, so that HTTP and ingest each get a core
    #: (webhook/child.py). Off: everything in one process.
    process: bool = True
    #: PostgreSQL: ingest transactions in flight at once per process (their incident keys' locks order them);
    #: while one waits for the server the next batch is already being written. SQLite: always 1.
    writers: int = Field(4, ge=1, le=32)


class TocsinConfig(BaseSettings):
    """The whole configuration. YAML file first, TOCSIN_* variables override (TOCSIN_DATABASE__URL=...)."""

    model_config = SettingsConfigDict(
        env_prefix="TOCSIN_", env_nested_delimiter="__", extra="forbid", frozen=True,
    )

    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    auth: AuthConfig = AuthConfig()
    incidents: IncidentConfig = IncidentConfig()
    ingest: IngestConfig = IngestConfig()
    #: Notification channels (absent ones fall back to the log notifier), see docs/channels.md.
    channels: ChannelsConfig = ChannelsConfig()
    #: Responders, teams and on-call schedules, see docs/schedules.md.
    oncall: OnCallConfig = OnCallConfig()
    #: Routing tree, escalation policies and noise control, see docs/escalation.md.
    escalation: EscalationConfig = EscalationConfig()
    #: Runbook-driven remediation against Kubernetes, see docs/runbooks.md.
    remediation: RemediationConfig = RemediationConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    #: Where history is read from for forecasts, seasonal baselines and graphs in pages (docs/prevention.md).
    prometheus: PrometheusConfig = PrometheusConfig()
    #: Preventive incidents from exhaustion forecasts and seasonal baselines, see docs/prevention.md.
    prevention: PreventionConfig = PreventionConfig()
    #: Graphs of the alert expression attached to pages and shown in the console, see docs/graphs.md.
    graphs: GraphsConfig = GraphsConfig()
    #: Maintenance windows mirrored into Alertmanager as silences, see docs/windows.md.
    windows: WindowsConfig = WindowsConfig()
    #: The console's sign-in (one-time codes, OIDC), sessions and roles, see docs/console.md.
    console: ConsoleConfig = ConsoleConfig()

    @model_validator(mode="after")
    def _escalation_references(self) -> Self:
        problems = check_references(self.escalation, self.oncall, self.channels)
        problems += self.remediation.approvals.unknown(self.oncall)
        problems += self.console.unknown(self.oncall)
        problems += self.windows.problems(self.reconcile)
        if self.prevention.enabled and not self.prometheus.enabled:
            problems.append("prevention: forecasts and baselines read history from Prometheus: set prometheus.url")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)

    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.server.var_dir / 'tocsin.db'}"


def load_config(path: Path) -> TocsinConfig:
    """Read, validate and return the config; raise ConfigError naming file, line and field of each error."""
    data, node = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigErrorItem(str(path), 1, "", "top level must be a mapping")])
    try:
        return TocsinConfig(**data)
    except ValidationError as exc:
        raise errors_from_validation(exc, str(path), node) from exc
