"""Callbacks: signed, retried, logged, and delivered even across a kill -9."""

from __future__ import annotations

import json

import pytest

from signoff.client import ApprovalsClient
from signoff.server.process import free_port
from signoff.signing import SIGNATURE_HEADER, SignatureError, verify
from tests.conftest import API_KEY, REVIEWER, REVIEWER_TOKEN, SIGNING_SECRET, StartService
from tests.receiver import receiver


def clients(url: str) -> ApprovalsClient:
    return ApprovalsClient(url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN)


def test_callback_is_signed_and_complete(any_db_service) -> None:  # type: ignore[no-untyped-def]
    with receiver() as hook, clients(any_db_service.url) as client:
        created = client.create("refund", "Refund", {"amount": 120}, callback_url=hook.url)
        client.approve(created.id, modified_details={"amount": 100}, note="partial")
        (delivery,) = hook.wait_for(1)
    verify(delivery.body, delivery.headers[SIGNATURE_HEADER.lower()], SIGNING_SECRET)
    with pytest.raises(SignatureError):
        verify(delivery.body + b" ", delivery.headers[SIGNATURE_HEADER.lower()], SIGNING_SECRET)
    assert delivery.headers["user-agent"] == "Cheqpoint-Callback/1.0"
    assert delivery.headers["content-type"] == "application/json"
    body = json.loads(delivery.body)
    assert body == {
        "approvalId": created.id,
        "status": "approved",
        "modifiedDetails": {"amount": 100},
        "decisionNote": "partial",
        "details": {"amount": 120},
        "decisionReasonCode": "REVIEWER",
        "decidedBy": REVIEWER,
        "decidedAt": body["decidedAt"],
    }
    assert delivery.headers["x-signoff-delivery"].startswith("dlv_")


def test_failed_callback_is_retried_and_every_attempt_logged(service) -> None:  # type: ignore[no-untyped-def]
    with receiver(answers=[500, 503]) as hook, clients(service.url) as client:
        created = client.create("a", "s", callback_url=hook.url)
        client.reject(created.id, note="no")
        received = hook.wait_for(3)
        assert len(received) == 3
        assert len({r.headers["x-signoff-delivery"] for r in received}) == 1  # same id each time
        assert [r.headers["x-signoff-attempt"] for r in received] == ["1", "2", "3"]
        for _ in range(100):
            (delivery,) = client.callbacks(created.id)
            if delivery.state == "delivered":
                break
    assert delivery.state == "delivered"
    assert [a.status_code for a in delivery.attempts] == [500, 503, 200]
    assert delivery.attempts[0].error == "receiver answered 500"
    assert delivery.attempt_count == 3
    assert json.loads(received[0].body)["status"] == "rejected"


def test_expiry_fires_the_callback(service) -> None:  # type: ignore[no-untyped-def]
    with receiver() as hook, clients(service.url) as client:
        created = client.create("a", "s", callback_url=hook.url, expires_in=1)
        (delivery,) = hook.wait_for(1)
    body = json.loads(delivery.body)
    assert body["approvalId"] == created.id
    assert body["status"] == "rejected"
    assert body["decisionReasonCode"] == "EXPIRED"


def test_pending_callback_is_delivered_after_kill_9(
    start_service: StartService, database_url: str | None
) -> None:
    port = free_port()  # nobody listens here yet: the first attempts fail
    first = start_service(database_url)
    with clients(first.url) as client:
        created = client.create("a", "s", callback_url=f"http://127.0.0.1:{port}/hook")
        client.approve(created.id, note="before the crash")
        for _ in range(200):
            (pending,) = client.callbacks(created.id)
            if pending.attempt_count >= 1:
                break
    assert pending.state == "pending" and pending.attempts[0].status_code is None
    first.kill()

    with receiver(port=port) as hook:
        second = start_service(database_url)
        (delivery,) = hook.wait_for(1)
        with clients(second.url) as client:
            for _ in range(100):
                (logged,) = client.callbacks(created.id)
                if logged.state == "delivered":
                    break
    assert json.loads(delivery.body)["decisionNote"] == "before the crash"
    assert logged.state == "delivered"
    assert logged.attempts[-1].status_code == 200


def test_callback_to_a_private_address_is_refused_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from signoff.server.process import ServiceProcess

    with (
        receiver() as hook,
        ServiceProcess(
            database_url=f"sqlite:///{tmp_path / 'guard.db'}",
            api_keys=[API_KEY],
            reviewer_tokens=[REVIEWER_TOKEN],
            log_path=tmp_path / "serve.log",
        ) as service,
        clients(service.url) as client,
    ):
        created = client.create("a", "s", callback_url=hook.url)
        client.approve(created.id)
        for _ in range(200):
            (delivery,) = client.callbacks(created.id)
            if delivery.state != "pending":
                break
        assert hook.received == []
    assert delivery.state == "failed"
    assert delivery.attempts[0].error is not None
    assert (
        "127.0.0.1" in delivery.attempts[0].error
        and "--outbound-allow" in delivery.attempts[0].error
    )
