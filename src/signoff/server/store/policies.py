"""Applied policy versions as stored: each one kept, the newest active."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.server.store.db import reading
from signoff.server.store.tables import approvals, policy_versions


class PolicyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def latest_version(self) -> int | None:
        async with self.engine.connect() as conn:
            found = await conn.scalar(select(func.max(policy_versions.c.version)))
        return None if found is None else int(found)

    async def latest(self, conn: AsyncConnection | None = None) -> RowMapping | None:
        async with reading(self.engine, conn) as own:
            query = select(policy_versions).order_by(policy_versions.c.version.desc()).limit(1)
            return (await own.execute(query)).mappings().first()

    async def insert(
        self,
        conn: AsyncConnection,
        version: int,
        document: dict[str, Any],
        digest: str,
        created_by: str,
    ) -> None:
        """Raises ``IntegrityError`` when another apply took ``version`` first."""
        await conn.execute(
            policy_versions.insert().values(
                version=version,
                document=document,
                digest=digest,
                created_at=datetime.now(timezone.utc),
                created_by=created_by,
            )
        )

    async def approvals_since(self, since: datetime, limit: int) -> list[RowMapping]:
        """Stored approvals to replay a draft over, newest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(approvals)
                .where(approvals.c.created_at >= since)
                .order_by(approvals.c.created_at.desc())
                .limit(limit)
            )
            return list(rows.mappings())
