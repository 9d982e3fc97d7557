"""Seed 000's ``POST /api/webhooks/inbound``: submit, then short-wait and/or call back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from signoff.models import (
    MAX_INBOUND_WAIT_MS,
    ApprovalRequest,
    InboundRequest,
    InboundResponse,
    status_word,
)
from signoff.server.api._common import errors
from signoff.server.api.approvals import IdempotencyKey, load, seconds_left, submit
from signoff.server.auth import ApiCaller
from signoff.server.services import Services, get_services

router = APIRouter(prefix="/api/webhooks", tags=["approvals"], responses=errors(429, 503))


@router.post(
    "/inbound", response_model=InboundResponse, responses=errors(400, 401, 403, 409, 413, 422)
)
async def inbound(
    body: InboundRequest,
    who: ApiCaller,
    services: Annotated[Services, Depends(get_services)],
    idempotency_key: IdempotencyKey = None,
) -> InboundResponse:
    """Holds the answer up to ``maxWaitMs`` (at most 10 000) for a decision."""
    request = ApprovalRequest(
        action=body.action,
        summary=body.summary,
        details=body.details,
        justification=body.justification,
        risk_level=body.risk_level,
        callback_url=body.callback_url,
    )
    approval, _ = await submit(services, request, who, idempotency_key)
    wait_ms = min(body.max_wait_ms or 0, MAX_INBOUND_WAIT_MS)
    if wait_ms and not approval.is_decided:
        with services.hub.watch([approval.id]) as watch:
            approval = await load(services, approval.id)
            if not approval.is_decided:
                await watch.wait(seconds_left(approval, wait_ms))
                approval = await load(services, approval.id)
    return InboundResponse(
        status=status_word(approval.status),
        approval_id=approval.id,
        modified_details=approval.modified_details,
        decision_note=approval.decision_note,
        review_url=None if approval.is_decided else approval.review_url,
    )
