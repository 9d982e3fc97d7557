"""Read-only queries the reviewer pages need beyond the API's: riskiest-first, filters, history,
recent events.

They read the tables directly and build the same :class:`Approval` models as the API
(``to_model``); every write still goes through the API's code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.models import Approval, ApprovalStatus, RiskLevel
from signoff.server.store.approvals import to_model
from signoff.server.store.tables import approvals, deliveries, events

RISK_RANK = case(
    {"critical": 4, "high": 3, "medium": 2, "low": 1},
    value=approvals.c.risk_level,
    else_=0,
)


@dataclass(frozen=True)
class Filters:
    status: ApprovalStatus | None = ApprovalStatus.PENDING
    action: str | None = None
    risk: RiskLevel | None = None
    reviewer: str | None = None
    sort: str = "risk"  # "risk": riskiest, then newest | "newest"

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.status is not None:
            query = query.where(approvals.c.status == self.status.value)
        if self.action:
            query = query.where(approvals.c.action == self.action)
        if self.risk is not None:
            query = query.where(approvals.c.risk_level == self.risk.value)
        if self.reviewer:
            query = query.where(approvals.c.decided_by == self.reviewer)
        return query


@dataclass(frozen=True)
class Page:
    items: list[Approval]
    total: int
    created_by: dict[str, str]
    """Approval id -> name of the API key that asked (when no ``source`` says more)."""


def page_of(rows: Sequence[RowMapping], base_url: str, total: int) -> Page:
    return Page(
        [to_model(row, base_url) for row in rows],
        total,
        {row["id"]: row["created_by"] for row in rows if row["created_by"]},
    )


async def inbox(engine: AsyncEngine, base_url: str, filters: Filters, limit: int) -> Page:
    order = (
        [RISK_RANK.desc(), approvals.c.created_at.desc(), approvals.c.id.desc()]
        if filters.sort == "risk"
        else [approvals.c.created_at.desc(), approvals.c.id.desc()]
    )
    query = filters.apply(select(approvals)).order_by(*order).limit(limit)
    counting = filters.apply(select(func.count()).select_from(approvals))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
        total = int(await conn.scalar(counting) or 0)
    return page_of(rows, base_url, total)


async def history(
    engine: AsyncEngine, base_url: str, filters: Filters, limit: int, offset: int
) -> Page:
    """Decided approvals, the latest decision first."""
    decided = approvals.c.status != ApprovalStatus.PENDING.value
    query = (
        filters.apply(select(approvals).where(decided))
        .order_by(approvals.c.decided_at.desc(), approvals.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    counting = filters.apply(select(func.count()).select_from(approvals).where(decided))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
        total = int(await conn.scalar(counting) or 0)
    return page_of(rows, base_url, total)


async def choices(engine: AsyncEngine) -> tuple[list[str], list[str]]:
    """The actions and reviewers seen so far, for the filter menus."""
    async with engine.connect() as conn:
        actions = await conn.scalars(
            select(approvals.c.action).distinct().order_by(approvals.c.action).limit(200)
        )
        reviewers = await conn.scalars(
            select(approvals.c.decided_by)
            .where(approvals.c.decided_by.is_not(None))
            .distinct()
            .order_by(approvals.c.decided_by)
            .limit(200)
        )
        return list(actions), [name for name in reviewers if name]


async def created_by(engine: AsyncEngine, approval_id: str) -> str | None:
    async with engine.connect() as conn:
        value = await conn.scalar(
            select(approvals.c.created_by).where(approvals.c.id == approval_id)
        )
    return str(value) if value else None


# -- webhooks and workflows -----------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    id: str
    type: str
    source: str
    created_at: datetime
    states: dict[str, int]
    """Deliveries of this event by state (``pending``, ``delivered``, ``failed``)."""

    @property
    def deliveries(self) -> int:
        return sum(self.states.values())


async def recent_events(
    engine: AsyncEngine, limit: int, event_type: str | None = None
) -> tuple[list[EventRow], int]:
    """The newest events (optionally of one type), with their deliveries counted by state."""
    query = select(events.c.id, events.c.type, events.c.source, events.c.created_at)
    counting = select(func.count()).select_from(events)
    if event_type:
        query = query.where(events.c.type == event_type)
        counting = counting.where(events.c.type == event_type)
    query = query.order_by(events.c.created_at.desc(), events.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        total = int(await conn.scalar(counting) or 0)
        states: dict[str, dict[str, int]] = {row.id: {} for row in rows}
        if states:
            found = await conn.execute(
                select(deliveries.c.subject_id, deliveries.c.state, func.count())
                .where(deliveries.c.subject_id.in_(list(states)))
                .where(deliveries.c.kind != "callback")
                .group_by(deliveries.c.subject_id, deliveries.c.state)
            )
            for subject_id, state, count in found:
                states[subject_id][state] = int(count)
    return [
        EventRow(row.id, row.type, row.source, row.created_at, states[row.id]) for row in rows
    ], total


async def event_types_seen(engine: AsyncEngine) -> list[str]:
    """The event types published so far, for the filter menu."""
    async with engine.connect() as conn:
        found = await conn.scalars(
            select(events.c.type).distinct().order_by(events.c.type).limit(200)
        )
        return list(found)


@dataclass(frozen=True)
class DeliveryRef:
    id: str
    kind: str
    state: str


async def delivery_ref(engine: AsyncEngine, delivery_id: str) -> DeliveryRef | None:
    """What a replay needs to know of a delivery: that it exists, its kind and state."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(deliveries.c.id, deliveries.c.kind, deliveries.c.state).where(
                    deliveries.c.id == delivery_id
                )
            )
        ).first()
    return None if row is None else DeliveryRef(row.id, row.kind, row.state)
