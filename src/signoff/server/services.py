"""Everything a request handler needs, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from signoff.server.config import Settings
from signoff.server.delivery.worker import DeliveryWorker
from signoff.server.domain.policies import ActivePolicies
from signoff.server.hub import DecisionHub
from signoff.server.metrics import ServiceMetrics
from signoff.server.ratelimit import RateLimiter
from signoff.server.store.approvals import ApprovalStore
from signoff.server.store.credentials import Keyring
from signoff.server.store.events import EventStore
from signoff.server.store.idempotency import IdempotencyStore
from signoff.server.store.outbox import OutboxStore
from signoff.server.store.reviewers import ReviewerStore
from signoff.server.store.subscriptions import SubscriptionStore


@dataclass
class Services:
    settings: Settings
    approvals: ApprovalStore
    reviewers: ReviewerStore
    policies: ActivePolicies
    outbox: OutboxStore
    keyring: Keyring
    hub: DecisionHub
    worker: DeliveryWorker
    subscriptions: SubscriptionStore
    events: EventStore
    idempotency: IdempotencyStore
    limiter: RateLimiter
    auth_failures: RateLimiter
    """Charged per client address on a wrong key or sign-in (slows guessing)."""
    metrics: ServiceMetrics
    link_key: bytes
    """Signs decision links (derived from the service secret: ``domain.links.key_of``)."""


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
