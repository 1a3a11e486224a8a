"""A small in-memory rate limiter (sliding window per key) for the unauthenticated sign-in endpoints.

Per process: with several replicas a client gets each replica's allowance. The per-code attempt counter, which
is what stops guessing, is in the database and shared.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

#: Keys tracked at most; beyond, the oldest are forgotten (a flood of new keys cannot grow memory without bound).
MAX_KEYS = 10_000


class RateLimiter:
    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[datetime]] = {}

    def allow(self, key: str, now: datetime) -> bool:
        """Count a hit for `key`; False when it had `limit` hits within the window already."""
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        self._hits[key] = hits  # re-inserted: the dict's order is least recently used first
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        while len(self._hits) > MAX_KEYS:
            del self._hits[next(iter(self._hits))]
        return True

    def retry_after(self, key: str, now: datetime) -> int:
        """Seconds until `key` has room again."""
        hits = self._hits.get(key)
        if not hits:
            return 0
        return max(1, int((hits[0] + self.window - now).total_seconds()) + 1)
