"""Queries on approvals. A decision and its callback commit in one transaction."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.models import (
    Approval,
    ApprovalRequest,
    ApprovalStatus,
    CallbackPayload,
    DecisionReason,
    Source,
    status_word,
)
from signoff.secrets import mask_url
from signoff.server.ids import new_id
from signoff.server.store import events, outbox
from signoff.server.store.db import write
from signoff.server.store.tables import approvals

NOTIFY_CHANNEL = "signoff_decided"
_INSERT = approvals.insert().returning(*approvals.c)
"""One constant statement (values as parameters): SQLAlchemy compiles it once."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different body."""


class AlreadyDecided(Exception):
    def __init__(self, approval: Approval) -> None:
        super().__init__(f"approval {approval.id} is already {approval.status.value}")
        self.approval = approval


@dataclass(frozen=True)
class Decision:
    status: ApprovalStatus
    reason: DecisionReason
    decided_by: str | None
    note: str | None = None
    modified_details: dict[str, Any] | None = None


def to_model(row: RowMapping, base_url: str) -> Approval:
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
    )


class ApprovalStore:
    def __init__(self, engine: AsyncEngine, *, base_url: str, default_expiry: int) -> None:
        self.engine = engine
        self.base_url = base_url
        self.default_expiry = default_expiry
        self.is_postgres = engine.dialect.name == "postgresql"

    async def create(
        self,
        request: ApprovalRequest,
        *,
        created_by: str,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> tuple[Approval, bool]:
        """Insert a new approval; with a known idempotency key return the first one instead."""
        if idempotency_key:
            existing = await self._by_idempotency_key(idempotency_key, request_hash)
            if existing is not None:
                return existing, False
        now = utcnow()
        lifetime = request.expires_in_seconds or self.default_expiry
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
            "created_by": created_by,
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
        }
        try:
            async with write(self.engine) as conn:
                inserted = await conn.execute(_INSERT, values)
                row = inserted.mappings().one()
                await events.publish(
                    conn, lifecycle_event("approval_requested", row, self.base_url)
                )
                if self.is_postgres:  # live pages in other processes learn of it
                    await conn.execute(
                        text("SELECT pg_notify(:channel, :id)"),
                        {"channel": NOTIFY_CHANNEL, "id": values["id"]},
                    )
        except IntegrityError:
            if not idempotency_key:
                raise
            existing = await self._by_idempotency_key(idempotency_key, request_hash)
            if existing is None:
                raise
            return existing, False
        return to_model(row, self.base_url), True

    async def _by_idempotency_key(self, key: str, request_hash: str | None) -> Approval | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(approvals).where(approvals.c.idempotency_key == key)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        if row["request_hash"] != request_hash:
            raise IdempotencyConflict(key)
        return to_model(row, self.base_url)

    async def _row(
        self, approval_id: str, conn: AsyncConnection | None = None
    ) -> RowMapping | None:
        query = select(approvals).where(approvals.c.id == approval_id)
        if conn is not None:
            return (await conn.execute(query)).mappings().first()
        async with self.engine.connect() as own:
            return (await own.execute(query)).mappings().first()

    async def get(self, approval_id: str) -> Approval | None:
        row = await self._row(approval_id)
        if row is None:
            return None
        approval = to_model(row, self.base_url)
        if not approval.is_decided and approval.expires_at and approval.expires_at <= utcnow():
            # Read exactly at the deadline: expire now rather than wait for the sweeper.
            return await self.expire(approval_id) or await self.get(approval_id)
        return approval

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
                found.extend(to_model(row, self.base_url) for row in rows.mappings())
        return found

    async def page(
        self, status: ApprovalStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[Approval], str | None]:
        """Newest first, keyset-paginated by (created_at, id)."""
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
        items = [to_model(row, self.base_url) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return items, next_cursor

    async def decide(self, approval_id: str, decision: Decision) -> Approval:
        """Record a decision exactly once, with its callback in the same transaction.

        Raises ``LookupError`` for an unknown id and :class:`AlreadyDecided` when another
        decision won; in both cases nothing is written.
        """
        now = utcnow()
        async with write(self.engine) as conn:
            result = await conn.execute(
                update(approvals)
                .where(approvals.c.id == approval_id)
                .where(approvals.c.status == ApprovalStatus.PENDING.value)
                .values(
                    status=decision.status.value,
                    decision_reason=decision.reason.value,
                    decided_by=decision.decided_by,
                    decided_at=now,
                    decision_note=decision.note,
                    modified_details=decision.modified_details,
                    retryable=decision.reason is DecisionReason.EXPIRED,
                )
                .returning(*approvals.c)
            )
            row = result.mappings().first()
            if row is None:  # unknown, or another decision won: say which
                current = await self._row(approval_id, conn)
                if current is None:
                    raise LookupError(approval_id)
                raise AlreadyDecided(to_model(current, self.base_url))
            approval = to_model(row, self.base_url)
            await events.publish(conn, lifecycle_event(event_type(decision), row, self.base_url))
            if row["callback_url"]:  # the model's is masked; the stored one has the password
                await outbox.enqueue(
                    conn,
                    kind="callback",
                    subject_id=approval.id,
                    url=row["callback_url"],
                    payload=callback_body(approval),
                )
            if self.is_postgres:
                await conn.execute(
                    text("SELECT pg_notify(:channel, :id)"),
                    {"channel": NOTIFY_CHANNEL, "id": approval_id},
                )
        return approval

    async def expire(self, approval_id: str) -> Approval | None:
        try:
            return await self.decide(
                approval_id,
                Decision(
                    status=ApprovalStatus.REJECTED,
                    reason=DecisionReason.EXPIRED,
                    decided_by=None,
                    note="Expired: no reviewer decided in time.",
                ),
            )
        except AlreadyDecided:
            return None

    async def expire_due(self, limit: int = 200) -> list[Approval]:
        """Expire what is past its deadline; each row is expired by exactly one caller."""
        async with self.engine.connect() as conn:
            ids = (
                await conn.scalars(
                    select(approvals.c.id)
                    .where(approvals.c.status == ApprovalStatus.PENDING.value)
                    .where(approvals.c.expires_at <= utcnow())
                    .limit(limit)
                )
            ).all()
        expired = []
        for approval_id in ids:
            approval = await self.expire(approval_id)
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


def lifecycle_event(kind: str, row: RowMapping, base_url: str) -> events.NewEvent:
    """Approvals are events too, so teams can subscribe webhooks to decisions."""
    approval = to_model(row, base_url)
    return events.NewEvent(
        type=kind, data=approval.to_wire(), source="approvals", subject_id=approval.id
    )


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


__all__ = [
    "AlreadyDecided",
    "ApprovalStore",
    "Decision",
    "IdempotencyConflict",
    "status_word",
    "to_model",
]
