"""Tasks and a flow that make a Prefect flow wait for a person's decision.

The wait is in-process and cheap: one long-poll on ``signoff serve`` that answers the
moment the reviewer decides (no 10 s client-side poll as with ``pause_flow_run``);
against a service without long-poll it polls with backoff up to
``poll_frequency_seconds``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, TypeAlias

from prefect.context import TaskRunContext
from prefect.runtime import flow_run, task_run
from pydantic import BaseModel

from prefect import flow, get_run_logger, task
from signoff.client import (
    ApprovalCancelled,
    ApprovalExpired,
    ApprovalRejected,
    DecisionTimeout,
    require_approved,
)
from signoff.models import Approval, StepSpec
from signoff.outcome import DecisionSummary, decision_summary
from signoff_prefect.credentials import SignoffCredentials

__all__ = [
    "ApprovalCancelled",
    "ApprovalExpired",
    "ApprovalOutcome",
    "ApprovalRejected",
    "DecisionTimeout",
    "approval_outcome",
    "json_schema_of",
    "request_approval",
    "request_approval_and_wait_for_decision",
    "wait_for_decision",
]


DetailsSchema = dict[str, Any] | type[BaseModel]
"""A JSON Schema, or a pydantic model whose ``model_json_schema()`` is the schema."""


ApprovalOutcome: TypeAlias = DecisionSummary
"""What the waiting calls return: the core's decision summary, with who decided and what
they chose (the same keys as the Airflow operators' XCom)."""


def approval_outcome(approval: Approval) -> ApprovalOutcome:
    """The outcome of a decided ``approval`` (what :func:`wait_for_decision` returns)."""
    return decision_summary(approval)


def json_schema_of(details_schema: DetailsSchema | None) -> dict[str, Any] | None:
    """A ``details_schema`` argument as the JSON Schema sent to the service."""
    if details_schema is None or isinstance(details_schema, dict):
        return details_schema
    if isinstance(details_schema, type) and issubclass(details_schema, BaseModel):
        return details_schema.model_json_schema()
    raise TypeError(
        "details_schema: give a JSON Schema (a dict) or a pydantic model class, "
        f"not {details_schema!r}"
    )


def default_idempotency_key() -> str | None:
    """The same for every attempt at one task call of one flow run, new for a new run.

    Built from the flow run id and the task's key plus its dynamic key (its call index in
    the flow), not from the task run id: a task retry keeps both, and so does a flow
    that is suspended and then re-executed from the top on resume, where Prefect makes
    new task runs for the same calls. So neither ever creates a second approval; the
    service replays the first answer for the same key and body.
    """
    context = TaskRunContext.get()
    if context is None:
        return None
    run = context.task_run
    digest = hashlib.sha256(f"{run.task_key}/{run.dynamic_key}".encode()).hexdigest()[:32]
    return f"prefect:{run.flow_run_id}:{digest}"


@task(name="request-approval")
async def request_approval(
    credentials: SignoffCredentials,
    action: str,
    summary: str,
    details: dict[str, Any] | None = None,
    *,
    risk_level: str | None = None,
    justification: str | None = None,
    expires_in_seconds: float | None = None,
    callback_url: str | None = None,
    idempotency_key: str | None = None,
    reviewers: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    required_approvals: int | None = None,
    steps: Sequence[StepSpec | dict[str, Any]] | None = None,
    requested_by: str | None = None,
    options: Sequence[str] | None = None,
    multiple: bool | None = None,
    reason_codes: Sequence[str] | None = None,
    details_schema: DetailsSchema | None = None,
) -> dict[str, str | None]:
    """Ask for sign-off; returns ``{"approval_id", "review_url"}`` without waiting.

    Who decides (all optional; without them any reviewer decides, once): the named
    ``reviewers`` and the members of ``groups``, ``required_approvals`` distinct ones
    (n-of-m), or an ordered chain of ``steps`` (each ``{"reviewers"?, "groups"?,
    "requiredApprovals"?}``; it replaces the three). ``requested_by`` (a reviewer's name
    or email) can never approve it. Reviewers pick of ``options`` (several with
    ``multiple``) and of ``reason_codes``; their edits of the details must keep
    ``details_schema``, a JSON Schema or a pydantic model class. Unknown reviewer or group
    names raise ``InvalidRequest`` (422) here, not when someone tries to decide.
    """
    source = {
        "system": "prefect",
        "pipeline": flow_run.flow_name,
        "run": flow_run.id,
        "task": task_run.name,
        "url": flow_run.ui_url,
    }
    async with credentials.get_async_client() as client:
        created = await client.create(
            action,
            summary,
            details,
            risk_level=risk_level,
            justification=justification,
            source={k: v for k, v in source.items() if v},
            expires_in=expires_in_seconds,
            callback_url=callback_url,
            idempotency_key=idempotency_key or default_idempotency_key(),
            reviewers=reviewers,
            groups=groups,
            required_approvals=required_approvals,
            steps=steps,
            requested_by=requested_by,
            options=options,
            multiple=multiple,
            reason_codes=reason_codes,
            details_schema=json_schema_of(details_schema),
        )
        approval = await client.get(created.id)
    get_run_logger().info("approval %s waits for a reviewer: %s", created.id, approval.review_url)
    return {"approval_id": created.id, "review_url": approval.review_url}


@task(name="wait-for-decision")
async def wait_for_decision(
    credentials: SignoffCredentials,
    approval_id: str,
    max_wait_seconds: float = 3600,
    poll_frequency_seconds: float = 10,
) -> ApprovalOutcome:
    """Wait in-process for the decision. Approved: the :class:`ApprovalOutcome` (the
    core's decision summary with the effective details, plus ``chosen_options``,
    ``reason_code`` and ``approved_by``). Raises ``ApprovalRejected``,
    ``ApprovalExpired``, ``ApprovalCancelled`` or ``DecisionTimeout`` (one class per
    outcome).

    On an n-of-m approval or a chain, an approve that leaves it short of its quorum does
    not end the wait: it returns once the last step is satisfied (or anyone rejects).
    """
    async with credentials.get_async_client() as client:
        approval = await client.wait_for_decision(
            approval_id, timeout=max_wait_seconds, poll_interval=poll_frequency_seconds
        )
    get_run_logger().info(
        "approval %s: %s by %s", approval.id, approval.status.value, approval.decided_by
    )
    return approval_outcome(require_approved(approval))


@flow(name="request-approval-and-wait-for-decision")
async def request_approval_and_wait_for_decision(
    credentials: SignoffCredentials,
    action: str,
    summary: str,
    details: dict[str, Any] | None = None,
    risk_level: str | None = None,
    justification: str | None = None,
    max_wait_seconds: float = 3600,
    poll_frequency_seconds: float = 10,
    reviewers: list[str] | None = None,
    groups: list[str] | None = None,
    required_approvals: int | None = None,
    steps: list[StepSpec | dict[str, Any]] | None = None,
    requested_by: str | None = None,
    options: list[str] | None = None,
    multiple: bool | None = None,
    reason_codes: list[str] | None = None,
    details_schema: DetailsSchema | None = None,
) -> ApprovalOutcome:
    """Ask, then wait (like prefect-dbt's ``trigger_dbt_cloud_job_run_and_wait_for_completion``).

    The approval expires when ``max_wait_seconds`` runs out, so nobody can approve after
    the flow stopped waiting. Who decides and what they pick: as :func:`request_approval`.
    """
    created = await request_approval(
        credentials,
        action,
        summary,
        details,
        risk_level=risk_level,
        justification=justification,
        expires_in_seconds=max_wait_seconds,
        reviewers=reviewers,
        groups=groups,
        required_approvals=required_approvals,
        steps=steps,
        requested_by=requested_by,
        options=options,
        multiple=multiple,
        reason_codes=reason_codes,
        details_schema=details_schema,
    )
    return await wait_for_decision(
        credentials,
        str(created["approval_id"]),
        max_wait_seconds=max_wait_seconds + 5,
        poll_frequency_seconds=poll_frequency_seconds,
    )
