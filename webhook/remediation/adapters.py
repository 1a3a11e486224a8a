"""remediator's seams onto the service: metrics hooks and the one HTTP caller of the http action."""

from __future__ import annotations

import httpx

from remediator.cluster import ClusterError
from remediator.records import Outcome, StepOutcome
from webhook import metrics


class RemediationMetrics:
    """remediator's metric hooks onto webhook.metrics."""

    def run_finished(self, runbook_id: str, outcome: Outcome) -> None:
        metrics.REMEDIATION_RUNS.labels(runbook_id, outcome.value).inc()

    def action_attempted(self, action: str, outcome: StepOutcome) -> None:
        metrics.REMEDIATION_ACTIONS.labels(action, outcome.value).inc()

    def guard_refused(self, guard: str) -> None:
        metrics.REMEDIATION_GUARD_REFUSALS.labels(guard).inc()

    def verified_after(self, runbook_id: str, seconds: float) -> None:
        metrics.REMEDIATION_VERIFY_SECONDS.labels(runbook_id).observe(seconds)


class HttpCaller:
    """The `http` action's one I/O seam: allow-listing happened in remediator; this only performs the call."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client = httpx.AsyncClient(transport=transport, follow_redirects=False)

    async def __call__(self, method: str, url: str, body: dict[str, str] | None, timeout_seconds: float) -> int:
        try:
            response = await self.client.request(method, url, json=body, timeout=timeout_seconds)
        except httpx.HTTPError as exc:
            raise ClusterError(f"{method} {url}: {exc}") from exc
        return response.status_code
