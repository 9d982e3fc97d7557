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
from collections.abc import Iterable

log = logging.getLogger(__name__)


class Watch:
    """Ids of one :meth:`DecisionHub.watch` that were published, in the order they were.

    Holding the fired ids (not just a flag) lets a waiter on N approvals read back only
    those, so each decision costs it O(1) rather than O(N).
    """

    def __init__(self, hub: DecisionHub, ids: list[str]) -> None:
        self._hub = hub
        self._ids = ids
        self._fired: dict[str, None] = {}
        self._event = asyncio.Event()
        self._closed = False

    def _fire(self, approval_id: str) -> None:
        self._fired[approval_id] = None
        self._event.set()

    def take(self) -> list[str]:
        """The ids published since the last ``take`` (each once), and forget them."""
        fired = list(self._fired)
        self._fired.clear()
        self._event.clear()
        return fired

    async def wait(self, seconds: float) -> list[str]:
        """Wait up to ``seconds`` for any watched id to be published; :meth:`take` them."""
        if not self._event.is_set() and seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout=seconds)
        return self.take()

    def close(self) -> None:
        """Stop watching; safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._hub._unwatch(self._ids, self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class DecisionHub:
    def __init__(self) -> None:
        self._waiters: dict[str, set[Watch]] = defaultdict(set)
        self.version = 0
        self._changed = asyncio.Event()

    def watch(self, ids: Iterable[str]) -> Watch:
        """Watch ``ids`` until the :class:`Watch` is closed (``with hub.watch(ids) as w``).

        Registered at once, so a decision published after this call is never missed.
        """
        watch = Watch(self, list(ids))
        for key in watch._ids:
            self._waiters[key].add(watch)
        return watch

    def _unwatch(self, ids: list[str], watch: Watch) -> None:
        for key in ids:
            waiting = self._waiters.get(key)
            if waiting is not None:
                waiting.discard(watch)
                if not waiting:
                    del self._waiters[key]

    def publish(self, approval_id: str) -> None:
        """An approval was created or decided: wake its waiters and every change watcher."""
        for watch in self._waiters.get(approval_id, ()):
            watch._fire(approval_id)
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
