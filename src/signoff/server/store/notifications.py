"""Decisions taken in other processes: the ``NOTIFY`` a decision sends in its transaction
(PostgreSQL), heard on a LISTEN connection of our own and handed to the hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class PostgresListener:
    """LISTENs on the decision channel and feeds the hub; reconnects when dropped."""

    def __init__(self, dsn: str, channel: str, deliver: Callable[[str], None]) -> None:
        self.dsn = dsn
        self.channel = channel
        self.deliver = deliver
        self.ready = asyncio.Event()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.deliver(payload)

    async def run(self) -> None:
        import asyncpg

        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
                try:
                    await conn.add_listener(self.channel, self._on_notify)
                    self.ready.set()
                    while not conn.is_closed():
                        await asyncio.sleep(5)
                        await conn.execute("SELECT 1")
                finally:
                    self.ready.clear()
                    with contextlib.suppress(Exception):
                        await conn.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: try again shortly
                log.warning("decision listener lost its connection (%s); reconnecting", exc)
                await asyncio.sleep(1)
