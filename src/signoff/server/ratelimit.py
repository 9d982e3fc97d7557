"""Rate limiting: a token bucket per caller (or per client address, for failed keys),
answered with 429 and Retry-After.

In memory and per process: it stops one runaway pipeline from starving the others on
this process, and slows key guessing; it is not a global quota across several service
processes.
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
    MAX_KEYS = 10_000
    """Past this many buckets the full ones are dropped (a full bucket is as good as none),
    so callers from ever new addresses cannot grow the memory without bound."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate * 2)
        self.buckets: dict[str, Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _refilled(self, bucket: Bucket, moment: float) -> Bucket:
        bucket.tokens = min(self.burst, bucket.tokens + (moment - bucket.updated) * self.rate)
        bucket.updated = moment
        return bucket

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed; otherwise the seconds to wait before the next request."""
        if not self.enabled:
            return 0.0
        moment = time.monotonic() if now is None else now
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.MAX_KEYS:
                self.buckets = {
                    k: b
                    for k, b in self.buckets.items()
                    if self._refilled(b, moment).tokens < self.burst
                }
            bucket = self.buckets[key] = Bucket(tokens=self.burst, updated=moment)
        self._refilled(bucket, moment)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def wait(self, key: str, now: float | None = None) -> float:
        """What ``take`` would answer, without taking: for limits charged only afterwards."""
        bucket = self.buckets.get(key) if self.enabled else None
        if bucket is None:
            return 0.0
        self._refilled(bucket, time.monotonic() if now is None else now)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
