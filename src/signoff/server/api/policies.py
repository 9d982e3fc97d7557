"""Approval policies (signoff's own API): an admin key only, for every call.

The policy decides who approves and what is approved without anyone: a pipeline's API
key or a reviewer must never be able to change it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from signoff.models.policies import (
    PolicyApplied,
    PolicyDocument,
    PolicyPlan,
    PolicyTestReport,
    PolicyTestRequest,
    PolicyValid,
    PolicyVersion,
)
from signoff.server.api._common import errors
from signoff.server.auth import AdminCaller
from signoff.server.domain import policies, reviewers
from signoff.server.services import Services, get_services

router = APIRouter(prefix="/api/policies", tags=["policies"], responses=errors(401, 403, 429, 503))
ServicesDep = Annotated[Services, Depends(get_services)]


@router.get("", response_model=PolicyVersion, responses=errors(404))
async def show(_who: AdminCaller, services: ServicesDep) -> PolicyVersion:
    """The active policy version (404 before the first apply)."""
    return await policies.active(services.policies.store)


@router.post("/validate", response_model=PolicyValid, responses=errors(400, 413, 422))
async def validate(body: PolicyDocument, _who: AdminCaller, services: ServicesDep) -> PolicyValid:
    """Check a policy document (its conditions compiled); 422 lists every ``problem``."""
    return policies.validate(body.document, await reviewers.record_groups(services))


@router.post("/plan", response_model=PolicyPlan, responses=errors(400, 413, 422))
async def plan(body: PolicyDocument, _who: AdminCaller, services: ServicesDep) -> PolicyPlan:
    """What applying the document would change."""
    return await policies.plan(
        services.policies.store, body.document, await reviewers.record_groups(services)
    )


@router.put("", response_model=PolicyApplied, responses=errors(400, 409, 413, 422))
async def apply(body: PolicyDocument, who: AdminCaller, services: ServicesDep) -> PolicyApplied:
    """Make the document the active version (a new version only when it changed)."""
    groups = await reviewers.record_groups(services)
    return await policies.apply(services.policies, body.document, groups, who)


@router.post("/test", response_model=PolicyTestReport, responses=errors(400, 413, 422))
async def test(
    body: PolicyTestRequest, _who: AdminCaller, services: ServicesDep
) -> PolicyTestReport:
    """Replay stored approvals against a draft: what each rule would have changed."""
    return await policies.test(
        services.policies.store,
        body.document,
        await reviewers.record_groups(services),
        body.since_seconds,
        body.limit,
    )
