"""The emulator's own event endpoints: publish any catalogued event, inspect, replay.

``POST /events`` stands where a payments sandbox's "trigger a test payment" would: it is
signoff's local-only way to make events happen, not part of the hosted API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from signoff.models.events import Delivery, PublishedEvent, PublishEvent, unknown_event_types
from signoff.server.api._common import errors, replayable
from signoff.server.api.webhooks import CkoIdempotencyKey
from signoff.server.auth import ApiCaller
from signoff.server.domain import events as domain_events
from signoff.server.errors import CkoError
from signoff.server.services import Services, get_services
from signoff.server.store.events import NewEvent

router = APIRouter(tags=["events"], responses=errors(403, 429, 503))
ServicesDep = Annotated[Services, Depends(get_services)]


@router.post(
    "/events",
    status_code=201,
    response_model=PublishedEvent,
    responses=errors(400, 401, 413, 422),
)
async def publish_event(
    body: PublishEvent,
    who: ApiCaller,
    services: ServicesDep,
    request: Request,
    idempotency_key: CkoIdempotencyKey = None,
) -> Response:
    """Publish an event to every matching webhook and workflow (stored before answering)."""
    if unknown_event_types([body.type]):
        raise CkoError(422, f"type: unknown event type {body.type!r}", "event_type_invalid")

    async def produce(conn: AsyncConnection | None) -> tuple[int, Any]:
        event = NewEvent(
            type=body.type,
            data=body.data,
            source="api",
            subject_id=body.subject,
            entity_id=body.entity_id,
            processing_channel_id=body.processing_channel_id,
        )
        queued = await domain_events.publish(services, event, conn=conn)
        published = PublishedEvent(
            id=event.id, type=event.type, created_on=event.created_at, deliveries=queued
        )
        return 201, published.to_wire()

    answer = await replayable(services, who, request, idempotency_key, body.to_wire(), produce)
    if idempotency_key:  # published inside the key's transaction: kick after its commit
        domain_events.kick(services)
    return answer


@router.get(
    "/events/{event_id}/deliveries",
    response_model=dict[str, list[Delivery]],
    responses=errors(401, 404),
)
async def event_deliveries(event_id: str, _who: ApiCaller, services: ServicesDep) -> JSONResponse:
    """Every delivery of one event, with every attempt (status, latency, response, error)."""
    if await services.events.get(event_id) is None:
        raise CkoError(404, f"no event with id {event_id!r}", "event_not_found")
    found = await services.events.deliveries(event_id=event_id)
    return JSONResponse({"data": [d.to_wire() for d in found]})


@router.post("/deliveries/{delivery_id}/replay", status_code=202, responses=errors(401, 404, 409))
async def replay_delivery(delivery_id: str, who: ApiCaller, services: ServicesDep) -> JSONResponse:
    """Send a delivery's exact bytes to its URL again, as a new delivery.

    An approval's callback may be replayed only by the key that created the approval (or
    an admin key); a delivery still being tried cannot be replayed (409).
    """
    caller = None if who.kind == "admin" else who.name
    new_id = await domain_events.replay(services, delivery_id, caller)
    return JSONResponse({"id": new_id}, status_code=202)
