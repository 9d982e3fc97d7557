"""Idempotency keys: the key is claimed before the work, in the work's own transaction.

A concurrent twin's claim of the same key waits on the unique key until the first
transaction ends (PostgreSQL blocks on the conflicting insert; SQLite's writers queue on
one lock), then finds the key taken and replays the stored answer: one object, however
many arrive at once. Work that fails rolls its claim back with it, so a retry may proceed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.server.store.db import write
from signoff.server.store.tables import idempotency_keys

Work = Callable[[AsyncConnection | None], Awaitable[tuple[int, Any]]]
"""Does the request's writes in the transaction given (its own when ``None``); answers
(status, body)."""


class KeyReused(Exception):
    """The key was used before with a different body."""


def stored_key(scoped_key: str) -> str:
    """Fixed length whatever the caller's name, path and key: the column is bounded."""
    return hashlib.sha256(scoped_key.encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._claim = (
            dialect.insert(idempotency_keys)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(idempotency_keys.c.key)
        )

    async def run_once(self, scoped_key: str, request_hash: str, work: Work) -> tuple[int, Any]:
        """``work``'s answer the first time; the stored answer for every replay.

        Raises :class:`KeyReused` when the key was used with another body.
        """
        key = stored_key(scoped_key)
        async with write(self.engine) as conn:
            claimed = await conn.execute(
                self._claim,
                {
                    "key": key,
                    "request_hash": request_hash,
                    "status_code": 0,
                    "body": None,
                    "created_at": datetime.now(timezone.utc),
                },
            )
            if claimed.first() is None:
                row = (
                    await conn.execute(
                        select(idempotency_keys).where(idempotency_keys.c.key == key)
                    )
                ).first()
                assert row is not None  # claimed by a committed twin
                if row.request_hash != request_hash:
                    raise KeyReused(scoped_key)
                return row.status_code, row.body
            status, body = await work(conn)
            await conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key == key)
                .values(status_code=status, body=body)
            )
            return status, body
