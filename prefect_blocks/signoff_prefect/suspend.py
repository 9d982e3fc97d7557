"""Wait for a decision while suspended: the flow run gives back its infrastructure.

How the decision reaches Prefect: the approval is created with a ``callbackUrl`` that
points at the resume receiver (``python -m signoff_prefect.receiver``) and names the
flow run. When the reviewer decides (or the approval expires), ``signoff serve`` posts
the signed callback from its durable outbox, retrying until it is taken; the receiver
verifies the signature and calls Prefect's ``resume_flow_run`` with the decision as
typed run input (:class:`ApprovalDecision`). Prefect reschedules the run, the deployment
re-executes it from the top, and ``request_approval`` (same idempotency key) and the
suspend call (same pause key) both find what they made before, so the flow continues
where it stopped. Nothing polls while the run is suspended.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from prefect.flow_runs import asuspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run

from prefect import get_run_logger
from signoff.client import require_approved
from signoff.models import CallbackPayload, StepSpec
from signoff_prefect.approvals import (
    ApprovalOutcome,
    DetailsSchema,
    approval_outcome,
    request_approval,
)
from signoff_prefect.credentials import SignoffCredentials

RESUME_GRACE_SECONDS = 3600
"""How long past the approval's expiry a suspended run still accepts its resume: the
expiry's own callback may need retries to get through."""


class ApprovalDecision(RunInput):
    """The decision, as the run input that resumes a suspended flow run."""

    approval_id: str
    status: str
    details: dict[str, Any]
    modified_details: dict[str, Any] | None = None
    decision_note: str | None = None
    decision_reason_code: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    chosen_options: list[str] | None = None
    reason_code: str | None = None
    """The reviewer's reason code (``decision_reason_code`` says why it was decided:
    ``REVIEWER``, ``EXPIRED``, ``CANCELLED``)."""

    @classmethod
    def from_callback(cls, payload: CallbackPayload) -> ApprovalDecision:
        return cls(
            approval_id=payload.approval_id,
            status=payload.status,
            details=payload.details,
            modified_details=payload.modified_details,
            decision_note=payload.decision_note,
            decision_reason_code=(
                payload.decision_reason_code.value if payload.decision_reason_code else None
            ),
            decided_by=payload.decided_by,
            decided_at=payload.decided_at.isoformat() if payload.decided_at else None,
            chosen_options=payload.chosen_options,
            reason_code=payload.reason_code,
        )

    @property
    def effective_details(self) -> dict[str, Any]:
        return self.modified_details if self.modified_details is not None else self.details


def pause_key(approval_id: str) -> str:
    """The suspend key of a wait; the receiver derives the same to recognise replays.

    Prefect keys run inputs by it and allows only letters, digits and dashes.
    """
    return "signoff-" + re.sub(r"[^A-Za-z0-9-]", "-", approval_id)


def callback_url_for(receiver_url: str, flow_run_id: str) -> str:
    return f"{receiver_url.rstrip('/')}/flow-runs/{flow_run_id}"


async def request_approval_and_suspend(
    credentials: SignoffCredentials,
    receiver_url: str,
    action: str,
    summary: str,
    details: dict[str, Any] | None = None,
    *,
    risk_level: str | None = None,
    justification: str | None = None,
    max_wait_seconds: float = 86400,
    reviewers: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    required_approvals: int | None = None,
    steps: Sequence[StepSpec | dict[str, Any]] | None = None,
    requested_by: str | None = None,
    options: Sequence[str] | None = None,
    multiple: bool | None = None,
    reason_codes: Sequence[str] | None = None,
    details_schema: DetailsSchema | None = None,
) -> ApprovalOutcome:
    """Ask for sign-off, then suspend this (deployed) flow run until the decision.

    Call it in the body of a flow that runs from a deployment (Prefect suspends only
    those). Returns the same decision as ``wait_for_decision`` and raises the same
    exceptions; ``max_wait_seconds`` is the approval's lifetime, after which it expires
    and the expiry resumes the run with ``ApprovalExpired``. Who decides and what they
    pick: as ``request_approval``. The run stays suspended through approvals short of
    the quorum: the service calls back once, on the final outcome.
    """
    run_id = flow_run.id
    if not run_id:
        raise RuntimeError("request_approval_and_suspend must be called inside a flow run")
    created = await request_approval(
        credentials,
        action,
        summary,
        details,
        risk_level=risk_level,
        justification=justification,
        expires_in_seconds=max_wait_seconds,
        callback_url=callback_url_for(receiver_url, run_id),
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
    approval_id = str(created["approval_id"])
    async with credentials.get_async_client() as client:
        approval = await client.get(approval_id)
        if not approval.is_decided:  # decided already (e.g. a rerun): no need to suspend
            resumed = await asuspend_flow_run(
                wait_for_input=ApprovalDecision,
                key=pause_key(approval_id),
                timeout=int(max_wait_seconds + RESUME_GRACE_SECONDS),
            )
            if resumed.approval_id != approval_id:
                raise RuntimeError(
                    f"resumed with a decision on {resumed.approval_id}, not {approval_id}"
                )
            # The run input woke us; the service's own record is what we act on, so a
            # resume from anyone but the service cannot approve anything.
            approval = await client.get(approval_id)
    get_run_logger().info(
        "approval %s: %s by %s", approval.id, approval.status.value, approval.decided_by
    )
    return approval_outcome(require_approved(approval))
