"""Sends what the outbox holds: sign, POST, log every attempt, retry with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import datetime, timedelta, timezone

import httpx

from signoff.retry_after import retry_after_seconds
from signoff.server.config import Settings
from signoff.server.delivery.guard import Blocked, check_url
from signoff.server.store.events import EventStore
from signoff.server.store.outbox import DueDelivery, OutboxStore
from signoff.signing import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

CALLBACK_USER_AGENT = "Cheqpoint-Callback/1.0"
"""Seed 000: callbacks identify themselves with this ``User-Agent``."""

GIVE_UP_STATUSES = frozenset({410})
"""A receiver that answers 410 Gone asks not to be called again."""


MAX_RESPONSE_BYTES = 64 * 1024
"""Read at most this much of a receiver's answer; keep the first 500 characters."""


async def read_capped(response: httpx.Response) -> str:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= MAX_RESPONSE_BYTES:
            break
    return body[:500].decode("utf-8", "replace")


class DeliveryWorker:
    def __init__(
        self,
        store: OutboxStore,
        settings: Settings,
        signing_secret: str,
        events: EventStore | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.settings = settings
        self.signing_secret = signing_secret
        self.wakeup = asyncio.Event()
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.delivery_timeout),
            follow_redirects=False,
            headers={"User-Agent": CALLBACK_USER_AGENT},
        )
        self._limit = asyncio.Semaphore(32)

    def kick(self) -> None:
        self.wakeup.set()

    async def close(self) -> None:
        await self.http.aclose()

    async def run(self) -> None:
        while True:
            try:
                due = await self.store.claim_due(limit=64)
                if due:
                    await asyncio.gather(*(self._send(item) for item in due))
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox pass failed; retrying shortly")
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=0.5)
            except asyncio.TimeoutError:
                pass

    def backoff(self, attempt: int) -> float:
        delay = min(
            self.settings.delivery_backoff_cap, self.settings.delivery_backoff_base * 2**attempt
        )
        return delay * random.uniform(0.8, 1.2)

    def headers_for(self, item: DueDelivery, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "X-Signoff-Delivery": item.id,
            "X-Signoff-Attempt": str(item.attempt_count + 1),
        }
        if item.kind == "callback":  # signed now: the signature carries the send time
            headers["User-Agent"] = CALLBACK_USER_AGENT
            headers[SIGNATURE_HEADER] = sign(body, self.signing_secret)
        return {**headers, **item.headers}

    async def _send(self, item: DueDelivery) -> None:
        async with self._limit:
            started = time.monotonic()
            status: int | None = None
            error: str | None = None
            excerpt: str | None = None
            retry_after: float | None = None
            retry = True
            try:
                await check_url(item.url, self.settings.outbound_allow)
                body = item.payload.encode()
                request = self.http.build_request(
                    "POST", item.url, content=body, headers=self.headers_for(item, body)
                )
                response = await self.http.send(request, stream=True)
                try:
                    status = response.status_code
                    excerpt = await read_capped(response) or None
                finally:
                    await response.aclose()
                if not response.is_success:
                    error = f"receiver answered {status}"
                    retry = status not in GIVE_UP_STATUSES
                    if status in (429, 503):
                        retry_after = retry_after_seconds(response)
            except Blocked as exc:
                error, retry = f"blocked: {exc}", False
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            duration_ms = int((time.monotonic() - started) * 1000)
            attempts = item.attempt_count + 1
            next_at: datetime | None = None
            if error is None:
                state = "delivered"
            elif retry and attempts < self.settings.delivery_max_attempts:
                state = "pending"
                delay = self.backoff(attempts - 1)
                if retry_after is not None:
                    delay = min(max(retry_after, 0.0), self.settings.delivery_backoff_cap)
                next_at = datetime.now(timezone.utc) + timedelta(seconds=delay)
            else:
                state = "failed"
            if error:
                log.info("delivery %s (%s) failed, %s: %s", item.id, item.kind, state, error)
            await self.store.record_attempt(
                item,
                status_code=status,
                error=error,
                duration_ms=duration_ms,
                state=state,
                next_attempt_at=next_at,
                response_excerpt=excerpt,
            )
            if self.events is not None and item.target_id and item.kind != "callback":
                await self.events.record_health(
                    item.target_id,
                    item.kind,
                    ok=error is None,
                    error=error,
                    flag_after=self.settings.endpoint_flag_after,
                    deactivate_after=self.settings.endpoint_deactivate_after,
                )
