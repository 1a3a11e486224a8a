"""The prevention singleton: at most once per `prevention.interval`, on the leader, read history from Prometheus
for every forecast and baseline, decide, and apply through the ingest batch (docs/prevention.md)."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime

from webhook import metrics
from webhook.config import TocsinConfig
from webhook.config.prevention import BaselineConfig, ForecastConfig
from webhook.history import History, HistoryUnavailable, RangeSeries
from webhook.incidents.events import BatchHook
from webhook.ingest.writer import observe, summarize
from webhook.prevention import repo
from webhook.prevention.apply import Applied, Fence, apply_plan
from webhook.prevention.decide import Eval, Track, plan
from webhook.prevention.evaluate import PREFIX, evaluate_baseline, evaluate_forecast, history_start
from webhook.store.db import Database

log = logging.getLogger("tocsin.prevention")


class Forecaster:
    """A ticker singleton (Service.singletons): `tick(now)` gates itself to the interval, `run(now)` runs now."""

    def __init__(self, cfg: TocsinConfig, db: Database, hooks: BatchHook | None, *, fence: Fence | None = None,
                 history: History | None = None) -> None:
        self.cfg, self.db, self.hooks, self.fence = cfg, db, hooks, fence
        self.history = history or History(cfg.prometheus)
        self._next: datetime | None = None
        #: debounce state per alert; lost on restart or leader change (then rebuilt from the firing alerts)
        self.memory: dict[str, Track] = {}

    async def tick(self, now: datetime | None = None) -> int:
        if now is None or not self.cfg.prevention.enabled or (self._next is not None and now < self._next):
            return 0
        self._next = now + self.cfg.prevention.interval
        done = await self.run(now)
        return done.fired + done.resolved

    async def run(self, now: datetime) -> Applied:
        """One round over every forecast and baseline."""
        evaluated = await self._evaluate(now)
        held = await self.db.read(repo.held, PREFIX)
        pc = self.cfg.prevention
        sustain = {f.name: f.sustain for f in pc.forecasts} | {b.name: b.sustain for b in pc.baselines}
        todo = plan(evaluated, sustain, held, self.memory, now)
        done = await self.db.write(apply_plan, todo, now, self.cfg, self.hooks, self.fence)
        if done.fenced:
            for name in evaluated:
                metrics.PREVENTION_EVALUATIONS.labels(name, "not_leader").inc()
            self.memory = {}  # another replica leads now; it rebuilds from what is firing
            return done
        self.memory = todo.memory
        for name in evaluated:
            metrics.PREVENTION_EVALUATIONS.labels(name, "ok").inc()
        metrics.PREVENTION_CHANGES.labels("fired").inc(done.fired)
        metrics.PREVENTION_CHANGES.labels("resolved").inc(done.resolved)
        if done.result is not None:
            observe(summarize(1, done.result))
        if done.fired or done.resolved:
            log.info("prevention: fired %d, resolved %d preventive alerts", done.fired, done.resolved)
        return done

    async def _evaluate(self, now: datetime) -> dict[str, list[Eval]]:
        """Every forecast and baseline Prometheus answered for (a failed one is left out: skipped this round)."""
        url, out = self.cfg.prometheus.url, {}
        for f in self.cfg.prevention.forecasts:
            try:
                series = await self.history.range(f.query(), now - f.history, now, f.step)
            except HistoryUnavailable as exc:
                self._failed(f.name, exc)
                continue
            # numpy work (Theil-Sen per series) in a thread: hundreds of volumes must not stall the event loop
            evals = await asyncio.to_thread(_forecasts, f, series, now, url)
            out[f.name] = evals
            soonest = min(((e.eta - now).total_seconds() for e in evals if e.eta is not None), default=math.inf)
            metrics.FORECAST_ETA.labels(f.name).set(soonest)
        for b in self.cfg.prevention.baselines:
            try:
                series = await self.history.range(b.query, history_start(b, now), now, b.step)
            except HistoryUnavailable as exc:
                self._failed(b.name, exc)
                continue
            out[b.name] = await asyncio.to_thread(_baselines, b, series, now, url)
        return out

    def _failed(self, name: str, exc: HistoryUnavailable) -> None:
        metrics.PREVENTION_EVALUATIONS.labels(name, "failed").inc()
        log.warning("prevention: %s skipped this round (its alerts stay as they are): %s", name, exc)


def _forecasts(f: ForecastConfig, series: list[RangeSeries], now: datetime, url: str) -> list[Eval]:
    return [e for s in series if (e := evaluate_forecast(f, s, now, url)) is not None]


def _baselines(b: BaselineConfig, series: list[RangeSeries], now: datetime, url: str) -> list[Eval]:
    return [e for s in series if (e := evaluate_baseline(b, s, now, url)) is not None]
