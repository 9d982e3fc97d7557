"""Replayable answers for ``Cko-Idempotency-Key``: the same key and body answer the same."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.server.store.db import write
from signoff.server.store.tables import idempotency_keys


class KeyReused(Exception):
    """The key was used before with a different body."""


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def recall(self, key: str, request_hash: str) -> tuple[int, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == key))
            ).first()
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise KeyReused(key)
        return row.status_code, row.body

    async def remember(self, key: str, request_hash: str, status_code: int, body: Any) -> None:
        try:
            async with write(self.engine) as conn:
                await conn.execute(
                    idempotency_keys.insert().values(
                        key=key,
                        request_hash=request_hash,
                        status_code=status_code,
                        body=body,
                        created_at=datetime.now(timezone.utc),
                    )
                )
        except IntegrityError:
            pass  # a concurrent twin stored its answer first; both answers are equivalent
