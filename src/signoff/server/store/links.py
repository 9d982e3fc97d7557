"""Signed decision links that were used: each works once (the link itself is signed, not
stored; only its nonce is kept once it decided something)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.server.store.db import reading
from signoff.server.store.tables import decision_links


async def used(engine: AsyncEngine, nonce: str, conn: AsyncConnection | None = None) -> bool:
    async with reading(engine, conn) as own:
        found = await own.scalar(
            select(decision_links.c.nonce).where(decision_links.c.nonce == nonce)
        )
    return found is not None


async def use(
    conn: AsyncConnection, nonce: str, approval_id: str, reviewer: str, decision: str
) -> None:
    """In the decision's transaction (under the approval's row lock, so a link used twice
    at once is seen used by the second)."""
    await conn.execute(
        decision_links.insert().values(
            nonce=nonce,
            approval_id=approval_id,
            reviewer=reviewer,
            decision=decision,
            used_at=datetime.now(timezone.utc),
        )
    )
