"""Reviewers and groups (signoff's own API): an admin key only, for every call.

A pipeline's API key choosing who approves its own request would make segregation of
duties a formality; a reviewer token could add themselves to the finance group.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from signoff.models import Group, Reviewer, ReviewerCreate, ReviewerCreated, ReviewerUpdate
from signoff.server.api._common import errors
from signoff.server.auth import AdminCaller
from signoff.server.domain import reviewers
from signoff.server.services import Services, get_services

router = APIRouter(prefix="/api", tags=["reviewers"], responses=errors(401, 403, 429, 503))
ServicesDep = Annotated[Services, Depends(get_services)]


@router.get("/reviewers", response_model=dict[str, list[Reviewer]])
async def list_reviewers(_who: AdminCaller, services: ServicesDep) -> dict[str, list[Reviewer]]:
    """Every reviewer: stored ones, and holders of configured tokens (``configured``)."""
    return {"data": await reviewers.listing(services)}


@router.post(
    "/reviewers",
    status_code=201,
    response_model=ReviewerCreated,
    responses=errors(400, 409, 413, 422),
)
async def add_reviewer(
    body: ReviewerCreate, _who: AdminCaller, services: ServicesDep
) -> ReviewerCreated:
    """Add a reviewer; the answer carries their token, which is never shown again."""
    return await reviewers.add(services, body)


@router.get("/reviewers/{reviewer}", response_model=Reviewer, responses=errors(404))
async def get_reviewer(reviewer: str, _who: AdminCaller, services: ServicesDep) -> Reviewer:
    return await reviewers.get(services, reviewer)


@router.patch(
    "/reviewers/{reviewer}", response_model=Reviewer, responses=errors(400, 404, 413, 422)
)
async def update_reviewer(
    reviewer: str, body: ReviewerUpdate, _who: AdminCaller, services: ServicesDep
) -> Reviewer:
    """Change email, groups (replaced as a whole) or active."""
    return await reviewers.update(services, reviewer, body)


@router.delete("/reviewers/{reviewer}", response_model=Reviewer, responses=errors(404))
async def remove_reviewer(reviewer: str, _who: AdminCaller, services: ServicesDep) -> Reviewer:
    """Deactivate: kept for the audit trail, tokens revoked, may decide nothing more."""
    return await reviewers.remove(services, reviewer)


@router.get("/groups", response_model=dict[str, list[Group]])
async def list_groups(_who: AdminCaller, services: ServicesDep) -> dict[str, list[Group]]:
    """Groups and their active members."""
    return {"data": await reviewers.groups(services)}
