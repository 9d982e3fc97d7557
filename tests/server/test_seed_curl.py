"""Seed 000's own curl examples, run with real curl against ``signoff serve``."""

from __future__ import annotations

import json
import subprocess
import threading

from signoff.client import ApprovalsClient
from signoff.server.process import ServiceProcess
from tests.conftest import API_KEY, REVIEWER_TOKEN
from tests.receiver import receiver


def curl(*args: str) -> dict:
    out = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *args], check=True, capture_output=True
    )
    return json.loads(out.stdout)


def curl_post(url: str, body: dict) -> dict:
    """The seed's POST: JSON body, key in ``x-api-key``."""
    return curl(
        "-X", "POST", url, "-H", "Content-Type: application/json",
        "-H", f"x-api-key: {API_KEY}", "-d", json.dumps(body),
    )  # fmt: skip


SUBMIT = {
    "action": "process_refund",
    "summary": "Refund $120.00 for order #8842",
    "details": {"orderId": "8842", "amount": 120.00, "currency": "USD"},
    "riskLevel": "high",
}


def test_submit_then_poll_until_decided(service: ServiceProcess) -> None:
    created = curl_post(f"{service.url}/api/approvals/request", SUBMIT)
    assert created["status"] == "PENDING" and created["id"].startswith("req_")
    assert set(created) == {"id", "status"}

    polled = curl(f"{service.url}/api/approvals/{created['id']}", "-H", f"x-api-key: {API_KEY}")
    assert polled["status"] == "PENDING"
    assert polled["riskLevel"] == "high" and polled["details"] == SUBMIT["details"]

    with ApprovalsClient(service.url, reviewer_token=REVIEWER_TOKEN) as reviewer:
        reviewer.approve(created["id"], note="Looks good")
    decided = curl(f"{service.url}/api/approvals/{created['id']}", "-H", f"x-api-key: {API_KEY}")
    assert decided["status"] == "APPROVED"
    assert decided["modifiedDetails"] is None
    assert decided["decisionNote"] == "Looks good"
    assert decided["decidedAt"].endswith("Z") and len(decided["decidedAt"]) == 24


def test_short_wait_returns_pending_then_decision_inline(service: ServiceProcess) -> None:
    body = {k: v for k, v in SUBMIT.items() if k != "riskLevel"} | {"maxWaitMs": 300}
    body["action"] = "refund_inline"
    pending = curl_post(f"{service.url}/api/webhooks/inbound", body)
    assert pending["status"] == "pending"
    assert pending["approvalId"].startswith("req_")
    assert pending["reviewUrl"].endswith(pending["approvalId"])

    # Decided while the request is held: the answer carries the decision inline.
    body["maxWaitMs"] = 10000
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(curl_post(f"{service.url}/api/webhooks/inbound", body))
    )
    thread.start()
    with ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as client:
        pending_ids: list[str] = []
        while not pending_ids:
            pending_ids = [
                a.id
                for a in client.list().data
                if a.status.value == "PENDING"
                and a.action == "refund_inline"
                and a.id != pending["approvalId"]
            ]
        client.approve(pending_ids[0], modified_details={"orderId": "8842", "amount": 100})
    thread.join(30)
    assert result == {
        "status": "approved",
        "approvalId": pending_ids[0],
        "modifiedDetails": {"orderId": "8842", "amount": 100},
        "decisionNote": None,
        "reviewUrl": None,
    }


def test_fire_and_forget_with_callback_url(service: ServiceProcess) -> None:
    with receiver() as hook:
        body = {k: v for k, v in SUBMIT.items() if k != "riskLevel"} | {"callbackUrl": hook.url}
        answer = curl_post(f"{service.url}/api/webhooks/inbound", body)
        assert answer["status"] == "pending"
        with ApprovalsClient(service.url, reviewer_token=REVIEWER_TOKEN) as reviewer:
            reviewer.approve(answer["approvalId"], note="Approved.")
        (delivery,) = hook.wait_for(1)
    assert delivery.headers["user-agent"] == "Cheqpoint-Callback/1.0"
    payload = json.loads(delivery.body)
    assert payload["approvalId"] == answer["approvalId"]
    assert payload["status"] == "approved"
    assert payload["modifiedDetails"] is None
    assert payload["decisionNote"] == "Approved."
    assert payload["details"] == body["details"]
