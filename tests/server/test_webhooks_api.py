"""Seed 002's webhook management API against the real service, status code by status code."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from signoff.server.process import ServiceProcess
from tests.conftest import CKO_PREVIOUS_KEY, REVIEWER_TOKEN, StartService
from tests.receiver import receiver

SEED_EVENTS = [
    "payment_approved", "payment_flagged", "payment_pending", "payment_declined",
    "payment_expired", "payment_canceled", "payment_voided", "payment_void_declined",
    "payment_captured", "payment_capture_declined", "payment_capture_pending",
    "payment_refunded", "payment_refund_declined", "payment_refund_pending",
    "payment_chargeback", "payment_retrieval",
]  # fmt: skip


def seed_body(url: str = "https://example.com/webhooks") -> dict:
    return {
        "url": url,
        "active": True,
        "headers": {"authorization": "1234"},
        "content_type": "json",
        "event_types": SEED_EVENTS,
    }


class Api:
    """The previous platform's way: the secret key bare in Authorization."""

    def __init__(self, service: ServiceProcess) -> None:
        self.base = service.url
        self.headers = {"Authorization": CKO_PREVIOUS_KEY, "Content-Type": "application/json"}

    def __call__(
        self, method: str, path: str, body: object = None, **headers: str
    ) -> httpx.Response:
        return httpx.request(
            method, self.base + path, json=body, headers={**self.headers, **headers}, timeout=30
        )


@pytest.fixture
def api(service: ServiceProcess) -> Api:
    return Api(service)


def test_no_webhooks_is_204(start_service: StartService) -> None:
    api = Api(start_service())
    response = api("GET", "/webhooks")
    assert response.status_code == 204 and response.content == b""


def test_register_retrieve_update_patch_delete(api: Api, service: ServiceProcess) -> None:
    created = api("POST", "/webhooks", seed_body("https://example.com/crud"))
    assert created.status_code == 201
    webhook = created.json()
    assert re.fullmatch(r"wh_[0-9a-f]{32}", webhook["id"])
    assert webhook["_links"]["self"]["href"] == f"{service.url}/webhooks/{webhook['id']}"
    assert {k: webhook[k] for k in seed_body()} == seed_body("https://example.com/crud")

    listed = api("GET", "/webhooks")
    assert listed.status_code == 200 and webhook["id"] in {w["id"] for w in listed.json()}
    one = api("GET", f"/webhooks/{webhook['id']}")
    assert one.status_code == 200 and one.json()["url"] == "https://example.com/crud"

    put_body = seed_body("https://example.com/crud-2") | {"event_types": ["payment_captured"]}
    updated = api("PUT", f"/webhooks/{webhook['id']}", put_body)
    assert updated.status_code == 200
    assert updated.json()["event_types"] == ["payment_captured"]

    patched = api("PATCH", f"/webhooks/{webhook['id']}", {"active": False})
    assert patched.status_code == 200
    assert patched.json()["active"] is False
    assert patched.json()["url"] == "https://example.com/crud-2"  # untouched fields stay

    assert api("DELETE", f"/webhooks/{webhook['id']}").status_code == 200
    assert api("GET", f"/webhooks/{webhook['id']}").status_code == 404
    assert api("DELETE", f"/webhooks/{webhook['id']}").status_code == 404


def test_same_url_is_409_on_create_put_and_patch(api: Api) -> None:
    first = api("POST", "/webhooks", seed_body("https://example.com/dup-a")).json()
    second = api("POST", "/webhooks", seed_body("https://example.com/dup-b")).json()
    again = api("POST", "/webhooks", seed_body("https://example.com/dup-a"))
    assert again.status_code == 409
    body = again.json()
    assert "already configured" in body["error"] and body["error_type"] == "conflict"
    assert body["error_codes"] == ["url_already_exists"] and body["request_id"]
    assert api("PUT", f"/webhooks/{second['id']}", seed_body(first["url"])).status_code == 409
    assert api("PATCH", f"/webhooks/{second['id']}", {"url": first["url"]}).status_code == 409
    assert api("GET", f"/webhooks/{second['id']}").json()["url"] == "https://example.com/dup-b"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"url": "ftp://example.com"}, "url_invalid"),
        ({"url": "not a url"}, "url_invalid"),
        ({"event_types": ["payment_teleported"]}, "event_types_invalid"),
        ({"event_types": []}, "event_types_invalid"),
        ({"content_type": "xml"}, "content_type_invalid"),
        ({"headers": {"bad header": "x"}}, "headers_invalid"),
    ],
)
def test_invalid_webhooks_are_400_and_nothing_is_stored(api: Api, change: dict, code: str) -> None:
    before = api("GET", "/webhooks")
    count = len(before.json()) if before.status_code == 200 else 0
    response = api("POST", "/webhooks", seed_body("https://example.com/invalid") | change)
    assert response.status_code == 400
    assert code in response.json()["error_codes"]
    assert response.json()["error_type"] == "request_invalid"
    after = api("GET", "/webhooks")
    assert (len(after.json()) if after.status_code == 200 else 0) == count


def test_missing_fields_and_unknown_ids(api: Api) -> None:
    missing = api("POST", "/webhooks", {"url": "https://example.com/no-events"})
    assert missing.status_code == 400 and "event_types" in missing.json()["error"]
    assert api("GET", "/webhooks/wh_nope").status_code == 404
    assert api("PUT", "/webhooks/wh_nope", seed_body("https://example.com/x")).status_code == 404
    assert api("PATCH", "/webhooks/wh_nope", {"active": False}).status_code == 404
    assert (
        api("POST", "/webhooks/wh_nope/test", {"event_types": ["payment_approved"]}).status_code
        == 404
    )


def test_auth(api: Api, service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/webhooks").status_code == 401
    assert (
        httpx.get(f"{service.url}/webhooks", headers={"Authorization": "sk_test_wrong"}).status_code
        == 401
    )
    as_reviewer = httpx.get(
        f"{service.url}/webhooks", headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"}
    )
    assert as_reviewer.status_code == 403
    assert api("GET", "/webhooks", Authorization=f"Bearer {CKO_PREVIOUS_KEY}").status_code in (
        200,
        204,
    )


def test_idempotency_key(api: Api) -> None:
    body = seed_body("https://example.com/idem")
    first = api("POST", "/webhooks", body, **{"Cko-Idempotency-Key": "k-1"})
    replay = api("POST", "/webhooks", body, **{"Cko-Idempotency-Key": "k-1"})
    assert first.status_code == replay.status_code == 201
    assert first.json()["id"] == replay.json()["id"]
    other = api(
        "POST",
        "/webhooks",
        seed_body("https://example.com/idem-2"),
        **{"Cko-Idempotency-Key": "k-1"},
    )
    assert other.status_code == 409 and "Cko-Idempotency-Key" in other.json()["error"]


def test_test_endpoint_delivers_each_type_even_unsubscribed(api: Api) -> None:
    with receiver() as hook:
        webhook = api(
            "POST", "/webhooks", seed_body(hook.url) | {"event_types": ["dispute_won"]}
        ).json()
        answer = api(
            "POST",
            f"/webhooks/{webhook['id']}/test",
            {"event_types": ["payment_approved", "payment_captured"]},
        )
        assert answer.status_code == 204 and answer.content == b""
        received = hook.wait_for(2)
    events = sorted((json.loads(r.body) for r in received), key=lambda e: e["type"])
    assert [e["type"] for e in events] == ["payment_approved", "payment_captured"]
    for event in events:
        assert event["id"].startswith("evt_") and event["created_on"].endswith("Z")
        assert event["data"]["test"] is True
    assert all(r.headers["authorization"] == "1234" for r in received)
    bad = api("POST", f"/webhooks/{webhook['id']}/test", {"event_types": ["nope"]})
    assert bad.status_code == 400 and bad.json()["error_codes"] == ["event_types_invalid"]
