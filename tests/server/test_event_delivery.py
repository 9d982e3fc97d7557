"""Events reach the right subscribers: matched, signed, retried, replayed, never lost."""

from __future__ import annotations

import json

import httpx

from signoff.client import ApprovalsClient, WebhooksClient, WorkflowsClient
from signoff.server.process import ServiceProcess, free_port
from signoff.signing import verify_cko_signature
from tests.conftest import (
    API_KEY,
    CKO_PREVIOUS_KEY,
    CKO_SECRET_KEY,
    REVIEWER_TOKEN,
    StartService,
)
from tests.receiver import receiver


def workflows(service: ServiceProcess) -> WorkflowsClient:
    return WorkflowsClient(service.url, secret_key=CKO_SECRET_KEY)


def webhooks(service: ServiceProcess) -> WebhooksClient:
    return WebhooksClient(service.url, secret_key=CKO_PREVIOUS_KEY)


def wait_until(check, tries: int = 300):  # type: ignore[no-untyped-def]
    import time

    for _ in range(tries):
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return check()


def test_workflow_fires_only_when_every_condition_holds(service: ServiceProcess) -> None:
    with receiver() as hook, workflows(service) as client:
        client.create(
            {
                "name": "only ent_a on pc_1",
                "conditions": [
                    {"type": "event", "events": {"gateway": ["payment_captured"]}},
                    {"type": "entity", "entities": ["ent_a"]},
                    {"type": "processing_channel", "processing_channels": ["pc_1"]},
                ],
                "actions": [
                    {
                        "type": "webhook",
                        "url": hook.url,
                        "signature": {"method": "HMACSHA256", "key": "k"},
                    }
                ],
            }
        )
        match = client.publish_event(
            {
                "type": "payment_captured",
                "data": {"id": "pay_1"},
                "entity_id": "ent_a",
                "processing_channel_id": "pc_1",
            }
        )
        assert match.deliveries == 1
        for other in (
            {"type": "payment_captured", "entity_id": "ent_b", "processing_channel_id": "pc_1"},
            {"type": "payment_captured", "entity_id": "ent_a", "processing_channel_id": "pc_2"},
            {"type": "payment_approved", "entity_id": "ent_a", "processing_channel_id": "pc_1"},
        ):
            assert client.publish_event(other).deliveries == 0
        (delivery,) = hook.wait_for(1)
        event = json.loads(delivery.body)
        assert event["id"] == match.id and event["data"] == {"id": "pay_1"}
        verify_cko_signature(delivery.body, delivery.headers["cko-signature"], "k")


def test_approval_decisions_are_events_teams_can_subscribe_to(service: ServiceProcess) -> None:
    with receiver() as hook, webhooks(service) as hooks:
        hooks.create({"url": hook.url, "event_types": ["approval_requested", "approval_approved"]})
        with ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as client:
            created = client.create("refund", "Refund", {"amount": 5})
            client.approve(created.id, modified_details={"amount": 4})
        received = hook.wait_for(2)
    events = {json.loads(r.body)["type"]: json.loads(r.body) for r in received}
    assert set(events) == {"approval_requested", "approval_approved"}
    assert events["approval_requested"]["data"]["id"] == created.id
    assert events["approval_approved"]["data"]["modifiedDetails"] == {"amount": 4}
    assert events["approval_approved"]["data"]["status"] == "APPROVED"


def test_failing_receiver_is_retried_honouring_retry_after(service: ServiceProcess) -> None:
    answers = [(500, {}, b"boom"), (429, {"Retry-After": "0"}, b"slow down")]
    with receiver(answers=answers) as hook, workflows(service) as client:  # type: ignore[arg-type]
        client.create({"name": "retry", "actions": [{"type": "webhook", "url": hook.url}]})
        published = client.publish_event({"type": "payment_refunded", "data": {"id": "pay_r"}})
        received = hook.wait_for(3)
        assert len({json.loads(r.body)["id"] for r in received}) == 1  # one event, three tries
        (delivery,) = wait_until(
            lambda: [d for d in client.event_deliveries(published.id) if d.state == "delivered"]
        )
    assert [a.status_code for a in delivery.attempts] == [500, 429, 200]
    assert delivery.attempts[0].response_excerpt == "boom"
    assert delivery.attempts[1].response_excerpt == "slow down"
    assert delivery.attempts[0].error == "receiver answered 500"


def test_reflow_and_replay_resend_the_same_event(service: ServiceProcess) -> None:
    with receiver() as hook, workflows(service) as client:
        workflow = client.create(
            {"name": "reflow", "actions": [{"type": "webhook", "url": hook.url}]}
        )
        published = client.publish_event(
            {"type": "dispute_lost", "subject_id": "dsp_9", "data": {"id": "dsp_9"}}
        )
        hook.wait_for(1)
        client.reflow_event(published.id)
        hook.wait_for(2)
        client.reflow_subject("dsp_9", workflow.id)
        hook.wait_for(3)
        client.reflow(events=[published.id], workflows=[workflow.id])
        hook.wait_for(4)
        first = [d for d in client.event_deliveries(published.id) if d.url == hook.url][-1]
        client.replay(first.id)
        received = hook.wait_for(5)
        assert {json.loads(r.body)["id"] for r in received} == {published.id}
        assert len(received) == 5

        details = client.get_event(published.id)
        assert details.type == "dispute_lost" and details.data == {"id": "dsp_9"}
        (summary,) = [a for a in details.action_invocations if a.workflow_id == workflow.id]
        assert summary.status == "successful"
        invocations = client.action_invocations(published.id, summary.workflow_action_id)
        assert invocations.workflow_id == workflow.id
        assert all(i.succeeded for i in invocations.action_invocations)
        subject = client.subject_events("dsp_9")
        assert [e.id for e in subject.data] == [published.id]


def test_endpoint_that_keeps_failing_is_flagged_then_deactivated(
    start_service: StartService,
) -> None:
    service = start_service(None, "--endpoint-flag-after", "3", "--endpoint-deactivate-after", "0")
    with receiver(answers=[500] * 50) as hook, webhooks(service) as client:
        webhook = client.create({"url": hook.url, "event_types": ["payment_voided"]})
        with workflows(service) as flows:
            flows.publish_event({"type": "payment_voided"})
        hook.wait_for(3)
        deactivated = wait_until(lambda: client.get(webhook.id).health.status == "deactivated")  # type: ignore[union-attr]
        assert deactivated
        found = client.get(webhook.id)
    assert found.active is False
    assert found.health is not None and found.health.consecutive_failures >= 3
    assert found.health.last_error == "receiver answered 500"


def test_every_event_is_delivered_after_kill_9(
    start_service: StartService, database_url: str | None
) -> None:
    port = free_port()  # the receiver is down at first
    first = start_service(database_url)
    with workflows(first) as client:
        client.create(
            {
                "name": "durable",
                "actions": [{"type": "webhook", "url": f"http://127.0.0.1:{port}/hook"}],
            }
        )
        published = {
            client.publish_event({"type": "payment_paid", "data": {"n": n}}).id for n in range(20)
        }
    first.kill()
    with receiver(port=port) as hook:
        start_service(database_url)
        hook.wait_for(20, timeout=60)
        received = {json.loads(r.body)["id"] for r in hook.received}
    assert received == published  # each at least once; duplicates would share an id


def test_private_addresses_are_refused_without_the_allow_list(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with (
        receiver() as hook,
        ServiceProcess(
            database_url=f"sqlite:///{tmp_path / 'ssrf.db'}",
            api_keys=[CKO_SECRET_KEY],
            reviewer_tokens=[REVIEWER_TOKEN],
        ) as service,
        workflows(service) as client,
    ):
        client.create({"name": "ssrf", "actions": [{"type": "webhook", "url": hook.url}]})
        published = client.publish_event({"type": "payment_paid"})
        (delivery,) = wait_until(
            lambda: [d for d in client.event_deliveries(published.id) if d.state == "failed"]
        )
        assert hook.received == []
    assert "private or reserved address" in (delivery.attempts[0].error or "")


def test_publish_refuses_unknown_types(service: ServiceProcess) -> None:
    response = httpx.post(
        f"{service.url}/events",
        json={"type": "payment_teleported"},
        headers={"Authorization": f"Bearer {CKO_SECRET_KEY}"},
    )
    assert response.status_code == 422
    assert response.json()["error_codes"] == ["event_type_invalid"]
