"""Reading ``Retry-After``: shared by the clients and the service's delivery worker."""

from __future__ import annotations

import email.utils
import math
import time

import httpx


def retry_after_seconds(response: httpx.Response) -> float | None:
    """How long ``response`` asks the caller to wait, in seconds (never negative).

    ``Retry-After`` is either seconds or an HTTP date (RFC 9110). ``None`` when the header
    is absent *or malformed*: it comes from a server the caller does not control, and a
    header nobody can read must not turn a retry into a crash (a bare ``ValueError``), so
    the caller falls back to its own backoff, as without the header.
    """
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = parsed.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
