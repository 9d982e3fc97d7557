"""Events and their deliveries: publish, test sends, replay, reflow.

An event is stored with every delivery it causes in one transaction (routing is the
delivery package's: which webhooks and workflow actions it goes to); the worker is
kicked after the commit, so a delivery goes out at once rather than at the next idle tick.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from signoff.server.delivery import routing
from signoff.server.domain.errors import Conflict, Forbidden, NotFound
from signoff.server.services import Services
from signoff.server.store import events as event_rows
from signoff.server.store import outbox
from signoff.server.store.db import joined, write
from signoff.server.store.events import NewEvent, NotYours, StillPending, Subscriber


async def publish_in(
    conn: AsyncConnection, event: NewEvent, targets: list[Subscriber] | None = None
) -> int:
    """Store ``event`` and queue a delivery for each target, in the caller's transaction
    (the caller wakes the worker after its commit). ``targets`` narrows delivery (the test
    endpoints); by default every matching webhook and workflow action gets it."""
    await event_rows.store_event(conn, event)
    if targets is None:
        targets = routing.route(event, await event_rows.subscribers(conn))
    return await outbox.enqueue_event(conn, event.id, event.envelope(), targets)


async def publish(
    services: Services,
    event: NewEvent,
    targets: list[Subscriber] | None = None,
    conn: AsyncConnection | None = None,
) -> int:
    """Publish one event; with ``conn`` inside that transaction (an idempotent create),
    whose owner then calls :func:`kick` after committing."""
    async with joined(services.events.engine, conn) as own:
        queued = await publish_in(own, event, targets)
    if conn is None:
        kick(services)
    return queued


def kick(services: Services) -> None:
    """After a commit that queued deliveries: the worker claims them now."""
    services.worker.kick()


def sample_data(event_type: str) -> dict[str, Any]:
    """What a test event carries: recognisably a test, shaped like the real thing."""
    kind = event_type.split("_", 1)[0]
    prefix = {"payment": "pay", "dispute": "dsp", "card": "pay", "approval": "req"}.get(kind, "obj")
    return {"id": f"{prefix}_test_{secrets.token_hex(8)}", "test": True, "type": event_type}


async def send_tests(services: Services, event_types: list[str], targets: list[Subscriber]) -> None:
    """One test event of each type to exactly these targets, subscribed to it or not."""
    async with write(services.events.engine) as conn:
        for event_type in event_types:
            event = NewEvent(type=event_type, data=sample_data(event_type), source="test")
            await publish_in(conn, event, targets)
    kick(services)


async def replay(services: Services, delivery_id: str, caller: str | None) -> str:
    """Send a delivery's exact bytes to its URL again, as a new delivery; its id.

    ``caller``: an API key's name, to whom only their own approvals' callbacks belong
    (``None``: an admin key, or a page that checked already).
    """
    try:
        new_id = await services.events.replay(delivery_id, caller=caller)
    except StillPending:
        raise Conflict(
            f"delivery {delivery_id} is still being tried; replay it once it has succeeded "
            "or failed",
            "delivery_pending",
        ) from None
    except NotYours:
        raise Forbidden(
            "only the API key that created the approval may replay its callback",
            "delivery_forbidden",
        ) from None
    if new_id is None:
        raise NotFound("delivery", delivery_id)
    kick(services)
    return new_id


async def reflow(services: Services, event_ids: list[str], workflows: list[str] | None) -> int:
    """Run the (current) matching workflows again for stored events (all of the given
    workflows, matching or not, when ``workflows`` names them)."""
    async with write(services.events.engine) as conn:
        candidates = await event_rows.subscribers(conn, webhooks=False)
        if workflows is not None:
            candidates = [c for c in candidates if c.workflow_id in workflows]
        queued = 0
        for event in await event_rows.stored_events(conn, event_ids):
            targets = routing.route(event, candidates, match=workflows is None)
            queued += await outbox.enqueue_event(conn, event.id, event.envelope(), targets)
    kick(services)
    return queued
