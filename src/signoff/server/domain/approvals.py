"""An approval's life: submitted, decided (by a reviewer, its asker, or the clock), read.

Each function here is the one place its behaviour lives. A submit or a decision commits
the approval, its lifecycle event with every delivery that event causes, and its
callback in one transaction; only then are waiters woken and the delivery worker kicked,
so whatever they read is already there.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from signoff.models import (
    Approval,
    ApprovalRequest,
    ApprovalStatus,
    CallbackPayload,
    DecisionReason,
    DecisionRequest,
)
from signoff.server.domain import events
from signoff.server.domain.errors import AlreadyDecided, Conflict, Forbidden, NotFound
from signoff.server.ids import new_id
from signoff.server.services import Services
from signoff.server.store import outbox
from signoff.server.store.approvals import Decision
from signoff.server.store.credentials import Principal
from signoff.server.store.db import write
from signoff.server.store.events import NewEvent
from signoff.server.store.kinds import DeliveryKind

__all__ = [
    "Decision",
    "cancel",
    "decide",
    "expire",
    "expire_due",
    "get",
    "reviewer_decision",
    "submit",
]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def wake(services: Services, *approval_ids: str) -> None:
    """After a commit: waiters re-read, the worker sends what was queued."""
    for approval_id in approval_ids:
        services.hub.publish(approval_id)
    services.worker.kick()


async def submit(
    services: Services,
    request: ApprovalRequest,
    who: Principal,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> tuple[Approval, bool]:
    """Create an approval (``True``), or with a known idempotency key return the first one
    (``False``; :class:`Conflict` when that key came with another body)."""
    store = services.approvals
    scoped = f"{who.name}:{idempotency_key}" if idempotency_key else None
    if scoped and (existing := await _by_key(services, scoped, request_hash)) is not None:
        return existing, False
    now = utcnow()
    lifetime = request.expires_in_seconds or services.settings.default_expiry_seconds
    values = {
        "id": new_id("req"),
        "status": ApprovalStatus.PENDING.value,
        "action": request.action,
        "summary": request.summary,
        "details": request.details,
        "risk_level": request.effective_risk_level().value,
        "risk_score": request.risk_score,
        "justification": request.justification,
        "callback_url": request.callback_url,
        "source": request.source.to_wire(exclude_none=True) if request.source else None,
        "trace": request.trace,
        "retryable": False,
        "created_at": now,
        "expires_at": now + timedelta(seconds=lifetime),
        "created_by": who.name,
        "idempotency_key": scoped,
        "request_hash": request_hash if scoped else None,
    }
    try:
        async with write(store.engine) as conn:
            row = await store.insert(conn, values)
            approval = store.model(row)
            await events.publish_in(conn, lifecycle_event("approval_requested", approval))
            await store.notify(conn, approval.id)
    except IntegrityError:  # a concurrent twin with the same key committed first
        if not scoped or (existing := await _by_key(services, scoped, request_hash)) is None:
            raise
        return existing, False
    wake(services, approval.id)  # live pages; an approval_requested webhook goes out now
    return approval, True


async def _by_key(services: Services, key: str, request_hash: str | None) -> Approval | None:
    row = await services.approvals.by_idempotency_key(key)
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise Conflict(
            "Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        )
    return services.approvals.model(row)


async def get(services: Services, approval_id: str) -> Approval:
    """The approval now: one read exactly at or past its deadline expires it first, rather
    than wait for the sweep. :class:`NotFound` for an unknown id."""
    approval = await services.approvals.get(approval_id)
    if approval is None:
        raise NotFound("approval", approval_id)
    if not approval.is_decided and approval.expires_at and approval.expires_at <= utcnow():
        return await expire(services, approval_id) or await get(services, approval_id)
    return approval


async def decide(services: Services, approval_id: str, decision: Decision) -> Approval:
    """Record a decision exactly once, with its event, deliveries and callback; then wake.

    :class:`NotFound` for an unknown id, :class:`AlreadyDecided` when another decision
    won (or the approval expired first); in both cases nothing is written.
    """
    await get(services, approval_id)  # expires it if its time is up: then it is decided
    store = services.approvals
    async with write(store.engine) as conn:
        row = await store.record_decision(conn, approval_id, decision)
        if row is None:
            current = await store.row(approval_id, conn)
            if current is None:
                raise NotFound("approval", approval_id)
            raise AlreadyDecided(store.model(current))
        approval = store.model(row)
        await events.publish_in(conn, lifecycle_event(event_type(decision), approval))
        await _queue_callback(conn, row, approval)
        await store.notify(conn, approval_id)
    wake(services, approval_id)
    return approval


async def _queue_callback(conn: AsyncConnection, row: RowMapping, approval: Approval) -> None:
    if row["callback_url"]:  # the model's URL is masked; the stored one has the password
        await outbox.enqueue(
            conn,
            kind=DeliveryKind.CALLBACK,
            subject_id=approval.id,
            url=row["callback_url"],
            payload=callback_body(approval),
        )


def reviewer_decision(body: DecisionRequest, who: Principal) -> Decision:
    """What a reviewer's approve / reject means: edits count only on an approval."""
    approved = body.decision == "approve"
    return Decision(
        status=ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED,
        reason=DecisionReason.REVIEWER,
        decided_by=who.name,
        note=body.note,
        modified_details=body.modified_details if approved else None,
    )


async def cancel(
    services: Services, approval_id: str, who: Principal, reason: str | None = None
) -> Approval:
    """The asker withdraws a pending approval: it reads REJECTED with reason CANCELLED.

    Only the key that submitted it (keys are told apart by name, so a rotated key keeps
    its approvals) or an admin key may: one pipeline cannot withdraw another's request.
    """
    owner = await services.approvals.created_by(approval_id)
    if owner is None:
        raise NotFound("approval", approval_id)
    if who.kind != "admin" and owner != who.name:
        raise Forbidden("only the API key that submitted this approval may cancel it")
    decision = Decision(
        status=ApprovalStatus.REJECTED,
        reason=DecisionReason.CANCELLED,
        decided_by=who.name,
        note=reason or "Withdrawn by the requester.",
    )
    return await decide(services, approval_id, decision)


EXPIRED = Decision(
    status=ApprovalStatus.REJECTED,
    reason=DecisionReason.EXPIRED,
    decided_by=None,
    note="Expired: no reviewer decided in time.",
)


async def expire(services: Services, approval_id: str) -> Approval | None:
    """Expire one approval; ``None`` when a decision got there first."""
    store = services.approvals
    async with write(store.engine) as conn:
        row = await store.record_decision(conn, approval_id, EXPIRED)
        if row is None:
            return None
        approval = store.model(row)
        await events.publish_in(conn, lifecycle_event("approval_expired", approval))
        await _queue_callback(conn, row, approval)
        await store.notify(conn, approval_id)
    wake(services, approval_id)
    return approval


async def expire_due(services: Services, limit: int = 200) -> list[Approval]:
    """The sweep: expire what is past its deadline; each row by exactly one caller."""
    expired = []
    for approval_id in await services.approvals.due_ids(limit):
        approval = await expire(services, approval_id)
        if approval is not None:
            expired.append(approval)
    return expired


def event_type(decision: Decision) -> str:
    if decision.reason is DecisionReason.EXPIRED:
        return "approval_expired"
    if decision.reason is DecisionReason.CANCELLED:
        return "approval_cancelled"
    return (
        "approval_approved" if decision.status is ApprovalStatus.APPROVED else "approval_rejected"
    )


def lifecycle_event(kind: str, approval: Approval) -> NewEvent:
    """Approvals are events too, so teams can subscribe webhooks to decisions."""
    return NewEvent(type=kind, data=approval.to_wire(), source="approvals", subject_id=approval.id)


def callback_body(approval: Approval) -> str:
    payload = CallbackPayload(
        approval_id=approval.id,
        status="approved" if approval.status is ApprovalStatus.APPROVED else "rejected",
        modified_details=approval.modified_details,
        decision_note=approval.decision_note,
        details=approval.details,
        decision_reason_code=approval.decision_reason_code,
        decided_by=approval.decided_by,
        decided_at=approval.decided_at,
    )
    return json.dumps(payload.to_wire(), separators=(",", ":"))
