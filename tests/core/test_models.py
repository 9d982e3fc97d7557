from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from signoff.models import Approval, ApprovalRequest, RiskLevel, format_utc


def test_camel_case_on_the_wire_snake_case_in_python() -> None:
    wire = {
        "id": "req_1",
        "status": "APPROVED",
        "action": "a",
        "summary": "s",
        "details": {"amount": 1},
        "riskLevel": "high",
        "modifiedDetails": {"amount": 2},
        "decisionReasonCode": "REVIEWER",
        "decidedAt": "2025-03-18T14:32:00.000Z",
        "createdAt": "2025-03-18T14:00:00.000Z",
        "autoDecided": False,
        "retryable": False,
        "someFutureField": 1,
    }
    approval = Approval.model_validate(wire)
    assert approval.modified_details == {"amount": 2}
    assert approval.effective_details == {"amount": 2}
    out = approval.to_wire()
    assert out["decidedAt"] == "2025-03-18T14:32:00.000Z"
    assert out["riskLevel"] == "high" and "modified_details" not in out
    assert Approval.model_validate(out) == approval


def test_request_accepts_sdk_aliases_and_hides_the_key() -> None:
    body = ApprovalRequest.model_validate(
        {
            "action": "a",
            "summary": "s",
            "webhookUrl": "https://x.test/h",
            "apiKey": "secret",
            "riskScore": 0.9,
        }
    )
    assert body.callback_url == "https://x.test/h"
    assert "secret" not in repr(body) and "apiKey" not in body.to_wire()
    assert body.effective_risk_level() is RiskLevel.HIGH
    assert (
        ApprovalRequest.model_validate(
            {"action": "a", "summary": "s", "callbackUrl": "http://y.test"}
        ).callback_url
        == "http://y.test"
    )


@pytest.mark.parametrize(
    ("score", "level"), [(0.2, "low"), (0.5, "medium"), (0.9, "high"), (1.0, "critical")]
)
def test_sdk_risk_scores_map_to_levels(score: float, level: str) -> None:
    assert RiskLevel.from_score(score).value == level


@pytest.mark.parametrize(
    "body",
    [
        {"summary": "s"},
        {"action": "", "summary": "s"},
        {"action": "a", "summary": "s", "riskScore": 1.5},
        {"action": "a", "summary": "s", "webhookUrl": "javascript:alert(1)"},
    ],
)
def test_invalid_requests_are_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        ApprovalRequest.model_validate(body)


def test_format_utc_matches_the_hosted_shape() -> None:
    moment = datetime(2025, 3, 18, 14, 32, 0, 123456, tzinfo=timezone.utc)
    assert format_utc(moment) == "2025-03-18T14:32:00.123Z"


def test_outcome_errors_survive_pickling() -> None:
    """Engines (Prefect) pickle a failed run's exception; it must come back whole."""
    import pickle

    from signoff.client import ApprovalExpired, Conflict, DecisionTimeout

    approval = Approval.model_validate(
        {
            "id": "req_1",
            "status": "REJECTED",
            "action": "a",
            "summary": "s",
            "details": {},
            "riskLevel": "low",
            "createdAt": "2025-03-18T14:00:00.000Z",
            "decisionReasonCode": "EXPIRED",
        }
    )
    expired = pickle.loads(pickle.dumps(ApprovalExpired(approval)))
    assert isinstance(expired, ApprovalExpired) and expired.approval == approval
    timeout = pickle.loads(pickle.dumps(DecisionTimeout("req_1", 5)))
    assert (timeout.approval_id, timeout.timeout) == ("req_1", 5)
    conflict = pickle.loads(pickle.dumps(Conflict(409, "already decided")))
    assert (conflict.status_code, conflict.error) == (409, "already decided")
