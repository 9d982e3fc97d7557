"""Which subscribers an event goes to: a webhook receives the event types it lists; a
workflow's actions fire when all of its conditions hold (event type, entity, processing
channel), as the hosted platforms match."""

from __future__ import annotations

from typing import Any

from signoff.server.store.events import NewEvent, Subscriber
from signoff.server.store.kinds import DeliveryKind


def condition_holds(condition: dict[str, Any], event: NewEvent) -> bool:
    kind = condition["type"]
    if kind == "event":
        return event.type in {name for group in condition["events"].values() for name in group}
    if kind == "entity":
        return event.entity_id in condition["entities"]
    if kind == "processing_channel":
        return event.processing_channel_id in condition["processing_channels"]
    return True


def receives(subscriber: Subscriber, event: NewEvent) -> bool:
    if subscriber.kind is DeliveryKind.WEBHOOK:
        return event.type in subscriber.event_types
    return all(condition_holds(c, event) for c in subscriber.conditions)


def route(
    event: NewEvent, subscribers: list[Subscriber], *, match: bool = True
) -> list[Subscriber]:
    """The subscribers ``event`` is delivered to (all of them when ``match`` is off: a
    reflow of named workflows runs them whatever their conditions say)."""
    return [s for s in subscribers if not match or receives(s, event)]
