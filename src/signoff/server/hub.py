"""Wakes long-polling waiters the moment an approval is decided.

In one process an in-memory map of approval id -> waiting events does it, at no cost
while nobody decides. With PostgreSQL the decision also sends ``NOTIFY`` in its
transaction, and every process LISTENs, so a decision taken in one process wakes
waiters in all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger(__name__)


class DecisionHub:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.version = 0
        self._changed = asyncio.Event()

    @contextlib.contextmanager
    def watch(self, ids: Iterable[str]) -> Iterator[asyncio.Event]:
        """An event that is set when any of ``ids`` is decided, while the block runs."""
        event = asyncio.Event()
        keys = list(ids)
        for key in keys:
            self._waiters[key].add(event)
        try:
            yield event
        finally:
            for key in keys:
                waiting = self._waiters.get(key)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[key]

    def publish(self, approval_id: str) -> None:
        """An approval was created or decided: wake its waiters and every change watcher."""
        for event in self._waiters.get(approval_id, ()):
            event.set()
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def next_change(self, after: int, timeout: float) -> int:
        """Wait until something changed after ``after`` (a ``version``); the new version.

        What live pages (server-sent events) wait on, instead of polling the database.
        """
        if self.version == after:
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return self.version

    @property
    def waiting(self) -> int:
        return len(self._waiters)


class PostgresListener:
    """LISTENs on the decision channel and feeds the hub; reconnects when dropped."""

    def __init__(self, dsn: str, channel: str, hub: DecisionHub) -> None:
        self.dsn = dsn
        self.channel = channel
        self.hub = hub
        self.ready = asyncio.Event()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.hub.publish(payload)

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
