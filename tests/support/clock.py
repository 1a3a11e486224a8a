"""The one fake clock of the suite: the test moves time by hand, so escalations of 30 minutes run in milliseconds.

It is the service's clock (call it) and the remediation engine's (`clock=clock.now, sleep=clock.sleep`): `sleep`
advances the time at once and records how long each sleep was. (remediator/casetest.py has its own FakeClock: it
belongs to the shipped `tocsin runbook test` kit, not to this suite.)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

#: Saturday 2026-11-28 03:00 UTC: a night shift on a weekend.
START = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or START
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.current

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> datetime:
        self.current += timedelta(**kwargs)
        return self.current

    async def sleep(self, seconds: float) -> None:
        """Advance by `seconds` without waiting (one trip through the event loop)."""
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)
