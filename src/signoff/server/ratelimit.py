"""Per-key rate limiting: a token bucket per caller, answered with 429 and Retry-After.

In memory and per process: it stops one runaway pipeline from starving the others on
this process; it is not a global quota across several service processes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate * 2)
        self.buckets: dict[str, Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed; otherwise the seconds to wait before the next request."""
        if not self.enabled:
            return 0.0
        moment = time.monotonic() if now is None else now
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(tokens=self.burst, updated=moment)
        bucket.tokens = min(self.burst, bucket.tokens + (moment - bucket.updated) * self.rate)
        bucket.updated = moment
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
