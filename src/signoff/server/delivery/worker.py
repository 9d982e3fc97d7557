"""Sends what the outbox holds: sign, POST, log every attempt, retry with backoff, and
settle endpoint health, a batch of attempts per transaction."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpcore
import httpx

from signoff.retry_after import retry_after_seconds
from signoff.server.config import IPNetwork, Settings
from signoff.server.delivery.guard import Blocked, GuardedBackend, check_url
from signoff.server.delivery.health import Verdict, settle
from signoff.server.delivery.notify import Notifier
from signoff.server.delivery.signing import headers_for
from signoff.server.metrics import ServiceMetrics
from signoff.server.store.db import write
from signoff.server.store.events import health_rows, save_health
from signoff.server.store.kinds import NOTIFICATION_KINDS, DeliveryKind, DeliveryState
from signoff.server.store.outbox import Attempt, DueDelivery, OutboxStore, record_attempts

log = logging.getLogger(__name__)

GIVE_UP_STATUSES = frozenset({410})
"""A receiver that answers 410 Gone asks not to be called again."""


CONCURRENCY = 64
"""Sends in flight at once; more are claimed when half of them have finished."""

MAX_RESPONSE_BYTES = 64 * 1024
"""Read at most this much of a receiver's answer; keep the first 500 characters."""


@dataclass(frozen=True)
class _Outcome:
    status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    retry: bool = True


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose sockets go through the guard.

    httpx takes no network backend, so the pool (httpx's default limits) is replaced by
    one with :class:`GuardedBackend`; requests, streaming and error mapping stay httpx's.
    """

    def __init__(self, allow: list[IPNetwork]) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allow),
        )


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
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.metrics = metrics or ServiceMetrics()
        self.store = store
        self.settings = settings
        self.signing_secret = signing_secret
        self.wakeup = asyncio.Event()
        self.notifier = Notifier(settings)
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.delivery_timeout),
            follow_redirects=False,
            transport=GuardedTransport(settings.outbound_allow),
        )

    def kick(self) -> None:
        self.wakeup.set()

    async def close(self) -> None:
        await self.http.aclose()
        await self.notifier.close()

    async def run(self) -> None:
        """Keep up to ``CONCURRENCY`` sends in flight; settle finished ones in batches.

        Claims and records are one transaction each per batch, not per delivery: on
        SQLite every write transaction queues for the one write lock.
        """
        sending: set[asyncio.Task[Attempt]] = set()
        while True:
            try:
                self.wakeup.clear()
                if len(sending) <= CONCURRENCY // 2:
                    due = await self.store.claim_due(limit=CONCURRENCY - len(sending))
                    sending.update(asyncio.create_task(self._send(item)) for item in due)
                woken = asyncio.ensure_future(self.wakeup.wait())
                await asyncio.wait(
                    {*sending, woken}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
                finished = [task for task in sending if task.done()]
                sending.difference_update(finished)
                await self._settle([task.result() for task in finished])
            except asyncio.CancelledError:
                for task in sending:
                    task.cancel()
                raise
            except Exception:  # leased rows are retried once their lease runs out
                log.exception("outbox pass failed; retrying shortly")
                await asyncio.sleep(0.5)

    async def _settle(self, attempts: list[Attempt]) -> None:
        if not attempts:
            return
        verdicts = [
            Verdict(a.delivery.target_id, a.delivery.kind, ok=a.error is None, error=a.error)
            for a in attempts
            if a.delivery.target_id and a.delivery.kind != DeliveryKind.CALLBACK
        ]
        async with write(self.store.engine) as conn:
            await record_attempts(conn, attempts)
            if verdicts:
                before = await health_rows(conn, sorted({v.target_id for v in verdicts}))
                after, switched_off = settle(
                    before,
                    verdicts,
                    now=datetime.now(timezone.utc),
                    flag_after=self.settings.endpoint_flag_after,
                    deactivate_after=self.settings.endpoint_deactivate_after,
                )
                await save_health(conn, before, after, switched_off)

    async def _post(self, item: DueDelivery) -> _Outcome:
        """An HTTP delivery (callback, webhook, workflow action) through the guard."""
        await check_url(item.url, self.settings.outbound_allow)
        body = item.payload.encode()
        request = self.http.build_request(
            "POST", item.url, content=body, headers=headers_for(item, body, self.signing_secret)
        )
        response = await self.http.send(request, stream=True)
        try:
            status = response.status_code
            excerpt = await read_capped(response) or None
        finally:
            await response.aclose()
        if response.is_success:
            return _Outcome(status, excerpt=excerpt)
        retry_after = retry_after_seconds(response) if status in (429, 503) else None
        return _Outcome(
            status, f"receiver answered {status}", excerpt, retry_after,
            retry=status not in GIVE_UP_STATUSES,
        )  # fmt: skip

    def backoff(self, attempt: int) -> float:
        delay = min(
            self.settings.delivery_backoff_cap, self.settings.delivery_backoff_base * 2**attempt
        )
        return delay * random.uniform(0.8, 1.2)

    async def _send(self, item: DueDelivery) -> Attempt:
        """One attempt; never raises (what went wrong is the attempt's error)."""
        started = time.monotonic()
        outcome = _Outcome()
        try:
            if item.kind in NOTIFICATION_KINDS:
                sent = await self.notifier.send(item)
                outcome = _Outcome(None, sent.error, sent.excerpt, None, sent.retry)
            else:
                outcome = await self._post(item)
        except Blocked as exc:
            outcome = _Outcome(error=f"blocked: {exc}", retry=False)
        except Exception as exc:  # httpx errors, and anything else a send can raise
            said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            outcome = _Outcome(error=said)
        status, error, excerpt, retry_after, retry = (
            outcome.status,
            outcome.error,
            outcome.excerpt,
            outcome.retry_after,
            outcome.retry,
        )
        duration_ms = int((time.monotonic() - started) * 1000)
        attempts = item.attempt_count + 1
        next_at: datetime | None = None
        if error is None:
            state = DeliveryState.DELIVERED
        elif retry and attempts < self.settings.delivery_max_attempts:
            state = DeliveryState.PENDING
            delay = self.backoff(attempts - 1)
            if retry_after is not None:
                delay = min(max(retry_after, 0.0), self.settings.delivery_backoff_cap)
            next_at = datetime.now(timezone.utc) + timedelta(seconds=delay)
        else:
            state = DeliveryState.FAILED
        if error:
            log.info("delivery %s (%s) failed, %s: %s", item.id, item.kind, state, error)
        self.metrics.record_delivery(
            DeliveryKind(item.kind).value, state.value, time.monotonic() - started
        )
        return Attempt(
            item,
            status_code=status,
            error=error,
            duration_ms=duration_ms,
            state=state,
            next_attempt_at=next_at,
            response_excerpt=excerpt,
        )
