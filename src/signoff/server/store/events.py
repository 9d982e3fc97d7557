"""Events and subscribers as stored, and the endpoint-health rows.

Which subscribers an event goes to, how deliveries are signed and how health changes are
the delivery package's; this module only reads and writes the rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.models.events import Delivery, Event
from signoff.server.ids import new_id
from signoff.server.store import outbox
from signoff.server.store.db import write
from signoff.server.store.kinds import DeliveryKind, DeliveryState
from signoff.server.store.tables import approvals, deliveries, endpoint_health, events, workflows
from signoff.server.store.tables import webhooks as webhooks_table


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


HealthRow = dict[str, Any]
"""target_id, consecutive_failures, failing_since, last_error, deactivated_at."""


@dataclass(frozen=True)
class Subscriber:
    """A webhook or one action of a workflow, as stored: where it wants events and
    which ones (the delivery package's routing decides which match)."""

    kind: DeliveryKind
    target_id: str
    url: str
    headers: dict[str, str]
    signature_key: str | None = None
    workflow_id: str | None = None
    event_types: tuple[str, ...] = ()
    conditions: tuple[dict[str, Any], ...] = ()


def workflow_subscribers(row: RowMapping, deactivated: set[str]) -> list[Subscriber]:
    """A workflow's actions (those not deactivated), each with the workflow's conditions."""
    return [
        Subscriber(
            kind=DeliveryKind.WORKFLOW,
            target_id=action["id"],
            url=action["url"],
            headers=action.get("headers") or {},
            signature_key=(action.get("signature") or {}).get("key"),
            workflow_id=row["id"],
            conditions=tuple(row["conditions"]),
        )
        for action in row["actions"]
        if action["id"] not in deactivated
    ]


def webhook_subscriber(row: RowMapping) -> Subscriber:
    return Subscriber(
        kind=DeliveryKind.WEBHOOK,
        target_id=row["id"],
        url=row["url"],
        headers=row["headers"],
        event_types=tuple(row["event_types"]),
    )


async def _deactivated(conn: AsyncConnection) -> set[str]:
    rows = await conn.execute(
        select(endpoint_health.c.target_id).where(endpoint_health.c.deactivated_at.is_not(None))
    )
    return {row.target_id for row in rows}


async def subscribers(conn: AsyncConnection, *, webhooks: bool = True) -> list[Subscriber]:
    """Every active webhook (unless ``webhooks`` is off) and every action of every active
    workflow that is not deactivated."""
    found: list[Subscriber] = []
    if webhooks:
        rows = await conn.execute(select(webhooks_table).where(webhooks_table.c.active))
        found.extend(webhook_subscriber(row) for row in rows.mappings())
    rows_ = (await conn.execute(select(workflows).where(workflows.c.active))).mappings().all()
    if rows_:
        deactivated = await _deactivated(conn)
        for row in rows_:
            found.extend(workflow_subscribers(row, deactivated))
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


def _event(row: RowMapping) -> NewEvent:
    return NewEvent(
        id=row["id"],
        type=row["type"],
        data=row["data"],
        source=row["source"],
        subject_id=row["subject_id"],
        entity_id=row["entity_id"],
        processing_channel_id=row["processing_channel_id"],
        created_at=row["created_at"],
    )


async def stored_events(conn: AsyncConnection, event_ids: list[str]) -> list[NewEvent]:
    """The stored events of these ids, in the order given (unknown ids left out)."""
    rows = await conn.execute(select(events).where(events.c.id.in_(event_ids)))
    found = {row["id"]: _event(row) for row in rows.mappings()}
    return [found[event_id] for event_id in event_ids if event_id in found]


class StillPending(Exception):
    """The delivery is still being tried; replaying it now would send it twice."""


class NotYours(Exception):
    """An approval's callback, and the caller is not the key that created the approval."""


class EventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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
        self, *, event_id: str | None = None, target_id: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        """Event deliveries (never callbacks), newest first, each with every attempt."""
        return await outbox.deliveries_of(
            self.engine,
            subject_id=event_id,
            target_id=target_id,
            kinds=outbox.EVENT_KINDS,
            limit=limit,
        )

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
            if row["state"] == DeliveryState.PENDING:
                raise StillPending(delivery_id)
            if row["kind"] == DeliveryKind.CALLBACK and caller is not None:
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
                signature_key=row["signature_key"],
            )


async def health_rows(conn: AsyncConnection, target_ids: list[str]) -> dict[str, HealthRow]:
    rows = await conn.execute(
        select(endpoint_health).where(endpoint_health.c.target_id.in_(target_ids))
    )
    return {row["target_id"]: dict(row) for row in rows.mappings()}


async def save_health(
    conn: AsyncConnection,
    before: dict[str, HealthRow],
    after: dict[str, HealthRow],
    deactivated_webhooks: set[str],
) -> None:
    """Write what changed between ``before`` and ``after``; switch the webhooks off."""
    for target_id in sorted(before.keys() | after.keys()):
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
            update(webhooks_table)
            .where(webhooks_table.c.id.in_(deactivated_webhooks))
            .values(active=False)
        )
