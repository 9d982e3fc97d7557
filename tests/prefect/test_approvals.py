"""Approvals in real Prefect flows against the real embedded service."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from prefect import flow, task
from signoff.client import ApprovalsClient
from signoff.models import ApprovalStatus
from signoff.server.process import ServiceProcess
from signoff_prefect import (
    ApprovalExpired,
    ApprovalRejected,
    DecisionTimeout,
    SignoffCredentials,
    SignoffWebhooksCredentials,
    apply_subscriptions,
    request_approval,
    request_approval_and_wait_for_decision,
    wait_for_decision,
)
from tests.conftest import API_KEY, CKO_SECRET_KEY, REVIEWER, REVIEWER_TOKEN


@pytest.fixture
def credentials(service: ServiceProcess) -> SignoffCredentials:
    return SignoffCredentials(base_url=service.url, api_key=API_KEY)


def reviewer(service: ServiceProcess, action: str, **decision: object) -> threading.Thread:
    """Decides the first pending approval of ``action`` as soon as it shows up."""

    def review() -> None:
        with ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as c:
            for _ in range(1200):
                pending = [a for a in c.list(ApprovalStatus.PENDING).data if a.action == action]
                if pending:
                    if decision.get("reject"):
                        c.reject(pending[0].id, note=str(decision.get("note")))
                    else:
                        c.approve(
                            pending[0].id,
                            modified_details=decision.get("edit"),  # type: ignore[arg-type]
                            note=decision.get("note"),  # type: ignore[arg-type]
                        )
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=review, daemon=True)
    thread.start()
    return thread


def test_approved_with_an_edit_returns_the_edited_details(
    service: ServiceProcess, credentials: SignoffCredentials
) -> None:
    decider = reviewer(service, "prefect_refund", edit={"amount": 90}, note="cap it")
    result = asyncio.run(
        request_approval_and_wait_for_decision(
            credentials,
            "prefect_refund",
            "Refund",
            {"amount": 120},
            risk_level="high",
            max_wait_seconds=120,
        )
    )
    decider.join()
    assert result["approved"] is True and result["modified"] is True
    assert result["details"] == {"amount": 90}
    assert result["note"] == "cap it" and result["decided_by"] == REVIEWER
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        approval = client.get(result["approval_id"])
    assert approval.source is not None and approval.source.system == "prefect"
    assert approval.source.pipeline == "request-approval-and-wait-for-decision"


def test_rejection_raises(service: ServiceProcess, credentials: SignoffCredentials) -> None:
    decider = reviewer(service, "prefect_drop", reject=True, note="not today")
    with pytest.raises(ApprovalRejected) as caught:
        asyncio.run(
            request_approval_and_wait_for_decision(
                credentials, "prefect_drop", "Drop a table", max_wait_seconds=120
            )
        )
    decider.join()
    assert caught.value.approval.decision_note == "not today"
    assert not isinstance(caught.value, ApprovalExpired)


def test_expiry_raises_its_own_exception(credentials: SignoffCredentials) -> None:
    with pytest.raises(ApprovalExpired):
        asyncio.run(
            request_approval_and_wait_for_decision(
                credentials, "prefect_expire", "Nobody answers", max_wait_seconds=1
            )
        )


def test_waiting_longer_than_allowed_times_out(credentials: SignoffCredentials) -> None:
    @flow
    async def impatient() -> None:
        created = await request_approval(
            credentials, "prefect_wait", "Wait", expires_in_seconds=600
        )
        await wait_for_decision(credentials, str(created["approval_id"]), max_wait_seconds=0.5)

    with pytest.raises(DecisionTimeout):
        asyncio.run(impatient())


def test_a_task_retry_never_creates_a_second_approval(
    service: ServiceProcess, credentials: SignoffCredentials
) -> None:
    seen: list[str] = []

    @task(retries=1, retry_delay_seconds=0)
    async def ask_then_crash_once() -> str:
        created = await request_approval.fn(credentials, "prefect_retry", "Retry me")
        seen.append(str(created["approval_id"]))
        if len(seen) == 1:
            raise RuntimeError("worker crashed after asking")
        return str(created["approval_id"])

    @flow
    async def retrying() -> str:
        return await ask_then_crash_once()

    approval_id = asyncio.run(retrying())
    assert seen == [approval_id, approval_id]
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        mine = [a for a in client.list(limit=500).data if a.action == "prefect_retry"]
    assert [a.id for a in mine] == [approval_id]


def test_apply_subscriptions_task(service: ServiceProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_WEBHOOK_TOKEN", "ledger-token-value")
    monkeypatch.setenv("CKO_SIGNING_KEY", "signing-key-value")
    spec = str(Path(__file__).parents[2] / "example_dags" / "subscriptions.yaml")
    credentials = SignoffWebhooksCredentials(environment=service.url, secret_key=CKO_SECRET_KEY)

    @flow
    async def apply(mode: str) -> dict:
        return await apply_subscriptions(credentials, spec, mode=mode)  # type: ignore[arg-type]

    planned = asyncio.run(apply("plan"))
    assert planned["counts"]["create"] == 3 and "apply" not in planned
    applied = asyncio.run(apply("apply"))
    assert applied["apply"]["steps"] and all(
        s["status"] == "applied" for s in applied["apply"]["steps"]
    )
    again = asyncio.run(apply("apply"))
    assert again["counts"] == {"create": 0, "update": 0, "delete": 0, "noop": 3}
    assert "ledger-token-value" not in str(applied) and "signing-key-value" not in str(applied)
