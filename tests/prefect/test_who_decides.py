"""Who decides, from a real Prefect flow against the real embedded service: groups and
n-of-m, the requester who may not approve, options a flow branches on, a chain of steps,
and a pydantic model as the schema a reviewer's edit must keep."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

from prefect import flow, task
from signoff.client import (
    ApprovalsClient,
    Conflict,
    InvalidRequest,
    Unauthorized,
)
from signoff.models import Approval, ApprovalStatus
from signoff.server.process import ServiceProcess
from signoff_prefect import (
    ApprovalOutcome,
    SignoffCredentials,
    request_approval,
    request_approval_and_wait_for_decision,
    wait_for_decision,
)
from tests.conftest import ADMIN_KEY, API_KEY, REVIEWER_TOKEN


@pytest.fixture
def credentials(service: ServiceProcess) -> SignoffCredentials:
    return SignoffCredentials(base_url=service.url, api_key=API_KEY)


def add_reviewer(service: ServiceProcess, prefix: str, *groups: str) -> tuple[str, str]:
    """A new stored reviewer (admin API): their name and their token (shown once)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"  # the service is shared by the module
    answer = httpx.post(
        f"{service.url}/api/reviewers",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        json={"name": name, "email": f"{name}@example.com", "groups": list(groups)},
    )
    assert answer.status_code == 201, answer.text
    return name, answer.json()["token"]


def as_reviewer(service: ServiceProcess, token: str) -> ApprovalsClient:
    return ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=token)


def pending_of(service: ServiceProcess, action: str) -> Approval:
    """The pending approval of ``action`` as soon as the flow has asked for it."""
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        for _ in range(2400):
            mine = [a for a in client.list(ApprovalStatus.PENDING).data if a.action == action]
            if mine:
                return mine[0]
            time.sleep(0.05)
    raise AssertionError(f"no pending approval of {action}")


def in_thread(script: Callable[[], None]) -> Callable[[], None]:
    """Run the reviewers' ``script`` while the flow waits; the returned join re-raises
    what failed in it."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            script()
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> None:
        thread.join(60)
        assert not thread.is_alive(), "the reviewers never finished"
        if failures:
            raise failures[0]

    return join


def still_waiting(waited: threading.Event) -> None:
    """The flow has not come back: long-poll wakes it on every change, so a wrong return
    after the last change would have happened well within this second."""
    time.sleep(1.0)
    assert not waited.is_set(), "the flow stopped waiting before the quorum was reached"


def test_finance_two_of_m_refuses_the_requester_and_the_flow_branches_on_the_choice(
    service: ServiceProcess, credentials: SignoffCredentials
) -> None:
    requester, requester_token = add_reviewer(service, "eng", "finance")
    first, first_token = add_reviewer(service, "fin", "finance")
    second, second_token = add_reviewer(service, "fin", "finance")
    action = f"prefect_refund_batch_{uuid.uuid4().hex[:6]}"
    waited = threading.Event()
    seen: dict[str, Any] = {}

    @task
    def refund(refunds: list[dict[str, Any]], share: float) -> float:
        return sum(r["amount"] for r in refunds) * share

    @flow
    async def refund_batch() -> tuple[str, float, ApprovalOutcome]:
        refunds = [{"order": "8842", "amount": 120.0}, {"order": "8851", "amount": 80.0}]
        created = await request_approval(
            credentials,
            action,
            "Refund 2 orders, $200.00",
            {"refunds": refunds},
            groups=["finance"],
            required_approvals=2,
            requested_by=requester,
            options=["refund_all", "refund_half"],
            reason_codes=["goodwill", "defect"],
        )
        outcome = await wait_for_decision(
            credentials, str(created["approval_id"]), max_wait_seconds=120
        )
        waited.set()
        if outcome["chosen_options"] == ["refund_half"]:
            return "half", refund(outcome["details"]["refunds"], 0.5), outcome
        return "all", refund(outcome["details"]["refunds"], 1.0), outcome

    def reviewers() -> None:
        approval = pending_of(service, action)
        assert approval.requested_by == requester
        assert approval.groups == ["finance"] and approval.required_approvals == 2
        assert approval.options == ["refund_all", "refund_half"]
        with as_reviewer(service, requester_token) as client:
            with pytest.raises(Unauthorized) as refused:
                client.approve(approval.id, chosen_options=["refund_all"])
            seen["refusal"] = refused.value
            assert client.get(approval.id).approvals == []  # nothing changed
        still_waiting(waited)
        with as_reviewer(service, first_token) as client:
            after_first = client.approve(approval.id, chosen_options=["refund_half"], note="ok")
            assert after_first.status is ApprovalStatus.PENDING
            with pytest.raises(Conflict):  # the same reviewer cannot count twice
                client.approve(approval.id, chosen_options=["refund_half"])
        still_waiting(waited)
        with as_reviewer(service, second_token) as client:  # keeps the first one's choice
            seen["final"] = client.approve(approval.id, reason_code="defect")

    join = in_thread(reviewers)
    branch, refunded, outcome = asyncio.run(refund_batch())
    join()

    refusal = seen["refusal"]
    assert refusal.status_code == 403 and requester in refusal.error
    assert "requested" in refusal.error
    assert seen["final"].status is ApprovalStatus.APPROVED
    assert branch == "half" and refunded == 100.0
    assert outcome["approved"] is True and outcome["status"] == "APPROVED"
    assert outcome["chosen_options"] == ["refund_half"]
    assert outcome["reason_code"] == "defect"
    assert outcome["approved_by"] == [first, second] and outcome["decided_by"] == second
    assert outcome["requested_by"] == requester


def test_a_chain_of_steps_through_the_ready_made_flow(
    service: ServiceProcess, credentials: SignoffCredentials
) -> None:
    lead, lead_token = add_reviewer(service, "lead")
    treasurer, treasurer_token = add_reviewer(service, "treasury", "treasury")
    action = f"prefect_backfill_{uuid.uuid4().hex[:6]}"
    waited = threading.Event()

    def reviewers() -> None:
        approval = pending_of(service, action)
        with as_reviewer(service, treasurer_token) as client:  # step 2 is not open yet
            with pytest.raises(Unauthorized):
                client.approve(approval.id)
        with as_reviewer(service, lead_token) as client:
            assert client.approve(approval.id).current_step == 2
        still_waiting(waited)
        with as_reviewer(service, treasurer_token) as client:
            assert client.approve(approval.id).status is ApprovalStatus.APPROVED

    join = in_thread(reviewers)
    outcome = asyncio.run(
        request_approval_and_wait_for_decision(
            credentials,
            action,
            "Backfill 2024 into production",
            {"partitions": 366},
            max_wait_seconds=120,
            steps=[{"reviewers": [lead]}, {"groups": ["treasury"], "requiredApprovals": 1}],
        )
    )
    waited.set()
    join()
    assert outcome["approved_by"] == [lead, treasurer]
    assert outcome["chosen_options"] is None and outcome["reason_code"] is None
    assert outcome["details"] == {"partitions": 366}


class Refund(BaseModel):
    order: str
    amount: float = Field(gt=0)


class RefundBatch(BaseModel):
    refunds: list[Refund] = Field(min_length=1)


def test_a_pydantic_model_is_the_details_schema_and_an_edit_breaking_it_is_refused(
    service: ServiceProcess, credentials: SignoffCredentials
) -> None:
    action = f"prefect_schema_{uuid.uuid4().hex[:6]}"
    refused: list[InvalidRequest] = []

    def reviewer() -> None:
        approval = pending_of(service, action)
        assert approval.details_schema == RefundBatch.model_json_schema()
        with as_reviewer(service, REVIEWER_TOKEN) as client:
            for broken in (
                {"refunds": "oops", "extra": 1},
                {"refunds": [{"order": "8842", "amount": -5}]},
            ):
                with pytest.raises(InvalidRequest) as caught:
                    client.approve(approval.id, modified_details=broken)
                refused.append(caught.value)
            assert client.get(approval.id).status is ApprovalStatus.PENDING
            client.approve(
                approval.id, modified_details={"refunds": [{"order": "8842", "amount": 90}]}
            )

    join = in_thread(reviewer)
    outcome = asyncio.run(
        request_approval_and_wait_for_decision(
            credentials,
            action,
            "Refund one order",
            {"refunds": [{"order": "8842", "amount": 120.0}]},
            max_wait_seconds=120,
            details_schema=RefundBatch,
        )
    )
    join()
    assert [e.status_code for e in refused] == [422, 422]
    assert "modifiedDetails.refunds" in refused[0].error
    assert "modifiedDetails.refunds[0].amount" in refused[1].error
    assert outcome["modified"] is True
    assert RefundBatch.model_validate(outcome["details"]) == RefundBatch(
        refunds=[Refund(order="8842", amount=90)]
    )


def test_unknown_group_fails_the_request_at_once(credentials: SignoffCredentials) -> None:
    @flow
    async def misrouted() -> None:
        await request_approval(
            credentials, "prefect_misrouted", "Nobody is in it", groups=["no-such-group"]
        )

    with pytest.raises(InvalidRequest) as caught:
        asyncio.run(misrouted())
    assert caught.value.status_code == 422 and "no-such-group" in caught.value.error


def test_details_schema_must_be_a_schema_or_a_model(credentials: SignoffCredentials) -> None:
    @flow
    async def wrong_schema() -> None:
        await request_approval.fn(
            credentials,
            "prefect_wrong_schema",
            "Typed badly",
            details_schema=Refund(order="1", amount=1),  # type: ignore[arg-type]
        )

    with pytest.raises(TypeError, match="pydantic model class"):
        asyncio.run(wrong_schema())
