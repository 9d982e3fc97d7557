"""The approvals API of seed 000, with signoff's long-poll and reviewer extensions."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from signoff.models import (
    LONG_POLL_HEADER,
    MAX_LONG_POLL_MS,
    Approval,
    ApprovalCreated,
    ApprovalList,
    ApprovalRequest,
    ApprovalStatus,
    CallbackDelivery,
    CancelRequest,
    DecisionRequest,
    WaitRequest,
    WaitResult,
)
from signoff.models.notifications import NotificationList
from signoff.server.api._common import body_hash, errors
from signoff.server.auth import AnyCaller, ApiCaller, ReviewerCaller
from signoff.server.domain import approvals, notifications
from signoff.server.hub import Watch
from signoff.server.metrics import ServiceMetrics
from signoff.server.services import Services, get_services
from signoff.server.store.credentials import Principal

router = APIRouter(prefix="/api/approvals", tags=["approvals"], responses=errors(429, 503))
ServicesDep = Annotated[Services, Depends(get_services)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


async def submit(
    services: Services, body: ApprovalRequest, who: Principal, idempotency_key: str | None
) -> tuple[Approval, bool]:
    """The domain's submit, with the request's hash to tell a replay from a reused key."""
    digest = body_hash(body.model_dump(mode="json")) if idempotency_key else None
    return await approvals.submit(services, body, who, idempotency_key, digest)


async def load(services: Services, approval_id: str) -> Approval:
    return await approvals.get(services, approval_id)


def seconds_left(approval: Approval, wait_ms: int) -> float:
    """How long a long-poll may hold: the asked wait, the cap, and the approval's expiry."""
    wait = min(wait_ms, MAX_LONG_POLL_MS) / 1000
    if approval.expires_at is not None:
        until_expiry = (approval.expires_at - datetime.now(timezone.utc)).total_seconds()
        wait = min(wait, max(0.0, until_expiry) + 0.05)
    return wait


@router.post(
    "/request",
    status_code=201,
    response_model=ApprovalCreated,
    responses=errors(400, 401, 403, 409, 413, 422),
)
async def request_approval(
    body: ApprovalRequest,
    who: ApiCaller,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> ApprovalCreated:
    """Submit an approval. The answer is ``{"id": "req_…", "status": "PENDING"}``."""
    approval, _ = await submit(services, body, who, idempotency_key)
    return ApprovalCreated(id=approval.id, status=approval.status)


@router.get("", response_model=ApprovalList, responses=errors(401, 422))
async def list_approvals(
    _who: AnyCaller,
    services: ServicesDep,
    status: ApprovalStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> ApprovalList:
    """Newest first; follow ``nextCursor`` for more."""
    try:
        items, next_cursor = await services.approvals.page(status, limit, cursor)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return ApprovalList(data=items, next_cursor=next_cursor)


WAIT_RESPONSES = {
    **errors(400, 401, 404, 413, 422),
    200: {
        "description": "A WaitResult; with `stream: true`, NDJSON: one Approval per line as "
        "each is decided (those already decided first), ending when all are or maxWaitMs passes.",
        "content": {"application/x-ndjson": {"schema": {"$ref": "#/components/schemas/Approval"}}},
    },
}


@router.post("/wait", response_model=WaitResult, responses=WAIT_RESPONSES)
async def wait_for_any(
    body: WaitRequest, _who: AnyCaller, services: ServicesDep
) -> WaitResult | StreamingResponse:
    """Answer as soon as any of ``ids`` is decided (or ``maxWaitMs`` passes).

    One connection waits on thousands of approvals: what an Airflow triggerer or a
    Prefect worker holds instead of one poll per approval. With ``stream`` the answer
    stays open and carries each decision as it happens, so a decision costs one line
    rather than a new request naming every id still pending.
    """
    ids = list(dict.fromkeys(body.ids))
    deadline = time.monotonic() + min(body.max_wait_ms, MAX_LONG_POLL_MS) / 1000
    watch = services.hub.watch(ids)  # before reading: no decision falls in between
    streaming = False
    try:
        statuses = await services.approvals.statuses(ids)
        missing = [approval_id for approval_id in ids if approval_id not in statuses]
        if missing:
            raise HTTPException(404, f"no approval with id {missing[0]!r}")
        decided = [i for i, status in statuses.items() if status is not ApprovalStatus.PENDING]
        if body.stream:
            pending = {i for i, status in statuses.items() if status is ApprovalStatus.PENDING}
            lines = stream_decisions(services, watch, decided, pending, deadline)
            streaming = True
            return WatchedStream(lines, watch, services.metrics)  # closes the watch at the end
        with services.metrics.held_wait("long_poll"):
            while not decided and (left := deadline - time.monotonic()) > 0:
                # A wake reads only the ids that fired: O(decided), not O(waiting).
                fired = await watch.wait(left)
                fired_statuses = await services.approvals.statuses(fired) if fired else {}
                decided = [
                    i for i, st in fired_statuses.items() if st is not ApprovalStatus.PENDING
                ]
    finally:
        if not streaming:
            watch.close()
    done = set(decided)
    pending_ids = [approval_id for approval_id in ids if approval_id not in done]
    return WaitResult(decided=await services.approvals.get_many(decided), pending=pending_ids)


async def stream_decisions(
    services: Services, watch: Watch, decided: list[str], pending: set[str], deadline: float
) -> AsyncIterator[bytes]:
    """The NDJSON lines of a streamed wait: the decided approvals, then each new decision.

    A wake reads only the ids that fired, so a decision costs O(1) however many wait.
    """
    for approval in await services.approvals.get_many(decided):
        yield approval.model_dump_json(by_alias=True).encode() + b"\n"
    while pending and (left := deadline - time.monotonic()) > 0:
        fired = [approval_id for approval_id in await watch.wait(left) if approval_id in pending]
        if not fired:
            continue
        lines = []
        for approval in await services.approvals.get_many(fired):
            if approval.is_decided:  # creation publishes too
                pending.discard(approval.id)
                lines.append(approval.model_dump_json(by_alias=True).encode() + b"\n")
        if lines:
            yield b"".join(lines)


class WatchedStream(StreamingResponse):
    """An NDJSON answer that releases its hub watch however it ends (done, error, hang-up)."""

    media_type = "application/x-ndjson"

    def __init__(
        self, content: AsyncIterator[bytes], watch: Watch, metrics: ServiceMetrics
    ) -> None:
        super().__init__(content, headers={"Cache-Control": "no-store"})
        self.watch = watch
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            with self.metrics.held_wait("stream"):
                await super().__call__(scope, receive, send)
        finally:
            self.watch.close()


@router.get("/{approval_id}", response_model=Approval, responses=errors(401, 404, 422))
async def get_approval(
    approval_id: str,
    _who: AnyCaller,
    services: ServicesDep,
    response: Response,
    wait_ms: Annotated[int, Query(alias="waitMs", ge=0)] = 0,
) -> Approval:
    """Read an approval. ``?waitMs=N`` holds the answer until it is decided or N ms pass."""
    approval = await load(services, approval_id)
    if wait_ms > 0:
        response.headers[LONG_POLL_HEADER] = str(MAX_LONG_POLL_MS)
        if not approval.is_decided:
            with services.hub.watch([approval_id]) as watch:
                approval = await load(services, approval_id)  # decided while subscribing?
                if not approval.is_decided:
                    with services.metrics.held_wait("read"):
                        await watch.wait(seconds_left(approval, wait_ms))
                    approval = await load(services, approval_id)
    return approval


@router.post(
    "/{approval_id}/decision",
    response_model=Approval,
    responses=errors(400, 401, 403, 404, 409, 413, 422),
)
async def decide(
    approval_id: str, body: DecisionRequest, who: ReviewerCaller, services: ServicesDep
) -> Approval:
    """A reviewer approves (optionally with edited details) or rejects, once."""
    return await approvals.review(services, approval_id, body, who)


@router.post(
    "/{approval_id}/cancel",
    response_model=Approval,
    responses=errors(400, 401, 403, 404, 409, 413, 422),
)
async def cancel(
    approval_id: str, who: ApiCaller, services: ServicesDep, body: CancelRequest | None = None
) -> Approval:
    """The asker withdraws a pending approval: it reads REJECTED with reason CANCELLED.

    Waiters wake and the callback fires as for any decision, so whoever waits learns of it.
    Only the key that submitted it or an admin key may (403 for any other key).
    """
    return await approvals.cancel(services, approval_id, who, body.reason if body else None)


@router.get(
    "/{approval_id}/callbacks",
    response_model=dict[str, list[CallbackDelivery]],
    responses=errors(401, 404),
)
async def callbacks(
    approval_id: str, _who: AnyCaller, services: ServicesDep
) -> dict[str, list[CallbackDelivery]]:
    """The callback of an approval and every attempt made to deliver it."""
    await load(services, approval_id)
    return {"data": await services.outbox.for_subject(approval_id)}


@router.get(
    "/{approval_id}/notifications",
    response_model=NotificationList,
    responses=errors(401, 404),
)
async def approval_notifications(
    approval_id: str, _who: AnyCaller, services: ServicesDep
) -> NotificationList:
    """Who was told of the approval, how (email, chat, Slack), why, and every attempt."""
    await load(services, approval_id)
    return NotificationList(data=await notifications.listing(services, approval_id))
