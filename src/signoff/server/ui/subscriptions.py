"""The webhooks and workflows pages: subscriptions, recent events, deliveries, replay.

What is shown comes from the same stores the webhook management API answers from
(``services.subscriptions``, ``services.events``); a replay calls
``services.events.replay`` and wakes the worker, exactly as ``POST
/deliveries/{id}/replay`` does. Header values and signature keys may be secrets: the
pages name headers, never show their values.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from signoff.models.events import Delivery
from signoff.models.workflows import Workflow
from signoff.server.domain import events as domain_events
from signoff.server.domain.errors import NotFound
from signoff.server.services import Services, get_services
from signoff.server.store import pages as queries
from signoff.server.store.kinds import REPLAYABLE
from signoff.server.ui.router import (
    current_session,
    form,
    local_path,
    page,
    refused,
    to_sign_in,
)
from signoff.server.ui.session import Session, csrf_ok

router = APIRouter(prefix="/subscriptions", include_in_schema=False)
ServicesDep = Annotated[Services, Depends(get_services)]

DELIVERIES_SHOWN = 50
EVENTS_SHOWN = 100
REPLAYABLE_STATES = tuple(sorted(state.value for state in REPLAYABLE))
"""A pending delivery is still being tried: replaying it would send it twice."""
REPLAYABLE_KINDS = ("webhook", "workflow")
"""Approval callbacks have their own page (the approval's); these pages replay events."""


def missing(request: Request, session: Session, what: str, item_id: str) -> HTMLResponse:
    return page(
        request,
        session,
        "message.html",
        status=404,
        title=f"No such {what}",
        message=f"There is no {what} with id {item_id}.",
        link="/subscriptions",
        link_text="Back to webhooks and workflows",
    )


def delivery_context(request: Request, found: list[Delivery]) -> dict[str, Any]:
    """What ``_event_deliveries.html`` needs: the deliveries and where a replay returns."""
    query = request.url.query
    return {
        "deliveries": found,
        "here": request.url.path,
        "live_url": request.url.path + (f"?{query}" if query else ""),
        "replayed": request.query_params.get("replayed", "")[:60],
        "replayable_states": REPLAYABLE_STATES,
    }


async def workflow_deliveries(services: Services, workflow: Workflow) -> list[Delivery]:
    """The recent deliveries of every action of ``workflow``, newest first."""
    found: list[Delivery] = []
    for action in workflow.actions:
        if action.id:
            found.extend(
                await services.events.deliveries(target_id=action.id, limit=DELIVERIES_SHOWN)
            )
    found.sort(key=lambda d: (d.created_on, d.id), reverse=True)
    return found[:DELIVERIES_SHOWN]


@router.get("")
async def subscriptions(request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return to_sign_in(request)
    workflows = []
    for summary in await services.subscriptions.list_workflows():
        workflow = await services.subscriptions.get_workflow(summary.id)
        if workflow is not None:
            workflows.append(workflow)
    return page(
        request,
        session,
        "subscriptions.html",
        nav="webhooks",
        webhooks=await services.subscriptions.list_webhooks(),
        workflows=workflows,
    )


@router.get("/webhooks/{webhook_id}")
async def webhook_page(webhook_id: str, request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return to_sign_in(request)
    webhook = await services.subscriptions.get_webhook(webhook_id)
    if webhook is None:
        return missing(request, session, "webhook", webhook_id)
    found = await services.events.deliveries(target_id=webhook_id, limit=DELIVERIES_SHOWN)
    return page(
        request,
        session,
        "webhook.html",
        nav="webhooks",
        webhook=webhook,
        **delivery_context(request, found),
    )


@router.get("/workflows/{workflow_id}")
async def workflow_page(workflow_id: str, request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return to_sign_in(request)
    workflow = await services.subscriptions.get_workflow(workflow_id)
    if workflow is None:
        return missing(request, session, "workflow", workflow_id)
    found = await workflow_deliveries(services, workflow)
    return page(
        request,
        session,
        "workflow.html",
        nav="webhooks",
        workflow=workflow,
        **delivery_context(request, found),
    )


@router.get("/events")
async def recent_events(request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return to_sign_in(request)
    event_type = request.query_params.get("type", "").strip()[:100] or None
    rows, total = await queries.recent_events(
        services.events.engine, EVENTS_SHOWN, event_type=event_type
    )
    return page(
        request,
        session,
        "events.html",
        nav="events",
        events=rows,
        total=total,
        event_type=event_type,
        types=await queries.event_types_seen(services.events.engine),
    )


@router.get("/events/{event_id}")
async def event_page(event_id: str, request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return to_sign_in(request)
    event = await services.events.get(event_id)
    if event is None:
        return missing(request, session, "event", event_id)
    found = await services.events.deliveries(event_id=event_id, limit=DELIVERIES_SHOWN)
    return page(
        request,
        session,
        "event.html",
        nav="events",
        event=event,
        **delivery_context(request, found),
    )


@router.post("/deliveries/{delivery_id}/replay")
async def replay(delivery_id: str, request: Request, services: ServicesDep) -> Response:
    """Send a delivery's exact bytes to its URL again, as a new delivery, at once."""
    session = await current_session(request, services)
    fields = await form(request)
    back = local_path(fields.get("next") or "/subscriptions").partition("?")[0]
    if session is None or session.reviewer is None:
        return RedirectResponse(f"/signin?{urlencode({'next': back})}", status_code=303)
    if not csrf_ok(session, fields.get("csrf")):
        return refused(request, session, back=back)
    found = await queries.delivery_ref(services.events.engine, delivery_id)
    if found is None or found.kind not in REPLAYABLE_KINDS:
        return missing(request, session, "delivery", delivery_id)
    if found.state not in REPLAYABLE_STATES:
        return page(
            request,
            session,
            "message.html",
            status=409,
            title="Not replayed",
            message=(
                f"Delivery {delivery_id} is still {found.state}: it is retried on its own. "
                "Replay it once it has been delivered or has failed."
            ),
            link=back,
            link_text="Back to the page",
        )
    try:
        new_id = await domain_events.replay(services, delivery_id, caller=None)
    except NotFound:  # removed meanwhile
        return missing(request, session, "delivery", delivery_id)
    return RedirectResponse(
        f"{back}?{urlencode({'replayed': new_id})}#delivery-{new_id}", status_code=303
    )
