"""The embedded service: ``create_app(settings)`` wires stores, workers and routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff._version import __version__
from signoff.models import ErrorBody
from signoff.server import errors, ui
from signoff.server.api import (
    approvals,
    events,
    inbound,
    policies,
    reviewers,
    slack,
    webhooks,
    workflows,
)
from signoff.server.api._common import errors as documented_errors
from signoff.server.auth import AnyCaller
from signoff.server.config import Settings
from signoff.server.delivery.worker import DeliveryWorker
from signoff.server.domain import approvals as domain_approvals
from signoff.server.domain import links
from signoff.server.domain.policies import ActivePolicies
from signoff.server.hub import DecisionHub
from signoff.server.inputs import InputGuard
from signoff.server.metrics import RequestMetrics, ServiceMetrics
from signoff.server.ratelimit import RateLimiter
from signoff.server.services import Services
from signoff.server.store.approvals import NOTIFY_CHANNEL, ApprovalStore
from signoff.server.store.credentials import (
    configured_entries,
    load_keyring,
    signing_secret,
    stored_entries,
)
from signoff.server.store.db import async_url, asyncpg_dsn, create_engine, migrate, ping
from signoff.server.store.events import EventStore
from signoff.server.store.idempotency import IdempotencyStore
from signoff.server.store.notifications import PostgresListener
from signoff.server.store.outbox import OutboxStore
from signoff.server.store.policies import PolicyStore
from signoff.server.store.reviewers import ReviewerStore
from signoff.server.store.subscriptions import SubscriptionStore

log = logging.getLogger("signoff.server")


def announce(lines: list[str]) -> None:
    """Printed once, on the start that created them: the only time a secret is shown."""
    for line in lines:
        print(line, flush=True)


async def sweep_expired(services: Services) -> None:
    while True:
        try:
            await domain_approvals.expire_due(services)
            await domain_approvals.breach_slas(services)
            await domain_approvals.remind_due(services)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("expiry sweep failed; retrying")
        await asyncio.sleep(services.settings.sweep_interval)


async def refresh_keys(services: Services, engine: AsyncEngine) -> None:
    """Re-read stored keys, so `signoff keys create|revoke` take effect without a restart."""
    settings = services.settings
    configured = configured_entries(
        settings.api_keys, settings.reviewer_tokens, settings.admin_keys
    )
    while True:
        await asyncio.sleep(settings.keyring_refresh)
        try:
            services.keyring.entries = configured + await stored_entries(engine)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("could not re-read keys; keeping the ones loaded")


async def start(
    settings: Settings, engine: AsyncEngine, metrics: ServiceMetrics | None = None
) -> Services:
    metrics = metrics or ServiceMetrics()
    await migrate(engine)
    keyring, made = await load_keyring(
        engine,
        api_keys=settings.api_keys,
        reviewer_tokens=settings.reviewer_tokens,
        admin_keys=settings.admin_keys,
    )
    secret, secret_made = await signing_secret(engine, settings.signing_secret)
    lines = []
    if made.api_key:
        lines.append(f"signoff: created API key (shown once): {made.api_key}")
    if made.reviewer_token:
        lines.append(f"signoff: created reviewer token (shown once): {made.reviewer_token}")
    if secret_made:
        lines.append(f"signoff: created callback signing secret (shown once): {secret}")
    announce(lines)
    outbox = OutboxStore(engine)
    events = EventStore(engine)
    return Services(
        settings=settings,
        approvals=ApprovalStore(engine, base_url=settings.base_url),
        reviewers=ReviewerStore(engine),
        policies=ActivePolicies(PolicyStore(engine)),
        outbox=outbox,
        keyring=keyring,
        hub=DecisionHub(),
        worker=DeliveryWorker(outbox, settings, secret, metrics),
        subscriptions=SubscriptionStore(engine, base_url=settings.base_url),
        events=events,
        idempotency=IdempotencyStore(engine),
        limiter=RateLimiter(settings.rate_limit),
        auth_failures=RateLimiter(settings.auth_failure_rate, settings.auth_failure_rate * 10),
        metrics=metrics,
        link_key=links.key_of(secret),
    )


def create_app(settings: Settings) -> FastAPI:
    engine = create_engine(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await start(settings, engine, service_metrics)
        app.state.services = services
        tasks = [
            asyncio.create_task(services.worker.run(), name="delivery"),
            asyncio.create_task(sweep_expired(services), name="expiry"),
            asyncio.create_task(refresh_keys(services, engine), name="keys"),
        ]
        if engine.dialect.name == "postgresql":
            listener = PostgresListener(
                asyncpg_dsn(async_url(settings.database_url)), NOTIFY_CHANNEL, services.hub.publish
            )
            tasks.append(asyncio.create_task(listener.run(), name="listen"))
            await asyncio.wait_for(listener.ready.wait(), timeout=30)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await services.worker.close()
            await engine.dispose()

    app = FastAPI(
        title="signoff",
        version=__version__,
        summary="Approvals for data pipelines and webhook management, self-hosted.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.state.metrics = service_metrics = ServiceMetrics()
    app.add_middleware(InputGuard, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=service_metrics)
    app.include_router(approvals.router)
    app.include_router(inbound.router)
    app.include_router(webhooks.router)
    app.include_router(workflows.router)
    app.include_router(events.router)
    app.include_router(reviewers.router)
    app.include_router(policies.router)
    app.include_router(slack.router)
    app.include_router(ui.router)
    app.mount(ui.STATIC_PREFIX, ui.static_files(), name="static")

    @app.get(
        "/healthz",
        tags=["health"],
        responses={503: {"model": ErrorBody, "description": "Database unavailable"}},
    )
    async def healthz() -> JSONResponse:
        """200 when the service can reach its database, 503 when it cannot."""
        try:
            await ping(engine)
        except Exception as exc:
            return JSONResponse({"error": f"database unavailable: {exc}"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=PlainTextResponse,
        responses=documented_errors(401, 429, 503),
    )
    async def metrics(request: Request, _who: AnyCaller) -> Response:
        """Requests, held waits, deliveries and the outbox backlog, in the Prometheus text
        format (README lists every series)."""
        body = await service_metrics.render(request.app.state.services)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


def serve(settings: Settings) -> None:
    import uvicorn

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per delivery is noise
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=3,
    )
