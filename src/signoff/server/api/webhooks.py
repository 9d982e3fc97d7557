"""``/webhooks``: seed 002's webhook management API, with its status codes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from signoff.models.events import Delivery, EventTypesRequest, unknown_event_types
from signoff.models.webhooks import Webhook, WebhookPatch, WebhookRequest
from signoff.server.api._common import errors, replayable
from signoff.server.auth import ApiCaller
from signoff.server.domain import events as domain_events
from signoff.server.errors import CkoError
from signoff.server.services import Services, get_services
from signoff.server.store.subscriptions import DuplicateUrl

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=errors(403, 429, 503))
ServicesDep = Annotated[Services, Depends(get_services)]
CkoIdempotencyKey = Annotated[str | None, Header(alias="Cko-Idempotency-Key", max_length=200)]


def duplicate(url: str) -> CkoError:
    return CkoError(
        409, f"a webhook with the URL {url!r} is already configured", "url_already_exists"
    )


def not_found(webhook_id: str) -> CkoError:
    return CkoError(404, f"no webhook with id {webhook_id!r}", "webhook_not_found")


@router.get(
    "",
    response_model=list[Webhook],
    responses={204: {"description": "No webhooks configured"}, **errors(401)},
)
async def list_webhooks(_who: ApiCaller, services: ServicesDep) -> Any:
    """All webhooks; 204 when none is configured (as the seed says)."""
    found = await services.subscriptions.list_webhooks()
    if not found:
        return Response(status_code=204)
    return found


@router.post("", status_code=201, response_model=Webhook, responses=errors(400, 401, 409, 413))
async def register_webhook(
    body: WebhookRequest,
    who: ApiCaller,
    services: ServicesDep,
    request: Request,
    idempotency_key: CkoIdempotencyKey = None,
) -> Response:
    async def produce(conn: AsyncConnection | None) -> tuple[int, Any]:
        try:
            created = await services.subscriptions.create_webhook(body, conn)
        except DuplicateUrl:
            raise duplicate(body.url) from None
        return 201, created.to_wire()

    return await replayable(services, who, request, idempotency_key, body.to_wire(), produce)


@router.get("/{webhook_id}", response_model=Webhook, responses=errors(401, 404))
async def retrieve_webhook(webhook_id: str, _who: ApiCaller, services: ServicesDep) -> Webhook:
    found = await services.subscriptions.get_webhook(webhook_id)
    if found is None:
        raise not_found(webhook_id)
    return found


async def _update(
    services: Services, webhook_id: str, body: WebhookRequest | WebhookPatch
) -> Webhook:
    try:
        updated = await services.subscriptions.update_webhook(webhook_id, body)
    except DuplicateUrl:
        raise duplicate(str(body.url)) from None
    if updated is None:
        raise not_found(webhook_id)
    return updated


@router.put("/{webhook_id}", response_model=Webhook, responses=errors(400, 401, 404, 409, 413))
async def update_webhook(
    webhook_id: str, body: WebhookRequest, _who: ApiCaller, services: ServicesDep
) -> Webhook:
    """Replace the webhook's settings."""
    return await _update(services, webhook_id, body)


@router.patch("/{webhook_id}", response_model=Webhook, responses=errors(400, 401, 404, 409, 413))
async def patch_webhook(
    webhook_id: str, body: WebhookPatch, _who: ApiCaller, services: ServicesDep
) -> Webhook:
    """Change only the given fields."""
    return await _update(services, webhook_id, body)


@router.delete(
    "/{webhook_id}", status_code=200, response_class=Response, responses=errors(401, 404)
)
async def remove_webhook(webhook_id: str, _who: ApiCaller, services: ServicesDep) -> Response:
    """200 when deleted (the seed's code)."""
    if not await services.subscriptions.delete_webhook(webhook_id):
        raise not_found(webhook_id)
    return Response(status_code=200)


@router.post("/{webhook_id}/test", status_code=204, responses=errors(400, 401, 404, 413))
async def test_webhook(
    webhook_id: str, body: EventTypesRequest, _who: ApiCaller, services: ServicesDep
) -> Response:
    """Send one test event of each type to this webhook, subscribed to it or not."""
    check_known(body.event_types, status=400)
    target = await services.subscriptions.webhook_target(webhook_id)
    if target is None:
        raise not_found(webhook_id)
    await domain_events.send_tests(services, body.event_types, [target])
    return Response(status_code=204)


def check_known(event_types: list[str], *, status: int) -> None:
    unknown = unknown_event_types(event_types)
    if unknown:
        raise CkoError(
            status, f"event_types: unknown event type {unknown[0]!r}", "event_types_invalid"
        )


@router.get(
    "/{webhook_id}/deliveries",
    response_model=dict[str, list[Delivery]],
    responses=errors(401, 404),
)
async def webhook_deliveries(
    webhook_id: str, _who: ApiCaller, services: ServicesDep
) -> JSONResponse:
    """Recent deliveries to this webhook with every attempt (signoff extension)."""
    if await services.subscriptions.get_webhook(webhook_id) is None:
        raise not_found(webhook_id)
    found = await services.events.deliveries(target_id=webhook_id)
    return JSONResponse({"data": [d.to_wire() for d in found]})
