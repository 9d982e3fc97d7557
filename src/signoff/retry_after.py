"""Reading ``Retry-After``: shared by the clients and the service's delivery worker."""

from __future__ import annotations

import email.utils
import time

import httpx


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time())
