"""Approvals as stored: insert, record a decision, read. What a decision causes (events,
callbacks, wake-ups) is the domain's (``signoff.server.domain.approvals``)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from signoff.models import (
    Approval,
    ApprovalStatus,
    DecisionReason,
    RecordedApproval,
    Source,
    StepProgress,
    status_word,
)
from signoff.secrets import mask_url
from signoff.server.store.db import reading
from signoff.server.store.tables import approvals

NOTIFY_CHANNEL = "signoff_decided"
_INSERT = approvals.insert().returning(*approvals.c)
"""One constant statement (values as parameters): SQLAlchemy compiles it once."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Decision:
    status: ApprovalStatus
    reason: DecisionReason
    decided_by: str | None
    note: str | None = None
    modified_details: dict[str, Any] | None = None
    chosen_options: list[str] | None = None
    reason_code: str | None = None
    auto_decided: bool = False


OPEN_TO_ALL: dict[str, Any] = {"reviewers": [], "groups": [], "requiredApprovals": 1}
"""The one step of an approval that names nobody (and of rows older than steps)."""


def stored_steps(row: RowMapping) -> list[dict[str, Any]]:
    steps = row["steps"]
    if not isinstance(steps, list) or not steps:
        return [OPEN_TO_ALL]
    return [step for step in steps if isinstance(step, dict)] or [OPEN_TO_ALL]


def stored_recorded(row: RowMapping) -> list[dict[str, Any]]:
    recorded = row["recorded"]
    if not isinstance(recorded, list):
        return []
    return [item for item in recorded if isinstance(item, dict)]


def _progress(row: RowMapping) -> tuple[list[StepProgress], list[RecordedApproval], int | None]:
    """The chain as the wire shows it; a malformed stored entry is left out, never a 500."""
    pending = row["status"] == ApprovalStatus.PENDING.value
    approved = row["status"] == ApprovalStatus.APPROVED.value
    current = row["current_step"] or 0
    recorded = []
    for item in stored_recorded(row):
        try:
            recorded.append(RecordedApproval.model_validate(item))
        except ValueError:
            continue
    steps = []
    for index, step in enumerate(stored_steps(row)):
        steps.append(
            StepProgress.model_construct(
                number=index + 1,
                reviewers=_names(step.get("reviewers")),
                groups=_names(step.get("groups")),
                required_approvals=_required(step.get("requiredApprovals")),
                approvals=[r for r in recorded if r.step == index + 1 and r.counted],
                satisfied=index < current or approved,
                open=pending and index == current,
            )
        )
    return steps, recorded, (min(current, len(steps) - 1) + 1 if pending else None)


UNREADABLE = "(unreadable)"
"""Stands for names a stored step holds in a form this version cannot read: no reviewer
or group can have it (names have no parentheses), so such a step is closed, not open."""


def _names(value: Any) -> list[str]:
    """A stored list of names, keeping only the names: a malformed entry narrows who may
    decide, it never opens the step to everyone."""
    if value is None:
        return []
    names = [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
    return names if names or value == [] else [UNREADABLE]


def _required(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return 1


def to_model(row: RowMapping, base_url: str) -> Approval:
    steps, recorded, current_step = _progress(row)
    now = steps[(current_step or len(steps)) - 1]
    return Approval(
        id=row["id"],
        status=ApprovalStatus(row["status"]),
        action=row["action"],
        summary=row["summary"],
        details=row["details"],
        risk_level=row["risk_level"],
        risk_score=row["risk_score"],
        justification=row["justification"],
        modified_details=row["modified_details"],
        response_notes=row["decision_note"],
        decision_reason_code=row["decision_reason"],
        decision_note=row["decision_note"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        retryable=row["retryable"],
        review_url=f"{base_url}/review/{row['id']}",
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        callback_url=mask_url(row["callback_url"]) if row["callback_url"] else None,
        source=Source.model_validate(row["source"]) if row["source"] else None,
        trace=row["trace"],
        reviewers=now.reviewers,
        groups=now.groups,
        required_approvals=now.required_approvals,
        steps=steps,
        current_step=current_step,
        approvals=recorded,
        requested_by=row["requested_by"],
        options=_strings(row["options"]),
        multiple=bool(row["multiple"]),
        reason_codes=_strings(row["reason_codes"]),
        details_schema=row["details_schema"] if isinstance(row["details_schema"], dict) else None,
        chosen_options=_strings(row["chosen_options"]),
        reason_code=row["reason_code"],
        auto_decided=bool(row["auto_decided"]),
        auto_decision_rule_name=row["policy_rule"] if row["auto_decided"] else None,
        policy_version=row["policy_version"],
        policy_rule=row["policy_rule"],
        sla_due_at=row["sla_due_at"],
        sla_breached_at=row["sla_breached_at"],
        # the SLA's escalation groups, which may decide once it is breached (not before)
        escalated_groups=_names(row["escalated_groups"]) if row["sla_breached_at"] else [],
    )


def _strings(value: Any) -> list[str] | None:
    return [str(item) for item in value] if isinstance(value, list) else None


class ApprovalStore:
    def __init__(self, engine: AsyncEngine, *, base_url: str) -> None:
        self.engine = engine
        self.base_url = base_url
        self.is_postgres = engine.dialect.name == "postgresql"

    def model(self, row: RowMapping) -> Approval:
        return to_model(row, self.base_url)

    async def insert(self, conn: AsyncConnection, values: dict[str, Any]) -> RowMapping:
        """Raises ``IntegrityError`` when ``values["idempotency_key"]`` is taken."""
        return (await conn.execute(_INSERT, values)).mappings().one()

    async def by_idempotency_key(self, key: str) -> RowMapping | None:
        async with self.engine.connect() as conn:
            query = select(approvals).where(approvals.c.idempotency_key == key)
            return (await conn.execute(query)).mappings().first()

    async def notify(self, conn: AsyncConnection, approval_id: str) -> None:
        """Tell every process sharing the PostgreSQL database (waiters, live pages)."""
        if self.is_postgres:
            await conn.execute(
                text("SELECT pg_notify(:channel, :id)"),
                {"channel": NOTIFY_CHANNEL, "id": approval_id},
            )

    async def row(self, approval_id: str, conn: AsyncConnection | None = None) -> RowMapping | None:
        async with reading(self.engine, conn) as own:
            query = select(approvals).where(approvals.c.id == approval_id)
            return (await own.execute(query)).mappings().first()

    async def get(self, approval_id: str) -> Approval | None:
        """The approval as stored (an overdue one still reads PENDING: the domain's ``get``
        expires it)."""
        found = await self.row(approval_id)
        return None if found is None else self.model(found)

    async def created_by(self, approval_id: str) -> str | None:
        """The name of the key that submitted the approval (``None``: no such approval)."""
        async with self.engine.connect() as conn:
            owner = await conn.scalar(
                select(approvals.c.created_by).where(approvals.c.id == approval_id)
            )
        return None if owner is None else str(owner)

    async def statuses(self, ids: list[str]) -> dict[str, ApprovalStatus]:
        """Status by id, in the order given; unknown ids are left out."""
        found: dict[str, ApprovalStatus] = {}
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = await conn.execute(
                    select(approvals.c.id, approvals.c.status).where(approvals.c.id.in_(chunk))
                )
                found.update({row.id: ApprovalStatus(row.status) for row in rows})
        return {approval_id: found[approval_id] for approval_id in ids if approval_id in found}

    async def get_many(self, ids: list[str]) -> list[Approval]:
        found: list[Approval] = []
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = await conn.execute(select(approvals).where(approvals.c.id.in_(chunk)))
                found.extend(self.model(row) for row in rows.mappings())
        return found

    async def page(
        self, status: ApprovalStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[Approval], str | None]:
        """Newest first, keyset-paginated by (created_at, id). ``ValueError``: bad cursor."""
        query = select(approvals)
        if status is not None:
            query = query.where(approvals.c.status == status.value)
        if cursor:
            created_at, last_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    approvals.c.created_at < created_at,
                    and_(approvals.c.created_at == created_at, approvals.c.id < last_id),
                )
            )
        query = query.order_by(approvals.c.created_at.desc(), approvals.c.id.desc())
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit + 1))).mappings().all()
        items = [self.model(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return items, next_cursor

    async def lock_pending(self, conn: AsyncConnection, approval_id: str) -> RowMapping | None:
        """The PENDING approval, locked for the rest of the transaction (``None``: unknown or
        decided). A no-op UPDATE rather than SELECT … FOR UPDATE: it takes the write lock
        on SQLite too, so two processes never both read and then both count."""
        result = await conn.execute(
            update(approvals)
            .where(approvals.c.id == approval_id)
            .where(approvals.c.status == ApprovalStatus.PENDING.value)
            .values(current_step=approvals.c.current_step)
            .returning(*approvals.c)
        )
        return result.mappings().first()

    async def save_progress(
        self, conn: AsyncConnection, approval_id: str, values: dict[str, Any]
    ) -> RowMapping:
        """Store an approve that did not conclude the approval (under :meth:`lock_pending`)."""
        result = await conn.execute(
            update(approvals)
            .where(approvals.c.id == approval_id)
            .values(**values)
            .returning(*approvals.c)
        )
        return result.mappings().one()

    async def record_decision(
        self, conn: AsyncConnection, approval_id: str, decision: Decision
    ) -> RowMapping | None:
        """Decide a PENDING approval, exactly once (a conditional update); ``None`` when it
        is unknown or no longer PENDING (nothing written)."""
        result = await conn.execute(
            update(approvals)
            .where(approvals.c.id == approval_id)
            .where(approvals.c.status == ApprovalStatus.PENDING.value)
            .values(
                status=decision.status.value,
                decision_reason=decision.reason.value,
                decided_by=decision.decided_by,
                decided_at=utcnow(),
                decision_note=decision.note,
                modified_details=decision.modified_details,
                chosen_options=decision.chosen_options,
                reason_code=decision.reason_code,
                auto_decided=decision.auto_decided,
                retryable=decision.reason is DecisionReason.EXPIRED,
            )
            .returning(*approvals.c)
        )
        return result.mappings().first()

    async def breach_due(self, conn: AsyncConnection, limit: int = 200) -> list[RowMapping]:
        """Mark PENDING approvals past their SLA as breached, each exactly once (the
        conditional update makes it so across processes) and return them."""
        now = utcnow()
        due = and_(approvals.c.sla_due_at <= now, approvals.c.sla_breached_at.is_(None))
        return await _take_due(conn, due, {"sla_breached_at": now}, limit)

    async def remind_due(
        self, conn: AsyncConnection, upcoming: datetime, limit: int = 200
    ) -> list[RowMapping]:
        """PENDING approvals whose reminder is due, moved on to ``upcoming`` and returned,
        each by exactly one caller."""
        due = approvals.c.remind_at <= utcnow()
        return await _take_due(conn, due, {"remind_at": upcoming}, limit)

    async def due_ids(self, limit: int = 200) -> list[str]:
        """PENDING approvals past their deadline."""
        async with self.engine.connect() as conn:
            ids = await conn.scalars(
                select(approvals.c.id)
                .where(approvals.c.status == ApprovalStatus.PENDING.value)
                .where(approvals.c.expires_at <= utcnow())
                .limit(limit)
            )
            return list(ids)


async def _take_due(
    conn: AsyncConnection, due: ColumnElement[bool], values: dict[str, Any], limit: int
) -> list[RowMapping]:
    """PENDING approvals for which ``due`` holds, updated with ``values`` and returned.
    The conditions are repeated on the UPDATE, so that of two processes sweeping at once
    only one takes each row (the sweeps' "exactly once")."""
    pending = approvals.c.status == ApprovalStatus.PENDING.value
    ids = list(await conn.scalars(select(approvals.c.id).where(pending, due).limit(limit)))
    if not ids:
        return []
    result = await conn.execute(
        update(approvals)
        .where(approvals.c.id.in_(ids), pending, due)
        .values(**values)
        .returning(*approvals.c)
    )
    return list(result.mappings())


def encode_cursor(created_at: datetime, approval_id: str) -> str:
    raw = f"{created_at.isoformat()}|{approval_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_CURSOR_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """A cursor this server handed out, checked: a decoded year 1 or 9999 or an id with
    odd characters would otherwise reach the database (and fail there, as a 500)."""
    problem = ValueError("cursor: not a cursor this server handed out")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, approval_id = raw.split("|", 1)
        moment = datetime.fromisoformat(created_at)
    except (ValueError, UnicodeDecodeError):
        raise problem from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if not 1970 <= moment.year <= 9000 or not _CURSOR_ID.fullmatch(approval_id):
        raise problem
    return moment, approval_id


__all__ = ["ApprovalStore", "Decision", "status_word", "to_model"]
