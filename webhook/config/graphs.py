"""Graphs in pages (docs/graphs.md): which channels get one, over what window, at what resolution and size."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import Field, model_validator

from webhook.config.types import Duration, Strict

GraphChannel = Literal["slack", "email"]
_ALL_CHANNELS: list[GraphChannel] = ["slack", "email"]


class GraphSize(Strict):
    #: Pixels; the default fits a phone held sideways and a Slack thread preview.
    width: int = Field(800, ge=320, le=2400)
    height: int = Field(400, ge=200, le=1600)


class GraphsConfig(Strict):
    #: Render a graph of the alert expression for incidents whose alerts came from Prometheus and attach it after
    #: the page. Takes effect only when `prometheus.url` is set (the history comes from there).
    enabled: bool = True
    #: Channels whose first page of an incident is followed by the graph (Slack: in the message's thread;
    #: e-mail: a reply with the image inline). The console shows it whatever this says.
    channels: list[GraphChannel] = Field(default_factory=lambda: _ALL_CHANNELS.copy())
    #: The graph covers the alert's age plus a fifth (so the crossing is visible), at least this ...
    min_window: Duration = timedelta(hours=1)
    #: ... and at most this.
    max_window: Duration = timedelta(hours=24)
    #: Resolution of the range query: "auto" (about 400 points over the window, at least 1 s) or a duration.
    step: Duration | Literal["auto"] = "auto"
    size: GraphSize = GraphSize()
    #: Render in a child process of its own (started with the service, nice 19): matplotlib holds the GIL while it
    #: draws, which would hold back pages sent meanwhile. Off: a worker thread of the service.
    isolate: bool = True
    #: Attempts at fetching history and uploading before the timeline says "no graph" (Prometheus or the vendor
    #: down); the page itself never waits for them.
    attempts: int = Field(3, ge=1, le=10)
    #: Pause between those attempts.
    retry_delay: Duration = timedelta(seconds=5)
    #: Pages first: a follow-up fetches, renders and uploads only once no page has gone out for this long (0: at
    #: once), so its work never runs beside a page's; during a storm the graphs come after it ...
    yield_to_pages: Duration = timedelta(milliseconds=200)
    #: ... but wait at most this long for a quiet moment.
    yield_max: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.min_window <= timedelta(0) or self.max_window < self.min_window:
            raise ValueError("need 0 < min_window <= max_window")
        if self.step != "auto" and self.step <= timedelta(0):
            raise ValueError("step must be positive or auto")
        if self.retry_delay < timedelta(0):
            raise ValueError("retry_delay must not be negative")
        if self.yield_to_pages < timedelta(0) or self.yield_max < timedelta(0):
            raise ValueError("yield_to_pages and yield_max must not be negative")
        return self
