"""The durable outbox: callbacks and event deliveries waiting to be sent, and their log.

A row is written in the same transaction as what caused it, so a crash can delay a
delivery but never lose it. Workers claim due rows with a lease, so several service
processes on one PostgreSQL never send the same attempt twice at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.models import CallbackDelivery, DeliveryAttempt
from signoff.models.events import Delivery, DeliveryAttemptOut
from signoff.secrets import mask_url
from signoff.server.ids import new_id
from signoff.server.store.db import write
from signoff.server.store.kinds import NOTIFICATION_KINDS, DeliveryKind, DeliveryState
from signoff.server.store.tables import deliveries, delivery_attempts, events

if TYPE_CHECKING:
    from signoff.server.store.events import Subscriber

LEASE = timedelta(seconds=60)
CALLBACKS = frozenset({DeliveryKind.CALLBACK})
EVENT_KINDS = frozenset({DeliveryKind.WEBHOOK, DeliveryKind.WORKFLOW})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class DueDelivery:
    """What the worker needs to send one attempt (signing happens then, not at enqueue)."""

    id: str
    kind: DeliveryKind
    subject_id: str
    url: str
    payload: str
    headers: dict[str, str]
    attempt_count: int
    target_id: str | None = None
    signature_key: str | None = None


def _row(
    *,
    kind: DeliveryKind,
    subject_id: str,
    url: str,
    payload: str,
    headers: dict[str, str] | None,
    target_id: str | None,
    workflow_id: str | None,
    signature_key: str | None,
    now: datetime,
) -> dict[str, Any]:
    return dict(
        id=new_id("dlv"),
        kind=DeliveryKind(kind).value,
        subject_id=subject_id,
        target_id=target_id,
        workflow_id=workflow_id,
        url=url,
        payload=payload,
        headers=headers or {},
        signature_key=signature_key,
        state=DeliveryState.PENDING.value,
        attempt_count=0,
        next_attempt_at=now,
        created_at=now,
        lease_until=None,
    )


async def enqueue(
    conn: AsyncConnection,
    *,
    kind: DeliveryKind,
    subject_id: str,
    url: str,
    payload: str,
    headers: dict[str, str] | None = None,
    target_id: str | None = None,
    workflow_id: str | None = None,
    signature_key: str | None = None,
) -> str:
    """Queue one delivery in the caller's transaction; its id."""
    row = _row(
        kind=kind, subject_id=subject_id, url=url, payload=payload, headers=headers,
        target_id=target_id, workflow_id=workflow_id, signature_key=signature_key,
        now=utcnow(),
    )  # fmt: skip
    await conn.execute(deliveries.insert(), row)  # constant statement: compiled once
    return str(row["id"])


async def enqueue_event(
    conn: AsyncConnection, event_id: str, payload: str, targets: list[Subscriber]
) -> int:
    """One delivery of an event's exact bytes per target, in one statement; how many."""
    if not targets:
        return 0
    now = utcnow()
    rows = [
        _row(
            kind=t.kind,
            subject_id=event_id,
            url=t.url,
            payload=payload,
            headers=t.headers,
            target_id=t.target_id,
            workflow_id=t.workflow_id,
            signature_key=t.signature_key,
            now=now,
        )
        for t in targets
    ]
    await conn.execute(deliveries.insert(), rows)
    return len(rows)


async def enqueue_many(
    conn: AsyncConnection, subject_id: str, items: list[tuple[DeliveryKind, str, str]]
) -> int:
    """Several deliveries of one subject (kind, URL, payload each), in one statement."""
    if not items:
        return 0
    now = utcnow()
    rows = [
        _row(
            kind=kind,
            subject_id=subject_id,
            url=url,
            payload=payload,
            headers=None,
            target_id=None,
            workflow_id=None,
            signature_key=None,
            now=now,
        )
        for kind, url, payload in items
    ]
    await conn.execute(deliveries.insert(), rows)
    return len(rows)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one send, and what the delivery becomes."""

    delivery: DueDelivery
    status_code: int | None
    error: str | None
    duration_ms: int
    state: str  # pending (retry at next_attempt_at) | delivered | failed
    next_attempt_at: datetime | None = None
    response_excerpt: str | None = None


_SETTLE = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        attempt_count=deliveries.c.attempt_count + 1,
        next_attempt_at=bindparam("b_next"),
        lease_until=None,
    )
)


async def record_attempts(conn: AsyncConnection, attempts: list[Attempt]) -> None:
    """Log each attempt and move its delivery on, in the caller's transaction."""
    if not attempts:
        return
    now = utcnow()
    await conn.execute(
        delivery_attempts.insert(),
        [
            dict(
                delivery_id=a.delivery.id,
                attempted_at=now,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
                response_excerpt=a.response_excerpt,
            )
            for a in attempts
        ],
    )
    await conn.execute(
        _SETTLE,
        [dict(b_id=a.delivery.id, b_state=a.state, b_next=a.next_attempt_at) for a in attempts],
    )


@dataclass
class OutboxLag:
    pending: int
    """Deliveries not yet delivered nor given up (due now or scheduled for a retry)."""
    oldest_due_seconds: float
    """How long the oldest due delivery has waited past its time; 0 when none is due."""


class OutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim_due(self, limit: int) -> list[DueDelivery]:
        """Lease up to ``limit`` due deliveries in one statement.

        The lease conditions are repeated on the outer UPDATE so that a concurrent claimer
        (another process on PostgreSQL) cannot take the same row twice; PostgreSQL also
        skips rows another claimer has locked instead of waiting for them.
        """
        now = utcnow()
        due = (
            select(deliveries.c.id)
            .where(deliveries.c.state == "pending")
            .where(deliveries.c.next_attempt_at <= now)
            .where(or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now))
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
        )
        if self.engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        async with write(self.engine) as conn:
            rows = (
                (
                    await conn.execute(
                        update(deliveries)
                        .where(deliveries.c.id.in_(due.scalar_subquery()))
                        .where(deliveries.c.state == "pending")
                        .where(
                            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now)
                        )
                        .values(lease_until=now + LEASE)
                        .returning(*deliveries.c)
                    )
                )
                .mappings()
                .all()
            )
        rows = sorted(rows, key=lambda row: row["next_attempt_at"])
        return [
            DueDelivery(
                id=row["id"],
                kind=DeliveryKind(row["kind"]),
                subject_id=row["subject_id"],
                url=row["url"],
                payload=row["payload"],
                headers=row["headers"] or {},
                attempt_count=row["attempt_count"],
                target_id=row["target_id"],
                signature_key=row["signature_key"],
            )
            for row in rows
        ]

    async def lag(self, now: datetime | None = None) -> OutboxLag:
        """The backlog, for ``/metrics`` (both reads use the ``state, next_attempt_at``
        index)."""
        now = now or utcnow()
        pending = deliveries.c.state == DeliveryState.PENDING.value
        async with self.engine.connect() as conn:
            count = (await conn.execute(select(func.count()).where(pending))).scalar_one()
            oldest = (
                await conn.execute(
                    select(deliveries.c.next_attempt_at)
                    .where(pending, deliveries.c.next_attempt_at <= now)
                    .order_by(deliveries.c.next_attempt_at)
                    .limit(1)
                )
            ).scalar()
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return OutboxLag(pending=int(count), oldest_due_seconds=age)

    async def for_subject(self, subject_id: str) -> list[CallbackDelivery]:
        """An approval's callback deliveries, oldest first, with every attempt."""
        found = await deliveries_of(self.engine, subject_id=subject_id, kinds=CALLBACKS)
        return [as_callback(delivery) for delivery in reversed(found)]

    async def notifications_for(
        self, approval_id: str
    ) -> list[tuple[RowMapping, list[RowMapping]]]:
        """An approval's notification rows, oldest first, each with every attempt."""
        kinds = [kind.value for kind in NOTIFICATION_KINDS]
        async with self.engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(deliveries)
                        .where(deliveries.c.subject_id == approval_id, deliveries.c.kind.in_(kinds))
                        .order_by(deliveries.c.created_at, deliveries.c.id)
                    )
                )
                .mappings()
                .all()
            )
            attempts = await attempts_of(conn, [row["id"] for row in rows])
        return [(row, attempts[row["id"]]) for row in rows]


def shown_url(kind: str, url: str) -> str:
    """A delivery's URL without its secrets: the password of an HTTP URL masked; of a chat
    or push URL (whose path is its tokens) only the service (``slack://…``)."""
    if kind == DeliveryKind.CHAT.value:
        return url.split("://", 1)[0] + "://…"
    return mask_url(url)


def to_model(row: RowMapping, attempts: list[RowMapping]) -> Delivery:
    """The one mapping of a ``deliveries`` row (and its attempts) to a model; the URL's
    password masked, as everywhere a delivery is shown."""
    pending = row["state"] == DeliveryState.PENDING
    return Delivery(
        id=row["id"],
        event_id=row["subject_id"],
        event_type=row.get("event_type"),
        kind=row["kind"],
        target_id=row["target_id"],
        workflow_id=row["workflow_id"],
        url=shown_url(row["kind"], row["url"]),
        state=row["state"],
        attempt_count=row["attempt_count"],
        next_attempt_on=row["next_attempt_at"] if pending else None,
        created_on=row["created_at"],
        attempts=[
            DeliveryAttemptOut(
                attempted_on=a["attempted_at"],
                status_code=a["status_code"],
                duration_ms=a["duration_ms"],
                response_excerpt=a["response_excerpt"],
                error=a["error"],
            )
            for a in attempts
        ],
    )


def as_callback(delivery: Delivery) -> CallbackDelivery:
    """The approvals API's view of a callback delivery (its own field names)."""
    return CallbackDelivery(
        id=delivery.id,
        url=delivery.url,
        state=delivery.state,
        attempt_count=delivery.attempt_count,
        next_attempt_at=delivery.next_attempt_on,
        created_at=delivery.created_on,
        attempts=[
            DeliveryAttempt(
                attempted_at=a.attempted_on,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in delivery.attempts
        ],
    )


async def deliveries_of(
    engine: AsyncEngine,
    *,
    subject_id: str | None = None,
    target_id: str | None = None,
    kinds: frozenset[DeliveryKind],
    limit: int = 100,
) -> list[Delivery]:
    """Deliveries of these kinds, newest first, with their attempts."""
    query = select(deliveries, events.c.type.label("event_type")).join(
        events, events.c.id == deliveries.c.subject_id, isouter=True
    )
    if subject_id is not None:
        query = query.where(deliveries.c.subject_id == subject_id)
    if target_id is not None:
        query = query.where(deliveries.c.target_id == target_id)
    query = query.where(deliveries.c.kind.in_([kind.value for kind in kinds]))
    query = query.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
        attempts = await attempts_of(conn, [row["id"] for row in rows])
    return [to_model(row, attempts[row["id"]]) for row in rows]


async def attempts_of(
    conn: AsyncConnection, delivery_ids: list[str]
) -> dict[str, list[RowMapping]]:
    """Every attempt of the given deliveries, oldest first, by delivery id."""
    found: dict[str, list[RowMapping]] = {delivery_id: [] for delivery_id in delivery_ids}
    if delivery_ids:
        rows = await conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id.in_(delivery_ids))
            .order_by(delivery_attempts.c.id)
        )
        for attempt in rows.mappings():
            found[attempt["delivery_id"]].append(attempt)
    return found


@dataclass(frozen=True)
class SentNotification:
    url: str
    payload: str
    posted: dict[str, str] | None
    """Where a Slack app message landed (``channel``, ``ts``), so it can be updated."""


async def notifications_of(conn: AsyncConnection, approval_id: str) -> list[SentNotification]:
    """The notifications queued for an approval, oldest first (in the caller's
    transaction: the decision that tells everyone reads them under its row lock)."""
    kinds = [kind.value for kind in NOTIFICATION_KINDS]
    rows = (
        (
            await conn.execute(
                select(deliveries.c.id, deliveries.c.url, deliveries.c.payload, deliveries.c.kind)
                .where(deliveries.c.subject_id == approval_id, deliveries.c.kind.in_(kinds))
                .order_by(deliveries.c.created_at, deliveries.c.id)
            )
        )
        .mappings()
        .all()
    )
    slack = [row["id"] for row in rows if row["kind"] == DeliveryKind.SLACK.value]
    attempts = await attempts_of(conn, slack)
    found = []
    for row in rows:
        posted = None
        for attempt in attempts.get(row["id"], []):
            posted = _posted(attempt["response_excerpt"]) or posted
        found.append(SentNotification(row["url"], row["payload"], posted))
    return found


def _posted(excerpt: str | None) -> dict[str, str] | None:
    try:
        value = json.loads(excerpt or "")
    except ValueError:
        return None
    if (
        isinstance(value, dict)
        and isinstance(value.get("channel"), str)
        and isinstance(value.get("ts"), str)
    ):
        return {"channel": value["channel"], "ts": value["ts"]}
    return None
