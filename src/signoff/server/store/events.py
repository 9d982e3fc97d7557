"""Events: stored with their deliveries in one transaction, then sent by the outbox worker.

Matching: a webhook receives the event types it lists; a workflow fires when all of its
conditions hold (event type, entity, processing channel). Each delivery gets the
configured headers and, when the action has a signature key, ``Cko-Signature``: the hex
HMAC-SHA256 of the exact body sent, as the hosted platform signs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.models.events import Delivery, DeliveryAttemptOut, Event
from signoff.secrets import mask_url
from signoff.server.ids import new_id
from signoff.server.store import outbox
from signoff.server.store.db import joined, write
from signoff.server.store.tables import (
    approvals,
    deliveries,
    endpoint_health,
    events,
    webhooks,
    workflows,
)
from signoff.signing import CKO_SIGNATURE_HEADER, hmac_hex

USER_AGENT = "signoff-webhooks/1.0"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class NewEvent:
    type: str
    data: dict[str, Any]
    source: str = "api"  # api | test | approvals
    subject_id: str | None = None
    entity_id: str | None = None
    processing_channel_id: str | None = None
    id: str = field(default_factory=lambda: new_id("evt"))
    created_at: datetime = field(default_factory=utcnow)

    def envelope(self) -> str:
        """The exact bytes every subscriber receives (and that are signed)."""
        event = Event(id=self.id, type=self.type, created_on=self.created_at, data=self.data)
        return json.dumps(event.to_wire(), separators=(",", ":"))


@dataclass(frozen=True)
class Target:
    kind: str  # webhook | workflow
    target_id: str
    url: str
    headers: dict[str, str]
    signature_key: str | None = None
    workflow_id: str | None = None


def workflow_matches(row: RowMapping, event: NewEvent) -> bool:
    for condition in row["conditions"]:
        kind = condition["type"]
        if kind == "event":
            names = {name for group in condition["events"].values() for name in group}
            if event.type not in names:
                return False
        elif kind == "entity":
            if event.entity_id not in condition["entities"]:
                return False
        elif kind == "processing_channel":
            if event.processing_channel_id not in condition["processing_channels"]:
                return False
    return True


def workflow_targets(row: RowMapping, deactivated: set[str]) -> list[Target]:
    return [
        Target(
            kind="workflow",
            target_id=action["id"],
            url=action["url"],
            headers=action.get("headers") or {},
            signature_key=(action.get("signature") or {}).get("key"),
            workflow_id=row["id"],
        )
        for action in row["actions"]
        if action["id"] not in deactivated
    ]


def webhook_target(row: RowMapping) -> Target:
    return Target(kind="webhook", target_id=row["id"], url=row["url"], headers=row["headers"])


async def _deactivated(conn: AsyncConnection) -> set[str]:
    rows = await conn.execute(
        select(endpoint_health.c.target_id).where(endpoint_health.c.deactivated_at.is_not(None))
    )
    return {row.target_id for row in rows}


async def matching_targets(conn: AsyncConnection, event: NewEvent) -> list[Target]:
    found: list[Target] = []
    for row in (await conn.execute(select(webhooks).where(webhooks.c.active))).mappings():
        if event.type in row["event_types"]:
            found.append(webhook_target(row))
    rows = (await conn.execute(select(workflows).where(workflows.c.active))).mappings().all()
    if rows:
        deactivated = await _deactivated(conn)
        for row in rows:
            if workflow_matches(row, event):
                found.extend(workflow_targets(row, deactivated))
    return found


async def store_event(conn: AsyncConnection, event: NewEvent) -> None:
    await conn.execute(
        events.insert(),
        dict(
            id=event.id,
            type=event.type,
            source=event.source,
            data=event.data,
            subject_id=event.subject_id,
            entity_id=event.entity_id,
            processing_channel_id=event.processing_channel_id,
            created_at=event.created_at,
        ),
    )


async def enqueue_for(
    conn: AsyncConnection, event_id: str, payload: str, targets: list[Target]
) -> int:
    for target in targets:
        headers = {"User-Agent": USER_AGENT, **target.headers}
        if target.signature_key:
            headers[CKO_SIGNATURE_HEADER] = hmac_hex(payload.encode(), target.signature_key)
        await outbox.enqueue(
            conn,
            kind=target.kind,
            subject_id=event_id,
            url=target.url,
            payload=payload,
            headers=headers,
            target_id=target.target_id,
            workflow_id=target.workflow_id,
        )
    return len(targets)


async def publish(
    conn: AsyncConnection, event: NewEvent, targets: list[Target] | None = None
) -> int:
    """Store ``event`` and queue its deliveries, in the caller's transaction.

    ``targets`` narrows delivery (the test endpoints); by default every matching
    webhook and workflow action receives it. Returns how many deliveries were queued.
    """
    await store_event(conn, event)
    if targets is None:
        targets = await matching_targets(conn, event)
    return await enqueue_for(conn, event.id, event.envelope(), targets)


class StillPending(Exception):
    """The delivery is still being tried; replaying it now would send it twice."""


class NotYours(Exception):
    """An approval's callback, and the caller is not the key that created the approval."""


class EventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def publish(
        self,
        event: NewEvent,
        targets: list[Target] | None = None,
        conn: AsyncConnection | None = None,
    ) -> int:
        async with joined(self.engine, conn) as own:
            return await publish(own, event, targets)

    async def get(self, event_id: str) -> RowMapping | None:
        async with self.engine.connect() as conn:
            return (
                (await conn.execute(select(events).where(events.c.id == event_id)))
                .mappings()
                .first()
            )

    async def by_subject(self, subject_id: str) -> list[RowMapping]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(events)
                .where(events.c.subject_id == subject_id)
                .order_by(events.c.created_at)
            )
            return list(rows.mappings())

    async def deliveries(
        self,
        *,
        event_id: str | None = None,
        target_id: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        query = select(deliveries, events.c.type.label("event_type")).join(
            events, events.c.id == deliveries.c.subject_id, isouter=True
        )
        if event_id is not None:
            query = query.where(deliveries.c.subject_id == event_id)
        if target_id is not None:
            query = query.where(deliveries.c.target_id == target_id)
        query = query.where(deliveries.c.kind != "callback")
        query = query.order_by(deliveries.c.created_at.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            attempts = await outbox.attempts_of(conn, [row["id"] for row in rows])
        return [
            Delivery(
                id=row["id"],
                event_id=row["subject_id"],
                event_type=row["event_type"],
                kind=row["kind"],
                target_id=row["target_id"],
                workflow_id=row["workflow_id"],
                url=mask_url(row["url"]),
                state=row["state"],
                attempt_count=row["attempt_count"],
                next_attempt_on=row["next_attempt_at"] if row["state"] == "pending" else None,
                created_on=row["created_at"],
                attempts=[
                    DeliveryAttemptOut(
                        attempted_on=a["attempted_at"],
                        status_code=a["status_code"],
                        duration_ms=a["duration_ms"],
                        response_excerpt=a["response_excerpt"],
                        error=a["error"],
                    )
                    for a in attempts[row["id"]]
                ],
            )
            for row in rows
        ]

    async def replay(self, delivery_id: str, *, caller: str | None = None) -> str | None:
        """Queue the same bytes to the same URL again (a new delivery); its id, or ``None``
        for an unknown delivery.

        A pending delivery is still being tried (:class:`StillPending`: a replay would send
        it twice). An approval's callback is its creator's: with ``caller`` (an API key's
        name; ``None`` for admins and the pages' own checks) another key gets
        :class:`NotYours`.
        """
        async with write(self.engine) as conn:
            row = (
                (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            if row["state"] == "pending":
                raise StillPending(delivery_id)
            if row["kind"] == "callback" and caller is not None:
                owner = await conn.scalar(
                    select(approvals.c.created_by).where(approvals.c.id == row["subject_id"])
                )
                if owner != caller:
                    raise NotYours(delivery_id)
            return await outbox.enqueue(
                conn,
                kind=row["kind"],
                subject_id=row["subject_id"],
                url=row["url"],
                payload=row["payload"],
                headers=row["headers"],
                target_id=row["target_id"],
                workflow_id=row["workflow_id"],
            )

    async def reflow(self, event_ids: list[str], workflow_ids: list[str] | None) -> int:
        """Run the (current) matching workflows again for stored events."""
        queued = 0
        async with write(self.engine) as conn:
            rows = (
                (await conn.execute(select(workflows).where(workflows.c.active))).mappings().all()
            )
            if workflow_ids is not None:
                rows = [row for row in rows if row["id"] in workflow_ids]
            deactivated = await _deactivated(conn)
            for event_id in event_ids:
                stored = (
                    (await conn.execute(select(events).where(events.c.id == event_id)))
                    .mappings()
                    .first()
                )
                if stored is None:
                    continue
                event = NewEvent(
                    id=stored["id"],
                    type=stored["type"],
                    data=stored["data"],
                    source=stored["source"],
                    subject_id=stored["subject_id"],
                    entity_id=stored["entity_id"],
                    processing_channel_id=stored["processing_channel_id"],
                    created_at=stored["created_at"],
                )
                targets = [
                    target
                    for row in rows
                    if workflow_ids is not None or workflow_matches(row, event)
                    for target in workflow_targets(row, deactivated)
                ]
                queued += await enqueue_for(conn, event.id, event.envelope(), targets)
        return queued


@dataclass(frozen=True)
class Health:
    """One send's verdict on an endpoint (a webhook or a workflow action)."""

    target_id: str
    kind: str
    ok: bool
    error: str | None = None


async def record_health(
    conn: AsyncConnection, verdicts: list[Health], *, flag_after: int, deactivate_after: float
) -> None:
    """Track consecutive failures; deactivate an endpoint failing for too long.

    Many sends settle in one call (one read of the health rows they touch), because the
    delivery worker records a whole batch of attempts in one transaction.
    """
    if not verdicts:
        return
    now = utcnow()
    targets = sorted({v.target_id for v in verdicts})
    rows = await conn.execute(
        select(endpoint_health).where(endpoint_health.c.target_id.in_(targets))
    )
    before = {row["target_id"]: dict(row) for row in rows.mappings()}
    after = {key: dict(value) for key, value in before.items()}
    deactivated_webhooks: set[str] = set()
    for verdict in verdicts:
        row = after.get(verdict.target_id)
        if verdict.ok:
            if row is not None and row["deactivated_at"] is None:
                del after[verdict.target_id]
            continue
        if row is None:
            after[verdict.target_id] = {
                "target_id": verdict.target_id,
                "consecutive_failures": 1,
                "failing_since": now,
                "last_error": verdict.error,
                "deactivated_at": None,
            }
            continue
        failures = row["consecutive_failures"] + 1
        failing_since = row["failing_since"] or now
        deactivate = (
            row["deactivated_at"] is None
            and failures >= flag_after
            and (now - failing_since).total_seconds() >= deactivate_after
        )
        row.update(consecutive_failures=failures, last_error=verdict.error)
        if deactivate:
            row["deactivated_at"] = now
            if verdict.kind == "webhook":
                deactivated_webhooks.add(verdict.target_id)
    for target_id in targets:
        old, new = before.get(target_id), after.get(target_id)
        if old == new:
            continue
        if new is None:
            await conn.execute(
                endpoint_health.delete().where(endpoint_health.c.target_id == target_id)
            )
        elif old is None:
            await conn.execute(endpoint_health.insert().values(**new))
        else:
            await conn.execute(
                update(endpoint_health)
                .where(endpoint_health.c.target_id == target_id)
                .values(
                    consecutive_failures=new["consecutive_failures"],
                    last_error=new["last_error"],
                    deactivated_at=new["deactivated_at"],
                )
            )
    if deactivated_webhooks:
        await conn.execute(
            update(webhooks).where(webhooks.c.id.in_(deactivated_webhooks)).values(active=False)
        )
