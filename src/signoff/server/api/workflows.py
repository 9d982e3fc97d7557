"""``/workflows``: seed 001's workflows API plus events, action invocations and reflow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from signoff.models.events import EventTypesRequest
from signoff.models.workflows import (
    ActionInvocation,
    ActionInvocations,
    Condition,
    Created,
    EventActionSummary,
    EventDetails,
    EventSource,
    ReflowRequest,
    SubjectEvent,
    SubjectEvents,
    WebhookAction,
    Workflow,
    WorkflowList,
    WorkflowPatch,
    WorkflowRequest,
    event_sources,
)
from signoff.server.api._common import errors, replayable
from signoff.server.api.webhooks import CkoIdempotencyKey, check_known
from signoff.server.auth import ApiCaller
from signoff.server.domain import events as domain_events
from signoff.server.errors import CkoError
from signoff.server.services import Services, get_services
from signoff.server.store.subscriptions import (
    MAX_PARTS,
    TooMany,
    action_item,
    condition_item,
    links,
)

router = APIRouter(prefix="/workflows", tags=["workflows"], responses=errors(403, 429, 503))
ServicesDep = Annotated[Services, Depends(get_services)]
PARTS = {"actions": "workflow action", "conditions": "workflow condition"}


def not_found(what: str, item_id: str) -> CkoError:
    return CkoError(404, f"no {what} with id {item_id!r}", f"{what.replace(' ', '_')}_not_found")


# -- events (declared first: their paths would otherwise match /{workflow_id}/...) -------


@router.get("/event-types", response_model=list[EventSource], responses=errors(401))
async def get_event_types(_who: ApiCaller) -> list[EventSource]:
    """The event types workflows and webhooks can subscribe to, by source."""
    return event_sources()


async def _event_or_404(services: Services, event_id: str) -> Any:
    event = await services.events.get(event_id)
    if event is None:
        raise not_found("event", event_id)
    return event


def _invocation_status(states: list[str]) -> str:
    if "delivered" in states:
        return "successful"
    return "pending" if "pending" in states else "failed"


@router.get("/events/{event_id}", response_model=EventDetails, responses=errors(401, 404))
async def get_event(event_id: str, _who: ApiCaller, services: ServicesDep) -> EventDetails:
    event = await _event_or_404(services, event_id)
    by_action: dict[tuple[str, str], list[str]] = {}
    for delivery in await services.events.deliveries(event_id=event_id):
        if delivery.kind == "workflow" and delivery.target_id:
            key = (delivery.workflow_id or "", delivery.target_id)
            by_action.setdefault(key, []).append(delivery.state)
    base = services.settings.base_url
    return EventDetails(
        id=event["id"],
        source=event["source"],
        type=event["type"],
        timestamp=event["created_at"].isoformat(),
        data=event["data"],
        action_invocations=[
            EventActionSummary(
                workflow_id=workflow_id,
                workflow_action_id=action_id,
                status=_invocation_status(states),
                links=links(base, f"workflows/events/{event_id}/actions/{action_id}"),
            )
            for (workflow_id, action_id), states in by_action.items()
        ],
        links=links(base, f"workflows/events/{event_id}"),
    )


@router.get(
    "/events/{event_id}/actions/{action_id}",
    response_model=ActionInvocations,
    responses=errors(401, 404),
)
async def get_action_invocations(
    event_id: str, action_id: str, _who: ApiCaller, services: ServicesDep
) -> ActionInvocations:
    """Every attempt to run one workflow action for one event."""
    await _event_or_404(services, event_id)
    found = [
        d for d in await services.events.deliveries(event_id=event_id) if d.target_id == action_id
    ]
    if not found:
        raise not_found("workflow action invocation", action_id)
    invocations = []
    for delivery in reversed(found):
        for number, attempt in enumerate(delivery.attempts):
            succeeded = attempt.error is None
            invocations.append(
                ActionInvocation(
                    invocation_id=f"{delivery.id}:{number + 1}",
                    timestamp=attempt.attempted_on.isoformat(),
                    retry=number > 0,
                    succeeded=succeeded,
                    final=succeeded or delivery.state == "failed",
                    result_details={
                        "status_code": attempt.status_code,
                        "duration_ms": attempt.duration_ms,
                        "error": attempt.error,
                        "response": attempt.response_excerpt,
                    },
                )
            )
    return ActionInvocations(
        workflow_id=found[0].workflow_id or "",
        event_id=event_id,
        workflow_action_id=action_id,
        status=_invocation_status([d.state for d in found]),
        action_invocations=invocations,
    )


async def _reflow(
    services: Services, event_ids: list[str], workflows: list[str] | None
) -> Response:
    await domain_events.reflow(services, event_ids, workflows)
    return Response(status_code=202)


@router.post(
    "/events/reflow", status_code=202, response_class=Response, responses=errors(400, 401, 413, 422)
)
async def reflow(body: ReflowRequest, _who: ApiCaller, services: ServicesDep) -> Response:
    """Run workflows again for the given events, or for every event of the given subjects."""
    if not body.events and not body.subjects:
        raise CkoError(422, "give events or subjects to reflow", "reflow_target_required")
    event_ids = list(body.events or [])
    for subject in body.subjects or []:
        event_ids += [row["id"] for row in await services.events.by_subject(subject)]
    return await _reflow(services, event_ids, body.workflows)


@router.get("/events/subject/{subject_id}", response_model=SubjectEvents, responses=errors(401))
async def get_subject_events(
    subject_id: str, _who: ApiCaller, services: ServicesDep
) -> SubjectEvents:
    base = services.settings.base_url
    return SubjectEvents(
        data=[
            SubjectEvent(
                id=row["id"],
                type=row["type"],
                timestamp=row["created_at"].isoformat(),
                links=links(base, f"workflows/events/{row['id']}"),
            )
            for row in await services.events.by_subject(subject_id)
        ]
    )


@router.post(
    "/events/subject/{subject_id}/reflow",
    status_code=202,
    response_class=Response,
    responses=errors(401, 404),
)
async def reflow_by_subject(subject_id: str, _who: ApiCaller, services: ServicesDep) -> Response:
    rows = await services.events.by_subject(subject_id)
    if not rows:
        raise not_found("subject", subject_id)
    return await _reflow(services, [row["id"] for row in rows], None)


@router.post(
    "/events/subject/{subject_id}/workflow/{workflow_id}/reflow",
    status_code=202,
    response_class=Response,
    responses=errors(401, 404),
)
async def reflow_by_subject_and_workflow(
    subject_id: str, workflow_id: str, _who: ApiCaller, services: ServicesDep
) -> Response:
    rows = await services.events.by_subject(subject_id)
    if not rows:
        raise not_found("subject", subject_id)
    await _workflow_or_404(services, workflow_id)
    return await _reflow(services, [row["id"] for row in rows], [workflow_id])


@router.post(
    "/events/{event_id}/reflow",
    status_code=202,
    response_class=Response,
    responses=errors(401, 404),
)
async def reflow_by_event(event_id: str, _who: ApiCaller, services: ServicesDep) -> Response:
    await _event_or_404(services, event_id)
    return await _reflow(services, [event_id], None)


@router.post(
    "/events/{event_id}/workflow/{workflow_id}/reflow",
    status_code=202,
    response_class=Response,
    responses=errors(401, 404),
)
async def reflow_by_event_and_workflow(
    event_id: str, workflow_id: str, _who: ApiCaller, services: ServicesDep
) -> Response:
    await _event_or_404(services, event_id)
    await _workflow_or_404(services, workflow_id)
    return await _reflow(services, [event_id], [workflow_id])


# -- workflows ---------------------------------------------------------------------------


async def _workflow_or_404(services: Services, workflow_id: str) -> Workflow:
    found = await services.subscriptions.get_workflow(workflow_id)
    if found is None:
        raise not_found("workflow", workflow_id)
    return found


@router.get("", response_model=WorkflowList, responses=errors(401))
async def get_workflows(_who: ApiCaller, services: ServicesDep) -> WorkflowList:
    return WorkflowList(data=await services.subscriptions.list_workflows())


@router.post("", status_code=201, response_model=Created, responses=errors(400, 401, 413, 422))
async def create_workflow(
    body: WorkflowRequest,
    who: ApiCaller,
    services: ServicesDep,
    request: Request,
    idempotency_key: CkoIdempotencyKey = None,
) -> Response:
    async def produce(conn: AsyncConnection | None) -> tuple[int, Any]:
        created = await services.subscriptions.create_workflow(body, conn)
        return 201, Created(id=created.id, links=created.links).to_wire()

    return await replayable(services, who, request, idempotency_key, body.to_wire(), produce)


@router.get("/{workflow_id}", response_model=Workflow, responses=errors(401, 404))
async def get_workflow(workflow_id: str, _who: ApiCaller, services: ServicesDep) -> Workflow:
    return await _workflow_or_404(services, workflow_id)


@router.patch("/{workflow_id}", response_model=Workflow, responses=errors(400, 401, 404, 413, 422))
async def update_workflow(
    workflow_id: str, body: WorkflowPatch, _who: ApiCaller, services: ServicesDep
) -> Workflow:
    """Change the given fields; given conditions/actions replace the current lists
    (an action carrying its ``workflow_action_id`` keeps its id)."""
    updated = await services.subscriptions.patch_workflow(workflow_id, body)
    if updated is None:
        raise not_found("workflow", workflow_id)
    return updated


@router.delete("/{workflow_id}", status_code=204, responses=errors(401, 404))
async def remove_workflow(workflow_id: str, _who: ApiCaller, services: ServicesDep) -> Response:
    """Deleted; deliveries already queued for it are still sent (as the seed says)."""
    if not await services.subscriptions.delete_workflow(workflow_id):
        raise not_found("workflow", workflow_id)
    return Response(status_code=204)


@router.post("/{workflow_id}/test", status_code=204, responses=errors(400, 401, 404, 413, 422))
async def test_workflow(
    workflow_id: str, body: EventTypesRequest, _who: ApiCaller, services: ServicesDep
) -> Response:
    """Trigger every action of the workflow once for each event type."""
    check_known(body.event_types, status=422)
    targets = await services.subscriptions.workflow_targets(workflow_id)
    if targets is None:
        raise not_found("workflow", workflow_id)
    await domain_events.send_tests(services, body.event_types, targets)
    return Response(status_code=204)


async def _add(
    services: Services,
    who: Any,
    request: Request,
    key: str | None,
    workflow_id: str,
    part: str,
    item: dict[str, Any],
    body: dict[str, Any],
) -> Response:
    async def produce(conn: AsyncConnection | None) -> tuple[int, Any]:
        try:
            new_id = await services.subscriptions.add_part(workflow_id, part, item, conn)
        except TooMany:
            raise CkoError(
                422,
                f"{part}: a workflow holds at most {MAX_PARTS} {part}",
                f"workflow_{part}_limit_exceeded",
            ) from None
        if new_id is None:
            raise not_found("workflow", workflow_id)
        return 201, {"id": new_id}

    return await replayable(services, who, request, key, body, produce)


async def _replace(
    services: Services, workflow_id: str, part: str, item_id: str, item: dict[str, Any]
) -> Response:
    found = await services.subscriptions.replace_part(workflow_id, part, item_id, item)
    if found is None:
        raise not_found("workflow", workflow_id)
    if not found:
        raise not_found(PARTS[part], item_id)
    return Response(status_code=200)


async def _remove(services: Services, workflow_id: str, part: str, item_id: str) -> Response:
    found = await services.subscriptions.remove_part(workflow_id, part, item_id)
    if found is None:
        raise not_found("workflow", workflow_id)
    if not found:
        raise not_found(PARTS[part], item_id)
    return Response(status_code=204)


@router.post("/{workflow_id}/actions", status_code=201, responses=errors(400, 401, 404, 413, 422))
async def add_workflow_action(
    workflow_id: str,
    body: WebhookAction,
    who: ApiCaller,
    services: ServicesDep,
    request: Request,
    idempotency_key: CkoIdempotencyKey = None,
) -> Response:
    return await _add(
        services,
        who,
        request,
        idempotency_key,
        workflow_id,
        "actions",
        action_item(body),
        body.to_wire(),
    )


@router.put(
    "/{workflow_id}/actions/{action_id}",
    status_code=200,
    response_class=Response,
    responses=errors(400, 401, 404, 413, 422),
)
async def update_workflow_action(
    workflow_id: str, action_id: str, body: WebhookAction, _who: ApiCaller, services: ServicesDep
) -> Response:
    return await _replace(services, workflow_id, "actions", action_id, action_item(body))


@router.delete("/{workflow_id}/actions/{action_id}", status_code=204, responses=errors(401, 404))
async def remove_workflow_action(
    workflow_id: str, action_id: str, _who: ApiCaller, services: ServicesDep
) -> Response:
    return await _remove(services, workflow_id, "actions", action_id)


@router.post(
    "/{workflow_id}/conditions", status_code=201, responses=errors(400, 401, 404, 413, 422)
)
async def add_workflow_condition(
    workflow_id: str,
    body: Condition,
    who: ApiCaller,
    services: ServicesDep,
    request: Request,
    idempotency_key: CkoIdempotencyKey = None,
) -> Response:
    return await _add(
        services,
        who,
        request,
        idempotency_key,
        workflow_id,
        "conditions",
        condition_item(body),
        body.to_wire(),
    )


@router.put(
    "/{workflow_id}/conditions/{condition_id}",
    status_code=200,
    response_class=Response,
    responses=errors(400, 401, 404, 413, 422),
)
async def update_workflow_condition(
    workflow_id: str, condition_id: str, body: Condition, _who: ApiCaller, services: ServicesDep
) -> Response:
    return await _replace(services, workflow_id, "conditions", condition_id, condition_item(body))


@router.delete(
    "/{workflow_id}/conditions/{condition_id}", status_code=204, responses=errors(401, 404)
)
async def remove_workflow_condition(
    workflow_id: str, condition_id: str, _who: ApiCaller, services: ServicesDep
) -> Response:
    return await _remove(services, workflow_id, "conditions", condition_id)
