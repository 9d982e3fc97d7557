"""The trigger that waits, in the triggerer, for a person to decide an approval.

A triggerer may hold thousands of deferred approval tasks in one event loop. All
:class:`ApprovalTrigger` instances of that loop that talk to the same service (same base
URL and key) share one :class:`signoff.waiting.DecisionWaiter`, so a thousand waiting
tasks hold one long-poll (``POST /api/approvals/wait``) instead of making a thousand
polls; against a hosted service without that endpoint the waiter falls back to polling
each approval with backoff. The trigger only reads: it never creates or decides anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from signoff.client import AsyncApprovalsClient, Conflict, DecisionTimeout, NotFound, SignoffError
from signoff.waiting import DecisionWaiter
from signoff_airflow.hooks.approvals import ServiceSettings, SignoffHook

DEADLINE_GRACE_SECONDS = 10.0
"""Past the deadline the service's own EXPIRED decision normally arrives first; this
much later the trigger stops waiting itself (a hosted service may not expire it)."""


@dataclass
class _Shared:
    client: AsyncApprovalsClient
    waiter: DecisionWaiter
    users: int = 0
    key: tuple[Any, ...] = field(default=())


_shared: dict[tuple[Any, ...], _Shared] = {}


@asynccontextmanager
async def shared_waiter(settings: ServiceSettings) -> AsyncIterator[DecisionWaiter]:
    """The one waiter of this event loop for this service; closed when its last user leaves."""
    fingerprint = hashlib.sha256((settings.api_key or "").encode()).hexdigest()
    key = (asyncio.get_running_loop(), settings.base_url, fingerprint)
    shared = _shared.get(key)
    if shared is None:
        client = settings.async_client()
        shared = _shared[key] = _Shared(client, DecisionWaiter(client), key=key)
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
    """How many waiters (hence long-poll connections) this process holds; for tests."""
    return len(_shared)


class ApprovalTrigger(BaseTrigger):
    """Fire once when approval ``approval_id`` is decided (or expires, or is withdrawn).

    :param approval_id: the approval to wait on.
    :param signoff_conn_id: connection of type ``signoff``.
    :param deadline: Unix time after which to stop waiting and fire ``timeout``; ``None``
        waits until the service decides (every approval expires on the service).

    Events: ``{"status": "decided", "approval_id", "approval": <wire dict>}``,
    ``{"status": "timeout", "approval_id"}`` or ``{"status": "error", "approval_id", "message"}``.
    """

    def __init__(
        self,
        approval_id: str,
        signoff_conn_id: str = SignoffHook.default_conn_name,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.approval_id = approval_id
        self.signoff_conn_id = signoff_conn_id
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "signoff_airflow.triggers.approval.ApprovalTrigger",
            {
                "approval_id": self.approval_id,
                "signoff_conn_id": self.signoff_conn_id,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait()
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, Any]:
        base = {"approval_id": self.approval_id}
        try:
            settings = await SignoffHook(self.signoff_conn_id).asettings()
            timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
            async with shared_waiter(settings) as waiter:
                approval = await waiter.wait(self.approval_id, timeout=timeout)
        except DecisionTimeout:
            return {**base, "status": "timeout"}
        except (SignoffError, ValueError, AirflowNotFoundException) as exc:
            return {**base, "status": "error", "message": str(exc)}
        return {**base, "status": "decided", "approval": approval.to_wire()}

    async def on_kill(self) -> None:
        """The user marked the deferred task failed or success, or cleared it: withdraw."""
        try:
            settings = await SignoffHook(self.signoff_conn_id).asettings()
            if not settings.can_withdraw:
                return
            async with settings.async_client() as client:
                await client.cancel(self.approval_id, reason="The Airflow task was stopped.")
            self.log.info("Withdrew approval %s", self.approval_id)
        except (Conflict, NotFound):
            pass  # already decided, or unknown: nothing to withdraw
        except (SignoffError, ValueError, AirflowNotFoundException) as exc:
            self.log.warning("Could not withdraw approval %s: %s", self.approval_id, exc)
