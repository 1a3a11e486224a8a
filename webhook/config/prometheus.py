"""The Prometheus that Tocsin reads history from (forecasts, seasonal baselines, graphs in pages)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from webhook.config.types import Duration, Strict


class PrometheusConfig(Strict):
    #: Base URL of the Prometheus (or Thanos/Mimir query frontend) to read history from, e.g.
    #: http://prometheus:9090. Empty: forecasts, baselines and graphs are off.
    url: str = Field(default="", pattern=r"^(https?://[^\s/]+(/\S*)?)?$")
    #: Per query; a query that takes longer fails (a forecast is skipped, a page goes without its graph).
    timeout: Duration = timedelta(seconds=10)
    #: A file holding a bearer token (read at every query, stripped), e.g. a Kubernetes service-account token.
    bearer_token_file: Path | None = None
    #: CA bundle for an https Prometheus (default: the system's).
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.timeout <= timedelta(0):
            raise ValueError("timeout must be positive")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.url)
