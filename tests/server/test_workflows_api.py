"""Seed 001's workflows API against the real service, with the seed's own bodies."""

from __future__ import annotations

import json

import httpx
import pytest

from signoff.server.process import ServiceProcess
from signoff.signing import verify_cko_signature
from tests.conftest import CKO_SECRET_KEY
from tests.receiver import receiver

SIGNING_KEY = "8V8x0dLK%AyD*DNS8JJr"


def seed_workflow(url: str) -> dict:
    """The seed's "add a new workflow" body, pointed at ``url``."""
    return {
        "name": "Webhooks workflow",
        "active": True,
        "conditions": [
            {
                "type": "event",
                "events": {
                    "gateway": [
                        "payment_approved", "payment_declined", "card_verification_declined",
                        "card_verified", "payment_authorization_incremented",
                        "payment_authorization_increment_declined", "payment_capture_declined",
                        "payment_captured", "payment_refund_declined", "payment_refunded",
                        "payment_void_declined", "payment_voided",
                    ],
                    "dispute": [
                        "dispute_canceled", "dispute_evidence_required", "dispute_expired",
                        "dispute_lost", "dispute_resolved", "dispute_won",
                    ],
                },
            },
            {"type": "entity", "entities": ["ent_xyfdshfudosfdshfdiosfds", "ent_fidjosfjdisofdjsifdosfu"]},
            {"type": "processing_channel", "processing_channels": ["pc_axclravnqf5u5ejkweijnp5zc4"]},
        ],
        "actions": [
            {
                "type": "webhook",
                "url": url,
                "headers": {"Authorization": "<AUTHORIZATION_UUID>"},
                "signature": {"method": "HMACSHA256", "key": SIGNING_KEY},
            }
        ],
    }  # fmt: skip


class Api:
    def __init__(self, service: ServiceProcess) -> None:
        self.base = service.url
        self.headers = {"Authorization": f"Bearer {CKO_SECRET_KEY}"}

    def __call__(self, method: str, path: str, body: object = None) -> httpx.Response:
        return httpx.request(method, self.base + path, json=body, headers=self.headers, timeout=30)


@pytest.fixture
def api(service: ServiceProcess) -> Api:
    return Api(service)


def test_create_get_list_patch_delete(api: Api, service: ServiceProcess) -> None:
    created = api("POST", "/workflows", seed_workflow("https://example.com/webhooks"))
    assert created.status_code == 201
    workflow_id = created.json()["id"]
    assert workflow_id.startswith("wf_")
    assert created.json()["_links"]["self"]["href"] == f"{service.url}/workflows/{workflow_id}"

    workflow = api("GET", f"/workflows/{workflow_id}").json()
    assert workflow["name"] == "Webhooks workflow" and workflow["active"] is True
    assert [c["type"] for c in workflow["conditions"]] == ["event", "entity", "processing_channel"]
    assert all(c["id"].startswith("wfc_") for c in workflow["conditions"])
    (action,) = workflow["actions"]
    assert action["id"].startswith("wfa_")
    assert action["signature"] == {"method": "HMACSHA256", "key": SIGNING_KEY}
    assert action["headers"] == {"Authorization": "<AUTHORIZATION_UUID>"}

    listed = api("GET", "/workflows").json()["data"]
    assert {"id": workflow_id, "name": "Webhooks workflow", "active": True}.items() <= next(
        w for w in listed if w["id"] == workflow_id
    ).items()

    # The seed's PATCH body: the action names its workflow_action_id and keeps it.
    patch = {
        "name": "Webhooks workflow",
        "active": True,
        "conditions": [
            {"type": "event", "events": {"gateway": ["payment_approved", "payment_pending", "payment_declined"]}},
            {"type": "entity", "entities": ["ent_xyfdshfudosfdshfdiosfds", "ent_fidjosfjdisofdjsifdosfu"]},
            {"type": "processing_channel", "processing_channels": ["pc_axclravnqf5u5ejkweijnp5zc4"]},
        ],
        "actions": [
            {
                "workflow_action_id": action["id"],
                "type": "webhook",
                "url": "https://example.com/webhooks",
                "headers": {"Authorization": "<AUTHORIZATION_UUID>"},
                "signature": {"method": "HMACSHA256", "key": SIGNING_KEY},
            }
        ],
    }  # fmt: skip
    patched = api("PATCH", f"/workflows/{workflow_id}", patch)
    assert patched.status_code == 200
    body = patched.json()
    assert body["id"] == workflow_id and body["actions"][0]["id"] == action["id"]
    assert body["conditions"][0]["events"]["gateway"] == [
        "payment_approved",
        "payment_pending",
        "payment_declined",
    ]
    assert api("PATCH", f"/workflows/{workflow_id}", {"active": False}).json()["active"] is False

    assert api("DELETE", f"/workflows/{workflow_id}").status_code == 204
    assert api("GET", f"/workflows/{workflow_id}").status_code == 404
    assert api("DELETE", f"/workflows/{workflow_id}").status_code == 404


def test_actions_and_conditions(api: Api) -> None:
    workflow_id = api("POST", "/workflows", seed_workflow("https://example.com/a")).json()["id"]
    action = {
        "type": "webhook",
        "url": "https://example.com/webhooks/checkout",
        "headers": {"Authorization": "<AUTHORIZATION_UUID>"},
        "signature": {"method": "HMACSHA256", "key": "public-signing-key"},
    }
    added = api("POST", f"/workflows/{workflow_id}/actions", action)
    assert added.status_code == 201 and added.json()["id"].startswith("wfa_")
    action_id = added.json()["id"]
    updated = api(
        "PUT",
        f"/workflows/{workflow_id}/actions/{action_id}",
        action | {"url": "https://example.com/v2"},
    )
    assert updated.status_code == 200
    actions = api("GET", f"/workflows/{workflow_id}").json()["actions"]
    assert next(a for a in actions if a["id"] == action_id)["url"] == "https://example.com/v2"
    assert api("DELETE", f"/workflows/{workflow_id}/actions/{action_id}").status_code == 204
    assert api("DELETE", f"/workflows/{workflow_id}/actions/{action_id}").status_code == 404
    assert api("PUT", f"/workflows/{workflow_id}/actions/wfa_nope", action).status_code == 404
    assert api("POST", "/workflows/wf_nope/actions", action).status_code == 404

    condition = {
        "type": "event",
        "events": {"gateway": ["card_verified", "payment_pending"], "disputes": ["dispute_won"]},
    }
    added = api("POST", f"/workflows/{workflow_id}/conditions", condition)
    assert added.status_code == 201 and added.json()["id"].startswith("wfc_")
    condition_id = added.json()["id"]
    replaced = api(
        "PUT",
        f"/workflows/{workflow_id}/conditions/{condition_id}",
        {"type": "entity", "entities": ["ent_1"]},
    )
    assert replaced.status_code == 200
    conditions = api("GET", f"/workflows/{workflow_id}").json()["conditions"]
    assert next(c for c in conditions if c["id"] == condition_id) == {
        "id": condition_id,
        "type": "entity",
        "entities": ["ent_1"],
    }
    assert api("DELETE", f"/workflows/{workflow_id}/conditions/{condition_id}").status_code == 204
    assert api("DELETE", f"/workflows/{workflow_id}/conditions/{condition_id}").status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {
            "actions": [
                {
                    "type": "webhook",
                    "url": "https://e.com",
                    "signature": {"method": "SHA1", "key": "k"},
                }
            ]
        },
        {"actions": [{"type": "webhook", "url": "gopher://e.com"}]},
        {"actions": []},
        {"conditions": [{"type": "event", "events": {"gateway": []}}]},
        {"conditions": [{"type": "event", "events": {"gateway": ["payment_teleported"]}}]},
        {"conditions": [{"type": "weather", "forecast": "rain"}]},
        {"name": ""},
    ],
)
def test_invalid_workflows_are_422(api: Api, change: dict) -> None:
    before = len(api("GET", "/workflows").json()["data"])
    response = api("POST", "/workflows", seed_workflow("https://example.com/x") | change)
    assert response.status_code == 422
    assert response.json()["error"] and response.json()["error_type"] == "request_invalid"
    assert len(api("GET", "/workflows").json()["data"]) == before


def test_test_endpoint_sends_signed_envelopes(api: Api) -> None:
    with receiver() as hook:
        workflow_id = api("POST", "/workflows", seed_workflow(hook.url)).json()["id"]
        answer = api(
            "POST",
            f"/workflows/{workflow_id}/test",
            {"event_types": ["payment_approved", "dispute_won"]},
        )
        assert answer.status_code == 204
        received = hook.wait_for(2)
    for delivery in received:
        verify_cko_signature(delivery.body, delivery.headers["cko-signature"], SIGNING_KEY)
        assert delivery.headers["authorization"] == "<AUTHORIZATION_UUID>"
        event = json.loads(delivery.body)
        assert set(event) == {"id", "type", "created_on", "data"}
    assert sorted(json.loads(r.body)["type"] for r in received) == [
        "dispute_won",
        "payment_approved",
    ]
    assert (
        api("POST", "/workflows/wf_nope/test", {"event_types": ["payment_approved"]}).status_code
        == 404
    )
    assert (
        api("POST", f"/workflows/{workflow_id}/test", {"event_types": ["nope"]}).status_code == 422
    )


def test_event_types(api: Api) -> None:
    sources = {s["id"]: s for s in api("GET", "/workflows/event-types").json()}
    assert {"gateway", "dispute", "approvals"} <= set(sources)
    assert "approval_approved" in {e["id"] for e in sources["approvals"]["events"]}
