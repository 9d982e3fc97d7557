"""Webhooks, workflows, events and their deliveries in real headless Chromium.

Events are published through the real API to a real receiver on a loopback port that
answers as scripted (a failure first, then success), so every attempt shown on a page
was made over a real socket by the real delivery worker.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from signoff.server.process import ServiceProcess
from tests.conftest import API_KEY
from tests.e2e.conftest import Screenshot, create, decide_by_api, sign_in, unlabelled_controls
from tests.receiver import receiver

AUTH = {"authorization": f"Bearer {API_KEY}"}
HEADER_SECRET = "Bearer hook-secret-4f1c9a"
SIGNATURE_KEY = "sig-key-secret-77ab"


def api(service: ServiceProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{service.url}{path}", json=body, headers=AUTH)
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, Any] = answer.json()
    return result


def until(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    """Wait for something the worker does after its last request (not a timed claim)."""
    deadline = time.monotonic() + seconds
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def health(service: ServiceProcess, webhook_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{service.url}/webhooks/{webhook_id}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["health"]
    return found


def publish(service: ServiceProcess, event_type: str, **data: Any) -> dict[str, Any]:
    return api(service, "/events", {"type": event_type, "data": data})


def test_a_failed_delivery_shows_its_attempts_and_replays(
    service: ServiceProcess, page: Page, context: BrowserContext, shot: Screenshot
) -> None:
    order = f"pay_{uuid.uuid4().hex[:8]}"
    # 500 with a body, then 410 Gone: the worker gives up and the delivery is failed.
    with receiver(answers=[(500, {}, b"database unavailable"), 410]) as hook:
        webhook = api(
            service,
            "/webhooks",
            {
                "url": hook.url,
                "event_types": ["payment_captured", "payment_refunded"],
                "headers": {"Authorization": HEADER_SECRET},
            },
        )
        event = publish(service, "payment_captured", id=order, amount=4200)
        # Health is recorded just after the last attempt: wait for it, then look.
        assert until(lambda: health(service, webhook["id"]).get("consecutive_failures") == 2)

        sign_in(page, f"{service.url}/subscriptions")
        row = page.locator(f"#webhook-{webhook['id']}")
        expect(row).to_contain_text(hook.url)
        expect(row).to_contain_text("payment_refunded")
        expect(row.locator(".header-name")).to_have_text("Authorization")
        expect(page.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
        row.get_by_role("link", name=hook.url).click()
        expect(page).to_have_url(f"{service.url}/subscriptions/webhooks/{webhook['id']}")

        first = page.locator("#deliveries .delivery").first
        # The page looks again when a retry is due: no reload needed to see it fail.
        expect(first.locator(".state")).to_have_text("failed")
        expect(first).to_contain_text("payment_captured")
        expect(first.get_by_role("link", name=event["id"])).to_be_visible()
        attempts = first.locator("table.attempts tbody tr")
        expect(attempts).to_have_count(2)
        expect(attempts.nth(0).locator("[data-label=Answer]")).to_have_text("HTTP 500")
        expect(attempts.nth(0).locator("[data-label=Latency]")).to_have_text(
            re.compile(r"^\d+ ms$")
        )
        expect(attempts.nth(0).locator("[data-label=Response]")).to_have_text(
            "database unavailable"
        )
        expect(attempts.nth(1).locator("[data-label=Answer]")).to_have_text("HTTP 410")
        expect(page.locator("#health .health")).to_have_text("failing")
        expect(page.locator("#health")).to_contain_text("2 failures in a row")
        expect(page.locator("#about")).to_contain_text("Authorization")
        # Header values may be secrets: only their names are shown, anywhere.
        assert "hook-secret-4f1c9a" not in page.content()
        assert unlabelled_controls(page) == []
        shot(page, "failed")

        # Replay with the receiver now answering 200 (its scripted answers are used up).
        failed_id = (first.get_attribute("id") or "").removeprefix("delivery-")
        first.get_by_role("button", name="Replay").click()
        expect(page).to_have_url(re.compile(r"\?replayed=\w+"))
        replayed = page.locator("#deliveries .delivery.replayed")
        expect(replayed.locator(".state")).to_have_text("delivered")
        expect(replayed.locator("table.attempts tbody tr")).to_have_count(1)
        expect(replayed.locator("[data-label=Answer]")).to_have_text("HTTP 200")
        expect(replayed.locator("[data-label=Latency]")).to_have_text(re.compile(r"^\d+ ms$"))
        expect(replayed).to_contain_text(event["id"])
        expect(replayed.get_by_role("status")).to_contain_text("Replayed")
        expect(page.locator(f"#delivery-{failed_id} .state")).to_have_text("failed")
        assert until(lambda: health(service, webhook["id"])["status"] == "healthy")
        page.reload()
        expect(page.locator("#health .health")).to_have_text("healthy")
        expect(page.locator("#health")).not_to_contain_text("failures")
        shot(page)

        sent = hook.wait_for(3)
        assert len(sent) == 3
        assert sent[2].body == sent[0].body  # the exact bytes again
        assert json.loads(sent[2].body)["id"] == event["id"]
        assert sent[2].headers["authorization"] == HEADER_SECRET  # still sent, never shown

    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{service.url}/subscriptions/webhooks/{webhook['id']}")
    expect(phone.locator("#deliveries .delivery").first.locator(".state")).to_have_text("delivered")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shot(phone, "phone")


def test_workflow_page_and_recent_events(
    service: ServiceProcess, page: Page, shot: Screenshot
) -> None:
    name = f"Disputes to the risk team {uuid.uuid4().hex[:6]}"
    dispute = f"dsp_{uuid.uuid4().hex[:8]}"
    with receiver() as hook:
        created = api(
            service,
            "/workflows",
            {
                "name": name,
                "conditions": [
                    {"type": "event", "events": {"dispute": ["dispute_evidence_required"]}}
                ],
                "actions": [
                    {
                        "type": "webhook",
                        "url": hook.url,
                        "headers": {"X-Team-Token": "team-token-secret-9d2"},
                        "signature": {"method": "HMACSHA256", "key": SIGNATURE_KEY},
                    }
                ],
            },
        )
        event = publish(service, "dispute_evidence_required", id=dispute, reason="fraudulent")
        hook.wait_for(1)

        sign_in(page, f"{service.url}/subscriptions/events")
        expect(page.get_by_role("link", name="Events")).to_have_attribute("aria-current", "page")
        page.get_by_label("Event type").select_option("dispute_evidence_required")
        page.get_by_role("button", name="Apply").click()
        row = page.locator(f"#event-{event['id']}")
        expect(row).to_contain_text("dispute_evidence_required")
        expect(row.locator("[data-label=Deliveries]")).to_contain_text("1 delivered")
        expect(page.locator("#events tbody tr").first).to_have_id(f"event-{event['id']}")
        assert unlabelled_controls(page) == []
        shot(page, "events")

        row.get_by_role("link", name=event["id"]).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(event["id"])
        expect(page.locator("pre.json")).to_contain_text(f'"id": "{dispute}"')
        delivery = page.locator("#deliveries .delivery")
        expect(delivery).to_have_count(1)
        expect(delivery.locator(".state")).to_have_text("delivered")
        expect(delivery.locator("[data-label=Answer]")).to_have_text("HTTP 200")
        shot(page, "event")

        delivery.get_by_role("link", name=f"workflow {created['id']}").click()
        expect(page).to_have_url(f"{service.url}/subscriptions/workflows/{created['id']}")
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        expect(page.locator("#about")).to_contain_text("dispute_evidence_required")
        expect(page.locator("ol.actions")).to_contain_text(hook.url)
        expect(page.locator("ol.actions")).to_contain_text("X-Team-Token")
        expect(page.locator("ol.actions")).to_contain_text("Signed (HMACSHA256")
        expect(page.locator("ol.actions .health")).to_have_text("healthy")
        expect(page.locator("#deliveries .delivery .state")).to_have_text("delivered")
        content = page.content()
        assert SIGNATURE_KEY not in content and "team-token-secret-9d2" not in content
        shot(page)

    page.get_by_role("link", name="Webhooks", exact=True).click()
    workflow_row = page.locator(f"#workflow-{created['id']}")
    expect(workflow_row).to_contain_text(name)
    expect(workflow_row).to_contain_text(hook.url)
    expect(workflow_row.locator(".active")).to_have_text("active")
    expect(workflow_row.locator(".health")).to_have_text("healthy")
    assert unlabelled_controls(page) == []
    shot(page, "list")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shot(page, "list-phone")


def test_replay_needs_a_session_and_the_csrf_token(
    service: ServiceProcess, page: Page, context: BrowserContext, shot: Screenshot
) -> None:
    with receiver() as hook:
        api(service, "/webhooks", {"url": hook.url, "event_types": ["payment_voided"]})
        event = publish(service, "payment_voided", id=f"pay_{uuid.uuid4().hex[:8]}")
        hook.wait_for(1)
        deliveries = httpx.get(f"{service.url}/events/{event['id']}/deliveries", headers=AUTH)
        (delivery,) = deliveries.json()["data"]
        replay_url = f"{service.url}/subscriptions/deliveries/{delivery['id']}/replay"

        # Not signed in: sent to sign in, nothing replayed.
        answer = context.request.post(replay_url, form={"csrf": "x"}, max_redirects=0)
        assert answer.status == 303
        assert "/signin?next=" in answer.headers["location"]

        sign_in(page, f"{service.url}/subscriptions/events/{event['id']}")
        expect(page.locator("#deliveries .delivery .state")).to_have_text("delivered")
        for form in ({}, {"csrf": "guessed"}):
            assert context.request.post(replay_url, form=form, max_redirects=0).status == 403
        page.locator("form.replay input[name=csrf]").evaluate("el => el.value = 'forged'")
        page.get_by_role("button", name="Replay").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Form refused")
        shot(page)

        missing = context.request.post(
            f"{service.url}/subscriptions/deliveries/dlv_nope/replay",
            form={"csrf": "x"},
            max_redirects=0,
        )
        assert missing.status == 403  # the token is checked before anything is looked up
        csrf = page.locator("form.signout input[name=csrf]").input_value()
        missing = context.request.post(
            f"{service.url}/subscriptions/deliveries/dlv_nope/replay",
            form={"csrf": csrf},
            max_redirects=0,
        )
        assert missing.status == 404
        assert "No such delivery" in missing.text()

        # An approval's callback is replayed from nowhere here: its page is the approval's.
        approval = create(service, action="replay_check", webhookUrl=hook.url)
        decide_by_api(service, approval["id"], decision="approve")
        hook.wait_for(2)
        callbacks = httpx.get(
            f"{service.url}/api/approvals/{approval['id']}/callbacks", headers=AUTH
        ).json()
        callback_id = callbacks["data"][0]["id"]
        answer = context.request.post(
            f"{service.url}/subscriptions/deliveries/{callback_id}/replay",
            form={"csrf": csrf},
            max_redirects=0,
        )
        assert answer.status == 404
        answer = httpx.get(f"{service.url}/events/{event['id']}/deliveries", headers=AUTH)
        assert len(answer.json()["data"]) == 1  # nothing was replayed
        assert len(hook.received) == 2  # the event once, the callback once
