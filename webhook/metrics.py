"""Every Prometheus metric Tocsin exposes on /metrics, declared in one place (dashboards are tested against it)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Registry for the instruments of this module. Gauges of state of record (open incidents, backlog) are
#: not kept in memory: they are read from the database at scrape time (gauges_text below, webhook/api/health.py).
REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)
INCIDENT_AGE_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)

# --- ingest ----------------------------------------------------------------------------------------
ALERTS_RECEIVED = Counter(
    "tocsin_alerts_received", "Alerts received from Alertmanager, by status.", ["status"], registry=REGISTRY
)
DEDUP_DECISIONS = Counter(
    "tocsin_dedup_decisions", "Dedup decisions taken on incoming alerts, by reason.", ["reason"],
    registry=REGISTRY,
)
WEBHOOK_REQUESTS = Counter(
    "tocsin_webhook_requests", "Webhook requests by HTTP status code.", ["code"], registry=REGISTRY
)
WEBHOOK_TRUNCATED_ALERTS = Counter(
    "tocsin_webhook_truncated_alerts", "Alerts Alertmanager reported as truncated (truncatedAlerts).",
    registry=REGISTRY,
)
PAYLOAD_BYTES = Histogram(
    "tocsin_webhook_payload_bytes", "Size of webhook payloads in bytes.", buckets=SIZE_BUCKETS,
    registry=REGISTRY,
)
REQUEST_LATENCY = Histogram(
    "tocsin_http_request_duration_seconds", "HTTP request latency by route and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
INGEST_BATCH_SIZE = Histogram(
    "tocsin_ingest_batch_payloads", "Payloads committed per ingest transaction (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=REGISTRY,
)
INCIDENTS_OPENED = Counter(
    "tocsin_incidents_opened", "Incidents opened, by severity.", ["severity"], registry=REGISTRY
)
INCIDENT_TIME_TO_ACK = Histogram(
    "tocsin_incident_time_to_acknowledge_seconds", "Time from incident open to first acknowledgement.",
    ["severity"], buckets=INCIDENT_AGE_BUCKETS, registry=REGISTRY,
)
INCIDENT_TIME_TO_RESOLVE = Histogram(
    "tocsin_incident_time_to_resolve_seconds", "Time from incident open to resolution.",
    ["severity"], buckets=INCIDENT_AGE_BUCKETS, registry=REGISTRY,
)

LEADER = Gauge(
    "tocsin_leader", "1 on the replica that runs the singleton jobs (retention, reconcile), else 0.",
    registry=REGISTRY,
)

# --- escalation and notification -----------------------------------------------------------------
DELIVERIES = Counter(
    "tocsin_deliveries", "Notification delivery attempts by channel and outcome "
    "(delivered, retry, permanent_failure, fallback).", ["channel", "outcome"], registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "tocsin_delivery_latency_seconds", "Time from a delivery becoming due to the vendor accepting it.",
    ["channel"], buckets=(*LATENCY_BUCKETS, 30.0, 60.0, 300.0), registry=REGISTRY,
)
ESCALATION_STEP_LAG = Histogram(
    "tocsin_escalation_step_lag_seconds", "How late an escalation step fired after its due time.",
    buckets=(*LATENCY_BUCKETS, 30.0, 60.0, 300.0), registry=REGISTRY,
)
ESCALATION_STEPS = Counter(
    "tocsin_escalation_steps", "Escalation steps fired, by severity.", ["severity"], registry=REGISTRY
)

# Names of the gauges produced at scrape time from the database (gauges_text below and webhook/api/health.py):
#   tocsin_incidents_open{severity,state}   incidents not resolved
#   tocsin_escalation_backlog               escalation steps due but not yet fired
#   tocsin_outbox_pending{channel}          deliveries waiting in the outbox
#   tocsin_remediation_runs_active          runbook runs in progress or awaiting approval
DB_GAUGES = (
    "tocsin_incidents_open",
    "tocsin_escalation_backlog",
    "tocsin_outbox_pending",
    "tocsin_remediation_runs_active",
)

# --- remediation; remediator reports into these through webhook.remediation.adapters --------------
REMEDIATION_RUNS = Counter(
    "tocsin_remediation_runs", "Runbook runs finished, by runbook and outcome "
    "(verified, completed, failed, refused, aborted, dry_run, escalated, skipped).", ["runbook", "outcome"],
    registry=REGISTRY,
)
REMEDIATION_ACTIONS = Counter(
    "tocsin_remediation_actions", "Remediation action attempts by action and outcome.",
    ["action", "outcome"], registry=REGISTRY,
)
REMEDIATION_GUARD_REFUSALS = Counter(
    "tocsin_remediation_guard_refusals", "Actions refused by the safety envelope, by guard.", ["guard"],
    registry=REGISTRY,
)
REMEDIATION_VERIFY_SECONDS = Histogram(
    "tocsin_remediation_verification_seconds", "Time from the last action to verification holding.",
    ["runbook"], buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800), registry=REGISTRY,
)
PAGES_AVOIDED = Counter(
    "tocsin_remediation_pages_avoided", "Incidents resolved by remediation before any human was paged.",
    ["runbook"], registry=REGISTRY,
)


def gauges_text(stats: tuple[int, list[tuple[str, int]]]) -> bytes:
    """tocsin_escalation_backlog and tocsin_outbox_pending{channel}, read from the database at scrape time."""
    backlog, pending = stats
    reg = CollectorRegistry(auto_describe=True)
    Gauge("tocsin_escalation_backlog", "Escalation steps due but not yet fired.", registry=reg).set(backlog)
    g = Gauge("tocsin_outbox_pending", "Deliveries waiting in the outbox (due or retrying).", ["channel"],
              registry=reg)
    for channel, n in pending:
        g.labels(channel).set(n)
    return bytes(generate_latest(reg))

# --- reconcile with Alertmanager (webhook/reconcile, docs/reconcile.md) ------------------------------
RECONCILE_POLLS = Counter(
    "tocsin_reconcile_polls", "Polls of Alertmanager's API by the leader, by result (ok; failed: an Alertmanager "
    "did not answer, the poll decided nothing; not_leader: the leadership was lost before the write).",
    ["result"], registry=REGISTRY,
)
RECONCILE_CLOSED = Counter(
    "tocsin_reconcile_closed", "Alerts resolved because no Alertmanager listed them in two consecutive polls.",
    registry=REGISTRY,
)
RECONCILE_ADOPTED = Counter(
    "tocsin_reconcile_adopted", "Firing alerts Alertmanager listed that no webhook had delivered (truncated).",
    registry=REGISTRY,
)

# --- preventive incidents (webhook/prevention, docs/prevention.md) ----------------------------------
PREVENTION_EVALUATIONS = Counter(
    "tocsin_prevention_evaluations", "Evaluations of a configured forecast or baseline by the leader, by result "
    "(ok; failed: Prometheus did not answer, the forecast was skipped this round; not_leader: the leadership was "
    "lost before the write).", ["forecast", "result"], registry=REGISTRY,
)
PREVENTION_CHANGES = Counter(
    "tocsin_prevention_alerts", "Preventive alert episodes sent into the ingest batch, by action (fired: opened, "
    "updated or re-fired at a new severity; resolved).", ["action"], registry=REGISTRY,
)
FORECAST_ETA = Gauge(
    "tocsin_forecast_eta_seconds", "Time left until the soonest forecast crossing (or deadline) among the series "
    "of a forecast that warns; +Inf when none warns. One series per configured forecast (bounded).", ["forecast"],
    registry=REGISTRY,
)
