"""What a decided approval hands the pipeline that asked for it: the decision summary.

An Airflow task returns it as its XCom, a Prefect task returns it to its flow. It is
written once, here, so that downstream code reads the same keys with the same meaning
whichever engine ran the wait; the engines differ only in what they *do* with a
rejection or an expiry (their policies stay in the adapters).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from signoff.models import Approval, ApprovalStatus

DefaultDecision = Literal["approve", "reject"]
"""A decision the pipeline takes by itself when nobody decided in time."""

EXPIRED = "EXPIRED"
"""The summary's ``status`` when nobody decided in time and a default decision was taken."""


class DecisionSummary(TypedDict):
    """What was decided, by whom, and the details to act on (JSON-storable)."""

    approval_id: str
    status: str
    """The approval's status on the wire: ``APPROVED``, ``REJECTED`` or ``PENDING``; or
    ``EXPIRED`` where nobody decided in time and the pipeline took ``default_decision``."""
    approved: bool
    """Approved by a reviewer, or by default (``default_decision == "approve"``)."""
    reason: str | None
    """Why it was decided other than by a reviewer: ``EXPIRED``, ``CANCELLED``...; for a
    default decision, what happened: ``expired, approved by on_expiry`` (or ``rejected``)."""
    default_decision: DefaultDecision | None
    details: dict[str, Any]
    """The details to act on: the reviewer's edit if there is one."""
    modified: bool
    note: str | None
    decided_by: str | None
    decided_at: str | None
    review_url: str | None
    chosen_options: list[str] | None
    """The options the reviewers picked (``None``: the approval offered none, or nobody
    picked, e.g. it was rejected or approved by default on expiry)."""
    reason_code: str | None
    """The reason code the deciding reviewer picked, if any."""
    approved_by: list[str]
    """Every reviewer whose approval counted, in order (an n-of-m approval or a chain has
    several; ``decided_by`` is the last of them); empty unless approved by reviewers."""
    requested_by: str | None
    """On whose behalf the pipeline asked (never one of the approvers)."""


def decision_summary(
    approval: Approval, *, default: DefaultDecision | None = None
) -> DecisionSummary:
    """The summary of ``approval``; ``default`` is the decision taken for it, if any
    (nobody decided in time: the status says ``EXPIRED``, the reason who decided)."""
    status = approval.status.value
    reason = approval.decision_reason_code.value if approval.decision_reason_code else None
    if default is not None:
        status = EXPIRED
        reason = f"expired, {'approved' if default == 'approve' else 'rejected'} by on_expiry"
    approved_by: list[str] = []
    if approval.status is ApprovalStatus.APPROVED:
        for item in approval.approvals:
            if item.counted and item.reviewer not in approved_by:
                approved_by.append(item.reviewer)
    return {
        "approval_id": approval.id,
        "status": status,
        "approved": approval.status is ApprovalStatus.APPROVED or default == "approve",
        "reason": reason,
        "default_decision": default,
        "details": approval.effective_details,
        "modified": approval.modified_details is not None,
        "note": approval.decision_note,
        "decided_by": approval.decided_by,
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "review_url": approval.review_url,
        "chosen_options": list(approval.chosen_options) if approval.chosen_options else None,
        "reason_code": approval.reason_code,
        "approved_by": approved_by,
        "requested_by": approval.requested_by,
    }
