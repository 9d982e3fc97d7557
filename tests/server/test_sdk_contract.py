"""The official ``cheqpoint`` SDK, unchanged, against ``signoff serve``."""

from __future__ import annotations

import threading
import time

import pytest
from cheqpoint import CheqpointClient, CheqpointError, RejectedError

from signoff.client import ApprovalsClient
from signoff.models import ApprovalStatus
from signoff.server.process import ServiceProcess
from tests.conftest import API_KEY, REVIEWER, REVIEWER_TOKEN

DETAILS = {"customer_id": "cus_123", "amount": 2800}


def decide_when_pending(
    service: ServiceProcess, action: str, **decision: object
) -> threading.Thread:
    """A reviewer who decides the first pending approval of ``action`` as soon as it shows up."""

    def review() -> None:
        with ApprovalsClient(service.url, reviewer_token=REVIEWER_TOKEN) as reviewer:
            for _ in range(400):
                pending = [
                    a for a in reviewer.list(ApprovalStatus.PENDING).data if a.action == action
                ]
                if pending:
                    if decision.get("reject"):
                        reviewer.reject(pending[0].id, note=str(decision.get("note")))
                    else:
                        reviewer.approve(
                            pending[0].id,
                            modified_details=decision.get("modified_details"),  # type: ignore[arg-type]
                            note=decision.get("note"),  # type: ignore[arg-type]
                        )
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=review)
    thread.start()
    return thread


@pytest.fixture
def sdk(service: ServiceProcess) -> CheqpointClient:
    return CheqpointClient(api_key=API_KEY, base_url=service.url, timeout=60)


def test_checkpoint_approved(service: ServiceProcess, sdk: CheqpointClient) -> None:
    reviewer = decide_when_pending(service, "process_refund", note="ok")
    result = sdk.checkpoint(
        action="process_refund",
        summary="Refund $28",
        details=DETAILS,
        risk_score=0.9,
        poll_interval=0.2,
    )
    reviewer.join()
    assert result.status == "APPROVED"
    assert result.details == DETAILS
    assert result.modified_details is None
    assert result.effective_details == DETAILS
    assert result.response_notes == "ok"


def test_checkpoint_returns_modified_details(service: ServiceProcess, sdk: CheqpointClient) -> None:
    edited = {"customer_id": "cus_123", "amount": 2000}
    reviewer = decide_when_pending(service, "send_refund", modified_details=edited)
    result = sdk.checkpoint(
        action="send_refund", summary="Refund", details=DETAILS, poll_interval=0.2
    )
    reviewer.join()
    assert result.modified_details == edited
    assert result.effective_details == edited
    assert result.details == DETAILS


def test_guard_runs_with_edited_details(service: ServiceProcess, sdk: CheqpointClient) -> None:
    edited = {"customer_id": "cus_123", "amount": 1}
    reviewer = decide_when_pending(service, "guarded", modified_details=edited)
    seen = sdk.guard("guarded", DETAILS, lambda ctx: ctx.details, poll_interval=0.2)
    reviewer.join()
    assert seen == edited


def test_checkpoint_rejected_raises_with_note(
    service: ServiceProcess, sdk: CheqpointClient
) -> None:
    reviewer = decide_when_pending(service, "delete_table", reject=True, note="not on a Friday")
    with pytest.raises(RejectedError) as caught:
        sdk.checkpoint(action="delete_table", summary="Drop", details={}, poll_interval=0.2)
    reviewer.join()
    assert caught.value.response_notes == "not on a Friday"


def test_get_request_reads_every_field(service: ServiceProcess, sdk: CheqpointClient) -> None:
    created = sdk.create_request(
        action="deploy",
        summary="Deploy v2",
        details={"v": 2},
        risk_score=0.5,
        justification="tests pass",
        trace={"steps": []},
    )
    pending = sdk.get_request(created["id"])
    assert pending.status == "PENDING"
    assert pending.details == {"v": 2}
    assert pending.decided_at is None and pending.retryable is False
    assert pending.auto_decided is False and pending.auto_decision_rule_name is None

    with ApprovalsClient(service.url, reviewer_token=REVIEWER_TOKEN) as reviewer:
        reviewer.approve(created["id"], modified_details={"v": 3}, note="ship it")
    status = sdk.get_request(created["id"])
    assert status.id == created["id"]
    assert status.status == "APPROVED"
    assert status.details == {"v": 2}
    assert status.modified_details == {"v": 3}
    assert status.response_notes == "ship it"
    assert status.decision_note == "ship it"
    assert status.decision_reason_code == "REVIEWER"
    assert status.auto_decided is False
    assert status.auto_decision_rule_name is None
    assert status.decided_at is not None and status.decided_at.endswith("Z")
    assert status.retryable is False

    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        full = client.get(created["id"])
    assert full.decided_by == REVIEWER
    assert full.risk_level.value == "medium"


def test_request_sync_decided_inline(service: ServiceProcess, sdk: CheqpointClient) -> None:
    reviewer = decide_when_pending(service, "sync_action", note="fine")
    answer = sdk.request_sync(action="sync_action", summary="s", details={"a": 1}, timeout_ms=20000)
    reviewer.join()
    assert answer["status"] == "approved"
    assert answer["approvalId"].startswith("req_")


def test_request_sync_pending_when_nobody_decides(sdk: CheqpointClient) -> None:
    answer = sdk.request_sync(action="nobody", summary="s", details={}, timeout_ms=300)
    assert answer["status"] == "pending"
    assert answer["approvalId"].startswith("req_")


def test_request_async_and_error_text(sdk: CheqpointClient) -> None:
    answer = sdk.request_async(action="later", summary="s", details={})
    assert answer["status"] == "pending"
    with pytest.raises(CheqpointError) as caught:
        sdk.get_request("req_does_not_exist")
    assert caught.value.status_code == 404
    assert "req_does_not_exist" in str(caught.value)


def test_sdk_with_wrong_key_gets_401(service: ServiceProcess) -> None:
    with pytest.raises(CheqpointError) as caught:
        CheqpointClient(api_key="cq_live_wrong", base_url=service.url).create_request(
            action="a", summary="s", details={}
        )
    assert caught.value.status_code == 401
    assert "API key" in str(caught.value)
