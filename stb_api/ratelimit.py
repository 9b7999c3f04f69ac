"""Token-bucket rate limits, per device and per client address (in memory, per process)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """``per_min`` requests a minute with bursts up to ``per_min``; :meth:`hit` returns 0 when allowed, or the
    seconds to wait (for Retry-After)."""

    def __init__(self, per_min: int, *, max_keys: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(max(per_min, 1))
        self._rate_per_s = self._capacity / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys
        self._clock = clock

    def hit(self, key: str) -> int:
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate_per_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._rate_per_s))
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (they behave like new ones)."""
        full_after_s = self._capacity / self._rate_per_s
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after_s}
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()
