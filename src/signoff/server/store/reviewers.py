"""Reviewers as stored: name, email, groups, active. Their tokens are credentials
(``store.credentials``, kind ``reviewer``, named after the reviewer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.server.store.db import reading
from signoff.server.store.tables import credentials, reviewers


@dataclass(frozen=True)
class ReviewerRecord:
    """What deciding needs to know about a reviewer."""

    name: str
    email: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)
    notify: tuple[str, ...] = ()
    active: bool = True
    created_at: datetime | None = None
    stored: bool = True

    @classmethod
    def from_row(cls, row: RowMapping) -> ReviewerRecord:
        groups = row["groups"] if isinstance(row["groups"], list) else []
        return cls(
            name=row["name"],
            email=row["email"],
            groups=frozenset(str(g) for g in groups),
            notify=tuple(str(t) for t in row["notify"]) if isinstance(row["notify"], list) else (),
            active=bool(row["active"]),
            created_at=row["created_at"],
        )


class ReviewerStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, name: str, conn: AsyncConnection | None = None) -> ReviewerRecord | None:
        async with reading(self.engine, conn) as own:
            row = (
                (await own.execute(select(reviewers).where(reviewers.c.name == name)))
                .mappings()
                .first()
            )
        return None if row is None else ReviewerRecord.from_row(row)

    async def all(self, conn: AsyncConnection | None = None) -> list[ReviewerRecord]:
        async with reading(self.engine, conn) as own:
            rows = (await own.execute(select(reviewers).order_by(reviewers.c.name))).mappings()
            return [ReviewerRecord.from_row(row) for row in rows]

    async def insert(
        self,
        conn: AsyncConnection,
        name: str,
        email: str | None,
        groups: list[str],
        notify: list[str] | None = None,
    ) -> None:
        """Raises ``IntegrityError`` when the name is taken."""
        now = datetime.now(timezone.utc)
        await conn.execute(
            reviewers.insert().values(
                name=name,
                email=email,
                groups=groups,
                notify=notify or [],
                active=True,
                created_at=now,
                updated_at=now,
            )
        )

    async def update(self, conn: AsyncConnection, name: str, values: dict[str, Any]) -> bool:
        result = await conn.execute(
            reviewers.update()
            .where(reviewers.c.name == name)
            .values(**values, updated_at=datetime.now(timezone.utc))
        )
        return result.rowcount == 1

    async def revoke_tokens(self, conn: AsyncConnection, name: str) -> int:
        """Revoke every stored token of the reviewer (their sessions end with them)."""
        result = await conn.execute(
            credentials.update()
            .where(credentials.c.kind == "reviewer")
            .where(credentials.c.name == name)
            .where(credentials.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(timezone.utc))
        )
        return int(result.rowcount or 0)
