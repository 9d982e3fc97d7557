"""What the service is doing, as Prometheus metrics at ``GET /metrics``.

Everything lives in one :class:`ServiceMetrics` per app, each with its own
``CollectorRegistry``: several services in one process (the tests start them so) never
share or clash over a series. Requests are counted by a middleware, which labels them
with the route *template* (``/api/approvals/{approval_id}``), never the raw path, so an
approval id never becomes a series. What the database knows (the outbox) and what the
hub knows (approvals being waited on) is read when scraped, so nothing has to keep it
up to date.

A thousand Airflow tasks waiting through one :class:`signoff.waiting.DecisionWaiter`
show up here as one request in flight on ``/api/approvals/wait``, not a thousand polls.
README's "Metrics" section lists every series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff._version import __version__

if TYPE_CHECKING:
    from signoff.server.services import Services
    from signoff.server.store.outbox import OutboxLag

log = logging.getLogger(__name__)

# The text format shows each counter's start time as a second series (`*_created`):
# twice the lines, and a timestamp among the values of every tool that sums a route's.
disable_created_metrics()

UNMATCHED = "unmatched"
"""The route of a request that no route answers (404), or not yet routed."""

DELIVERY_KINDS = ("callback", "webhook", "workflow")
DELIVERY_OUTCOMES = {"delivered": "delivered", "pending": "retry", "failed": "failed"}
"""An attempt's resulting delivery state -> its ``outcome`` label."""
WAIT_KINDS = ("long_poll", "stream", "read")

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Up to a minute: a long-poll holds for up to 30 s (``MAX_LONG_POLL_MS``)."""
DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def route_of(scope: Scope) -> str:
    """The template of the route that answers (or answered) the request.

    Routing writes into the request's scope: a route as ``route``; a mount (the static
    files) only moves ``root_path`` on by its own path, which is then its template.
    """
    template = getattr(scope.get("route"), "path", None)
    if isinstance(template, str) and template:
        return template
    if "endpoint" in scope:
        mounted = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path", ""))) :]
        if mounted:
            return mounted
    return UNMATCHED


class InFlight(Collector):
    """Requests being answered now, by method and route, counted when scraped.

    The route is known only once the request has been routed, which is after the
    middleware saw it arrive; so the middleware keeps the requests themselves and the
    labels are read at scrape time, when every long-poll has long been routed.
    """

    def __init__(self) -> None:
        self.active: dict[int, Scope] = {}

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "signoff_http_requests_in_flight",
            "Requests being answered now, by method and route.",
            labels=["method", "route"],
        )
        counts: dict[tuple[str, str], int] = {}
        for scope in list(self.active.values()):
            key = (str(scope["method"]), route_of(scope))
            counts[key] = counts.get(key, 0) + 1
        for (method, route), count in sorted(counts.items()):
            family.add_metric([method, route], count)
        yield family


class ScrapeTime(Collector):
    """What is read when ``/metrics`` is scraped: the outbox backlog and the waiters.

    ``collect`` cannot await, so the route :meth:`refresh`-es first and this yields what
    it read; a backlog that could not be read is left out rather than shown as zero.
    """

    def __init__(self) -> None:
        self.lag: OutboxLag | None = None
        self.watched: int | None = None

    async def refresh(self, services: Services) -> None:
        self.watched = services.hub.waiting
        try:
            self.lag = await services.outbox.lag()
        except Exception as exc:  # the database is away: /healthz says so, not this
            log.warning("could not read the outbox for /metrics: %s", exc)
            self.lag = None

    def collect(self) -> Iterable[Metric]:
        if self.watched is not None:
            yield GaugeMetricFamily(
                "signoff_waits_watched_approvals",
                "Approvals that at least one held wait is waiting on.",
                value=self.watched,
            )
        if self.lag is not None:
            yield GaugeMetricFamily(
                "signoff_outbox_pending",
                "Deliveries not yet delivered nor given up (due now or awaiting a retry).",
                value=self.lag.pending,
            )
            yield GaugeMetricFamily(
                "signoff_outbox_oldest_due_age_seconds",
                "How long the oldest due delivery has waited past its time (0: none due).",
                value=self.lag.oldest_due_seconds,
            )


class ServiceMetrics:
    """The metrics of one app. The approvals router and the delivery worker report to
    it through :meth:`held_wait` and :meth:`record_delivery`; the rest is measured here.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Info("signoff_build", "The running signoff.", registry=r).info({"version": __version__})
        self.requests = Counter(
            "signoff_http_requests",
            "Requests answered, by method and route.",
            ["method", "route"],
            registry=r,
        )
        self.latency = Histogram(
            "signoff_http_request_duration_seconds",
            "Time to answer a request (a streamed answer: until its end), by method, "
            "route and status.",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.in_flight = InFlight()
        r.register(self.in_flight)
        self.waits = Gauge(
            "signoff_waits_held",
            "Waits for a decision being held open now: long_poll (POST /api/approvals/wait), "
            "stream (the same with stream: true), read (GET /api/approvals/{id}?waitMs).",
            ["kind"],
            registry=r,
        )
        self.attempts = Counter(
            "signoff_delivery_attempts",
            "Delivery attempts, by kind and outcome (delivered, retry, failed: given up).",
            ["kind", "outcome"],
            registry=r,
        )
        self.attempt_latency = Histogram(
            "signoff_delivery_attempt_duration_seconds",
            "Time of one delivery attempt, by kind and outcome.",
            ["kind", "outcome"],
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        for kind in WAIT_KINDS:
            self.waits.labels(kind)
        for kind in DELIVERY_KINDS:
            for outcome in DELIVERY_OUTCOMES.values():
                self.attempts.labels(kind, outcome)
                self.attempt_latency.labels(kind, outcome)
        self.scraped = ScrapeTime()
        r.register(self.scraped)

    def held_wait(self, kind: str) -> AbstractContextManager[Any]:
        """``with metrics.held_wait("stream"):`` around the time a wait is held open."""
        if kind not in WAIT_KINDS:
            raise ValueError(f"unknown wait kind {kind!r}; one of {WAIT_KINDS}")
        return self.waits.labels(kind).track_inprogress()

    def record_delivery(self, kind: str, state: str, seconds: float) -> None:
        """One attempt of a delivery of ``kind`` that left it in ``state`` (its new
        ``deliveries.state``: delivered, pending = will retry, failed = given up)."""
        outcome = DELIVERY_OUTCOMES.get(state, state)
        self.attempts.labels(kind, outcome).inc()
        self.attempt_latency.labels(kind, outcome).observe(seconds)

    async def render(self, services: Services) -> bytes:
        """The Prometheus text format, with what is read at scrape time read now."""
        from prometheus_client import generate_latest

        await self.scraped.refresh(services)
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request of the app it wraps."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before it answers
        started = time.perf_counter()

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        active = self.metrics.in_flight.active
        active[id(scope)] = scope
        try:
            await self.app(scope, receive, answering)
        finally:
            del active[id(scope)]
            method, route = scope["method"], route_of(scope)
            self.metrics.requests.labels(method, route).inc()
            self.metrics.latency.labels(method, route, str(status)).observe(
                time.perf_counter() - started
            )
