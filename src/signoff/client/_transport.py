"""One implementation for the sync and the async client.

Each API call is written once, as a generator that yields what it needs done, an
``httpx.Request`` to send or a :class:`Sleep`, and receives the ``httpx.Response``. The
sync and async clients only *drive* these generators: one with ``httpx.Client`` and
``time.sleep``, the other with ``httpx.AsyncClient`` and ``asyncio.sleep``. Retries,
backoff, error mapping and long-poll fallbacks therefore exist exactly once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from signoff.client.errors import TransportError, error_for_status
from signoff.retry_after import retry_after_seconds

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` wins when the server sends it."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


Step = Generator["httpx.Request | Sleep", "httpx.Response | Exception | None", T]


def raise_for_error(response: httpx.Response) -> None:
    if response.is_success:
        return
    body: Any = None
    message = response.reason_phrase or f"HTTP {response.status_code}"
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            message = body["error"]
    except ValueError:
        pass
    raise error_for_status(response.status_code, message, body)


def send(request: httpx.Request, policy: RetryPolicy, *, retryable: bool) -> Step[httpx.Response]:
    """Send ``request``, retrying transient failures when it is safe to.

    A request is safe to retry when it is a read, or a write carrying an idempotency key
    (``retryable``); anything else is sent once so that nothing is created twice.
    """
    attempt = 0
    while True:
        outcome = yield request
        last = attempt + 1 >= policy.attempts or not retryable
        if isinstance(outcome, Exception):
            if last:
                raise TransportError(f"{request.method} {request.url}: {outcome}") from outcome
            yield Sleep(policy.delay(attempt))
        elif outcome is not None and outcome.status_code in RETRY_STATUSES and not last:
            wait = retry_after_seconds(outcome)
            yield Sleep(min(wait, policy.cap) if wait is not None else policy.delay(attempt))
        else:
            assert outcome is not None
            raise_for_error(outcome)
            return outcome
        attempt += 1


def drive_sync(http: httpx.Client, steps: Step[T]) -> T:
    outcome: httpx.Response | Exception | None = None
    try:
        while True:
            step = steps.send(outcome)
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                outcome = None
                continue
            try:
                outcome = http.send(step)
                outcome.read()
            except httpx.TransportError as exc:
                outcome = exc
    except StopIteration as done:
        return done.value


async def drive_async(http: httpx.AsyncClient, steps: Step[T]) -> T:
    outcome: httpx.Response | Exception | None = None
    try:
        while True:
            step = steps.send(outcome)
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                outcome = None
                continue
            try:
                outcome = await http.send(step)
                await outcome.aread()
            except httpx.TransportError as exc:
                outcome = exc
    except StopIteration as done:
        return done.value
