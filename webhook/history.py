"""History from Prometheus for forecasts, seasonal baselines and graphs: range queries through
prometheus-api-client (the product's named client), run in a worker thread so the event loop never waits on it.

The answer is a list of `RangeSeries` (labels, epoch seconds, values as numpy arrays), built with the client's
`MetricRangeDataFrame` helper. Every failure (unreachable, timeout, bad query, non-numeric samples) is one
`HistoryUnavailable` with a message fit for a log line or an incident timeline; the bearer token never appears
in it.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import requests
from numpy.typing import NDArray
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from webhook.config.prometheus import PrometheusConfig

#: Prometheus refuses range queries of more than 11,000 points per series; stay below.
MAX_POINTS = 10_000


class HistoryUnavailable(Exception):
    """Prometheus could not answer this query (the caller skips its work for now and says so)."""


@dataclass(frozen=True)
class RangeSeries:
    labels: dict[str, str]
    #: sample times, epoch seconds, increasing
    t: NDArray[np.float64]
    v: NDArray[np.float64]


def step_for(start: datetime, end: datetime, wanted: timedelta) -> timedelta:
    """`wanted`, widened so that the range stays under MAX_POINTS samples per series."""
    span = (end - start).total_seconds()
    return max(wanted, timedelta(seconds=math.ceil(span / MAX_POINTS)))


class History:
    """Range queries against one Prometheus (config `prometheus.*`). `session` is the test seam."""

    def __init__(self, cfg: PrometheusConfig, *, session: requests.Session | None = None) -> None:
        if not cfg.enabled:
            raise ValueError("prometheus.url is not set")
        self.cfg = cfg
        self._session = session
        #: range_sync may run in another process (the graphs' render process): it pickles, with no test session
        self.portable = session is None

    def _client(self) -> PrometheusConnect:
        headers: dict[str, str] = {}
        if self.cfg.bearer_token_file is not None:
            try:
                token = self.cfg.bearer_token_file.read_text().strip()
            except OSError as exc:
                raise HistoryUnavailable(f"cannot read prometheus.bearer_token_file: {exc.strerror}") from exc
            headers["Authorization"] = f"Bearer {token}"
        session = self._session or requests.Session()
        if self.cfg.ca_file is not None:
            session.verify = str(self.cfg.ca_file)
        # no retries inside a query (the client's default: 3, with back-off, ~6 s before an unreachable Prometheus
        # fails): the callers retry on their own schedule (the next forecast round, the graph's attempts)
        return PrometheusConnect(url=self.cfg.url.rstrip("/"), headers=headers, session=session,
                                 retry=Retry(total=0, raise_on_status=False),
                                 timeout=max(1, math.ceil(self.cfg.timeout.total_seconds())))

    def range_sync(self, query: str, start: datetime, end: datetime, step: timedelta) -> list[RangeSeries]:
        """The blocking call (a worker thread runs it; tests and the CLI may call it directly)."""
        step = step_for(start, end, step)
        client = self._client()
        try:
            raw: list[dict[str, Any]] = client.custom_query_range(
                query, start_time=start, end_time=end, step=f"{step.total_seconds():g}s")
        except PrometheusApiClientException as exc:
            raise HistoryUnavailable(f"Prometheus refused {query!r}: {_short(str(exc))}") from exc
        except requests.RequestException as exc:
            raise HistoryUnavailable(f"Prometheus at {self.cfg.url} unreachable: {type(exc).__name__}") from exc
        except ValueError as exc:  # a non-JSON answer (a proxy's error page)
            raise HistoryUnavailable(f"Prometheus at {self.cfg.url} answered without JSON") from exc
        finally:
            if self._session is None:
                client._session.close()
        return _series(raw)

    async def range(self, query: str, start: datetime, end: datetime, step: timedelta) -> list[RangeSeries]:
        return await asyncio.to_thread(self.range_sync, query, start, end, step)


def _series(raw: list[dict[str, Any]]) -> list[RangeSeries]:
    # pandas: imported on first use, not at start
    from prometheus_api_client.metric_range_df import MetricRangeDataFrame

    out: list[RangeSeries] = []
    for item in raw:
        if not item.get("values"):
            continue
        try:
            df = MetricRangeDataFrame(item, ts_as_datetime=False)
            t = df.index.to_numpy(dtype=np.float64)
            v = df["value"].to_numpy(dtype=np.float64)
        except (ValueError, KeyError, TypeError) as exc:
            raise HistoryUnavailable(f"Prometheus answered samples that are not numbers: {exc}") from exc
        keep = np.isfinite(v)
        out.append(RangeSeries(dict(item.get("metric", {})), t[keep], v[keep]))
    return out


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
