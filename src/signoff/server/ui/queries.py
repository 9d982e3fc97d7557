"""Read-only queries the pages need beyond the API's: riskiest-first, filters, history.

They read the approvals table directly and build the same :class:`Approval` models as
the API (``to_model``); every write still goes through the API's code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.models import Approval, ApprovalStatus, RiskLevel
from signoff.server.store.approvals import to_model
from signoff.server.store.tables import approvals

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
