"""The decision summary: what an Airflow task and a Prefect task both hand downstream."""

from __future__ import annotations

import json
from typing import Any

import pytest

from signoff.models import Approval, ApprovalStatus
from signoff.outcome import decision_summary

DECIDED_AT = "2025-03-18T14:05:00.000Z"


def approval(status: str, **fields: Any) -> Approval:
    return Approval.model_validate(
        {
            "id": "req_1",
            "status": status,
            "action": "refund",
            "summary": "Refund order 8842",
            "details": {"amount": 120},
            "riskLevel": "low",
            "createdAt": "2025-03-18T14:00:00.000Z",
            **fields,
        }
    )


def test_an_approval_with_an_edit_reads_the_edit() -> None:
    decided = approval(
        "APPROVED",
        modifiedDetails={"amount": 90},
        decisionNote="partial",
        decidedBy="alice",
        decidedAt=DECIDED_AT,
        reviewUrl="http://127.0.0.1:8000/review/req_1",
    )
    assert decision_summary(decided) == {
        "approval_id": "req_1",
        "status": "APPROVED",
        "approved": True,
        "reason": None,
        "default_decision": None,
        "details": {"amount": 90},
        "modified": True,
        "note": "partial",
        "decided_by": "alice",
        "decided_at": decided.decided_at.isoformat() if decided.decided_at else None,
        "review_url": "http://127.0.0.1:8000/review/req_1",
        "chosen_options": None,
        "reason_code": None,
        "approved_by": [],
        "requested_by": None,
    }


def test_a_rejection_is_not_approved_and_keeps_the_details() -> None:
    summary = decision_summary(approval("REJECTED", decidedBy="bob", decidedAt=DECIDED_AT))
    assert summary["approved"] is False and summary["status"] == "REJECTED"
    assert summary["details"] == {"amount": 120} and summary["modified"] is False


@pytest.mark.parametrize(("default", "approved"), [("approve", True), ("reject", False)])
def test_an_expiry_with_a_default_decision(default: str, approved: bool) -> None:
    expired = approval("REJECTED", decisionReasonCode="EXPIRED", decidedAt=DECIDED_AT)
    summary = decision_summary(expired, default=default)  # type: ignore[arg-type]
    assert summary["approved"] is approved and summary["default_decision"] == default
    assert summary["status"] == "EXPIRED"
    verb = "approved" if approved else "rejected"
    assert summary["reason"] == f"expired, {verb} by on_expiry"


def test_approved_is_read_from_the_enum() -> None:
    """The status is compared as an enum, not as a string spelling of it."""
    decided = approval("APPROVED")
    assert decided.status is ApprovalStatus.APPROVED
    assert decision_summary(decided)["approved"] is True
    assert decision_summary(approval("PENDING"))["approved"] is False


def test_the_summary_is_json_storable() -> None:
    summary = decision_summary(approval("APPROVED", decidedAt=DECIDED_AT))
    assert json.loads(json.dumps(summary)) == summary


def test_who_approved_and_what_they_chose() -> None:
    """An n-of-m approval names every counted approver once, in order; a superseded
    approval (before an edit) is not one of them."""
    decided = approval(
        "APPROVED",
        chosenOptions=["store_credit"],
        reasonCode="verified",
        requestedBy="sam",
        approvals=[
            {"reviewer": "dana", "at": DECIDED_AT, "counted": False},
            {"reviewer": "erin", "at": DECIDED_AT},
            {"reviewer": "dana", "at": DECIDED_AT},
        ],
    )
    summary = decision_summary(decided)
    assert summary["approved_by"] == ["erin", "dana"]
    assert summary["chosen_options"] == ["store_credit"] and summary["reason_code"] == "verified"
    assert summary["requested_by"] == "sam"
    rejected = decision_summary(
        approval("REJECTED", approvals=[{"reviewer": "erin", "at": DECIDED_AT}])
    )
    assert rejected["approved_by"] == []  # approvals toward a rejected one approved nothing
