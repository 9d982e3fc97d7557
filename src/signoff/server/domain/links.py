"""Signed decision links: one reviewer may decide one approval without signing in.

A link carries the approval, the reviewer, a nonce and its expiry, signed with a key
derived from the service's secret (``itsdangerous``), so it needs no row until it is
used. Opening it (GET) only shows what would be decided: mail scanners and chat
previews open links. The POST decides as that reviewer through ``approvals.review``, with
every rule of who may decide, and records the nonce in the same transaction: a link
works once, stops working when the approval is decided by anyone, and after its expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from signoff.models import Approval, DecisionRequest
from signoff.server.domain.errors import LinkInvalid, LinkRefused
from signoff.server.services import Services
from signoff.server.store import links as store

SALT = "signoff.decision-link.v1"
PATH = "/l/"


@dataclass(frozen=True)
class Link:
    approval_id: str
    reviewer: str
    nonce: str
    expires_at: float


def key_of(secret: str) -> bytes:
    """The links' own key: a leaked link key is not the callback signing secret."""
    return hmac.new(secret.encode(), b"signoff decision links", hashlib.sha256).digest()


def _serializer(services: Services) -> URLSafeSerializer:
    return URLSafeSerializer(services.link_key, salt=SALT)


def make(services: Services, approval: Approval, reviewer: str) -> str:
    """A new link for ``reviewer`` to decide ``approval``: its full URL."""
    ttl = services.settings.decision_link_ttl
    expires = time.time() + ttl
    if approval.expires_at is not None:
        expires = min(expires, approval.expires_at.timestamp())
    token = _serializer(services).dumps(
        [approval.id, reviewer, secrets.token_urlsafe(12), int(expires)]
    )
    return services.settings.base_url + PATH + str(token)


def read(services: Services, token: str) -> Link:
    """What a link says, if it was signed by this service and has not expired (whether it
    was used is :func:`check`'s question: it needs the database)."""
    try:
        approval_id, reviewer, nonce, expires = _serializer(services).loads(token)
        link = Link(str(approval_id), str(reviewer), str(nonce), float(expires))
    except (BadSignature, ValueError, TypeError):
        raise LinkInvalid(
            "This link is not valid: it was changed or cut short. Open the review page "
            "instead, or ask for a new link."
        ) from None
    if link.expires_at <= time.time():
        raise LinkRefused("This link has expired. Open the review page to decide.", "link_expired")
    return link


async def check(services: Services, token: str) -> tuple[Link, Approval]:
    """The link and its approval, refused with a clear reason when it cannot decide."""
    from signoff.server.domain import approvals

    link = read(services, token)
    approval = await approvals.get(services, link.approval_id)
    if approval.is_decided:
        by = f" by {approval.decided_by}" if approval.decided_by else ""
        raise LinkRefused(
            f"This approval was already decided{by}: {approval.status.value.lower()}.",
            "already_decided",
        )
    if await store.used(services.approvals.engine, link.nonce):
        raise LinkRefused(approvals.USED_LINK, "link_used")
    return link, approval


async def decide(services: Services, token: str, body: DecisionRequest) -> Approval:
    """Decide as the link's reviewer, once."""
    from signoff.server.domain import approvals
    from signoff.server.store.credentials import Principal

    link = read(services, token)
    who = Principal(kind="reviewer", name=link.reviewer)
    return await approvals.review(services, link.approval_id, body, who, link=link.nonce)
