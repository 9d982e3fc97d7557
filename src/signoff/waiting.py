"""Waiting on many approvals at the cost of one: what a triggerer or a worker runs.

An Airflow triggerer may hold thousands of deferred approval tasks in one event loop.
Polling each (the hosted SDK polls every 3 s, Airflow's HITL trigger every 5 s) costs
N requests per interval; a :class:`DecisionWaiter` instead keeps *one* streamed
``POST /api/approvals/wait`` open for all of them and resolves each waiter the moment
its approval's line arrives, so a decision costs O(1) whatever N is; the request is
made again only when new approvals join or a round ends. A server that answers one
``WaitResult`` instead (no streaming) is re-asked with the rest after each decision.
Against a server without that endpoint (the hosted service) it falls back to one
backing-off poll per approval.

:func:`shared_waiter` is the registry that makes "one" true across independent callers
(an Airflow triggerer's triggers, a worker's tasks): everything in one event loop that
waits on the same service with the same key shares one waiter, hence one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from signoff.client import AsyncApprovalsClient, DecisionTimeout, NotFound
from signoff.models import Approval

log = logging.getLogger(__name__)

ROUND_SECONDS = 25.0
"""One long-poll round; under the 30 s server cap and typical proxy idle timeouts."""

DEBOUNCE_SECONDS = 0.01
"""New waiters arriving together (a triggerer starting up) restart the stream once."""


class DecisionWaiter:
    """``await waiter.wait(approval_id, timeout=...)`` from any number of tasks."""

    def __init__(self, client: AsyncApprovalsClient, *, round_seconds: float = ROUND_SECONDS):
        self.client = client
        self.round_seconds = round_seconds
        self._futures: dict[str, list[asyncio.Future[Approval]]] = {}
        self._changed = asyncio.Event()
        self._asked: set[str] = set()  # ids the open request will still answer for
        self._runner: asyncio.Task[None] | None = None
        self._multiplexed = True  # until the server shows it has no /api/approvals/wait

    @property
    def waiting(self) -> int:
        return len(self._futures)

    async def wait(self, approval_id: str, *, timeout: float | None = None) -> Approval:
        if not self._multiplexed:
            return await self.client.wait_for_decision(approval_id, timeout=timeout)
        future: asyncio.Future[Approval] = asyncio.get_running_loop().create_future()
        self._futures.setdefault(approval_id, []).append(future)
        if approval_id not in self._asked:  # else the open stream will bring it
            self._changed.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="signoff-decision-waiter")
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise DecisionTimeout(approval_id, timeout or 0.0) from None
        finally:
            waiting = self._futures.get(approval_id)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._futures[approval_id]
                    if not self._futures:  # nobody left: hang up
                        self._changed.set()

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    def _resolve(self, approval: Approval) -> None:
        self._asked.discard(approval.id)  # a new waiter on it must ask again
        for future in self._futures.pop(approval.id, []):
            if not future.done():
                future.set_result(approval)

    def _fail(self, approval_id: str, error: BaseException) -> None:
        for future in self._futures.pop(approval_id, []):
            if not future.done():
                future.set_exception(error)

    async def _run(self) -> None:
        while self._futures:
            await asyncio.sleep(DEBOUNCE_SECONDS)
            self._changed.clear()
            ids = list(self._futures)
            self._asked = set(ids)
            ask = asyncio.create_task(self._ask(ids))
            changed = asyncio.create_task(self._changed.wait())
            try:
                await asyncio.wait({ask, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when closed: hang up rather than leave the request open
                changed.cancel()
                if not ask.done():  # new ids (or none left): ask again with the current set
                    ask.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await ask
            if ask.cancelled():
                continue
            try:
                ask.result()
            except NotFound:
                await self._sort_out_not_found(ids)
                continue
            except Exception as exc:  # the server is away: keep the waiters, retry shortly
                log.warning("waiting for decisions failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
        self._asked = set()

    async def _ask(self, ids: list[str]) -> None:
        """One round: resolve waiters line by line until all ``ids`` are decided or the
        round's time is up (or, from a server that does not stream, the first answer)."""
        decisions = self.client.decisions(ids, max_wait=self.round_seconds)
        async with contextlib.aclosing(decisions):
            async for approval in decisions:
                self._resolve(approval)

    async def _sort_out_not_found(self, ids: list[str]) -> None:
        """Either some ids are unknown, or the server has no multi-wait endpoint."""
        unknown = []
        for approval_id in ids:
            try:
                approval = await self.client.get(approval_id)
            except NotFound as exc:
                unknown.append(approval_id)
                self._fail(approval_id, exc)
                continue
            if approval.is_decided:
                self._resolve(approval)
        if not unknown:
            log.info("server has no /api/approvals/wait; polling each approval instead")
            self._multiplexed = False
            for approval_id, futures in list(self._futures.items()):
                self._futures.pop(approval_id, None)
                task = asyncio.create_task(self.client.wait_for_decision(approval_id))
                for future in futures:
                    task.add_done_callback(functools.partial(_copy, future=future))


def _copy(task: asyncio.Task[Approval], *, future: asyncio.Future[Approval]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif task.exception() is not None:
        future.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        future.set_result(task.result())


@dataclass
class _Shared:
    client: AsyncApprovalsClient
    waiter: DecisionWaiter
    users: int = 0


_shared: dict[tuple[asyncio.AbstractEventLoop, str, str], _Shared] = {}


@contextlib.asynccontextmanager
async def shared_waiter(
    base_url: str, *, api_key: str | None = None, timeout: float = 30.0
) -> AsyncIterator[DecisionWaiter]:
    """The one waiter of this event loop for this service and key (a waiter belongs to
    the loop its stream runs in); made on first use, closed with its client when its last
    user leaves. The key is held as a digest, so the registry never holds it in clear."""
    fingerprint = hashlib.sha256((api_key or "").encode()).hexdigest()
    key = (asyncio.get_running_loop(), base_url, fingerprint)
    shared = _shared.get(key)
    if shared is None:
        client = AsyncApprovalsClient(base_url, api_key=api_key, timeout=timeout)
        shared = _shared[key] = _Shared(client, DecisionWaiter(client))
    shared.users += 1
    try:
        yield shared.waiter
    finally:
        shared.users -= 1
        if shared.users == 0 and _shared.get(key) is shared:
            del _shared[key]  # before awaiting: a newcomer must not pick up a closing waiter
            await shared.waiter.close()
            await shared.client.aclose()


def shared_waiters() -> int:
    """How many shared waiters (hence long-poll connections) this process holds."""
    return len(_shared)
