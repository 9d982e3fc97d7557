"""The reviewer's pages in real headless Chromium, against the real ``signoff serve``."""

from __future__ import annotations

import json
import re
import uuid

from playwright.sync_api import BrowserContext, Page, expect

from signoff.server.process import ServiceProcess
from tests.conftest import API_KEY, REVIEWER
from tests.e2e.conftest import (
    Screenshot,
    create,
    decide_by_api,
    read,
    sign_in,
    unlabelled_controls,
)
from tests.receiver import receiver


def unique(prefix: str) -> str:
    """The module shares one service: each test filters on actions of its own."""
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def test_sign_in_and_sign_out(
    service: ServiceProcess, page: Page, context: BrowserContext, shot: Screenshot
) -> None:
    approval = create(service, summary="Backfill March for the finance warehouse")
    page.goto(approval["reviewUrl"])
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Freview%2F"))

    page.get_by_label("Reviewer token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not known")
    page.get_by_label("Reviewer token").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("API key")
    shot(page, "refused")

    page.get_by_label("Reviewer token").fill("test-reviewer-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(approval["reviewUrl"])  # back where the link pointed
    expect(page.get_by_role("heading", level=1)).to_have_text(approval["summary"])
    expect(page.get_by_text(f"Signed in as {REVIEWER}")).to_be_visible()
    (cookie,) = [c for c in context.cookies() if c["name"] == "signoff_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] in ("Lax", "Strict")
    assert "test-reviewer-token" not in cookie["value"]
    shot(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/signin"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(f"{service.url}/inbox")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Finbox"))


def test_inbox_puts_riskiest_first_and_filters(
    service: ServiceProcess, page: Page, shot: Screenshot
) -> None:
    action = unique("rotate_keys")
    for risk in ("low", "critical", "high"):
        create(service, action=action, riskLevel=risk, summary=f"Rotate the {risk} keys")
    create(service, action=unique("other"), riskLevel="critical", summary="Not this one")

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, f"{service.url}/inbox")
    page.get_by_label("Action").select_option(action)
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("#rows tr[data-id]")
    expect(rows).to_have_count(3)
    expect(rows.locator(".risk")).to_have_text(["critical", "high", "low"])
    expect(rows.first.locator("[data-label='Time left']")).to_contain_text("left")
    assert unlabelled_controls(page) == []
    shot(page)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shot(page, "phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Risk").select_option("high")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Rotate the high keys")

    page.get_by_label("Risk").select_option("")
    page.get_by_label("Order").select_option("newest")
    page.get_by_role("button", name="Apply").click()
    expect(rows.locator(".summary")).to_have_text(
        ["Rotate the high keys", "Rotate the critical keys", "Rotate the low keys"]
    )
    # Served entirely by the service: nothing from a CDN, works with no internet.
    assert requested and all(url.startswith(service.url) for url in requested)
    assert any(url.startswith(f"{service.url}/static/signoff.js") for url in requested)


def test_approve_with_edited_details(
    service: ServiceProcess, page: Page, context: BrowserContext, shot: Screenshot
) -> None:
    with receiver() as hook:
        approval = create(
            service,
            action=unique("process_refund"),
            justification="The customer returned one of the two items.",
            source={
                "system": "airflow",
                "pipeline": "refunds_daily",
                "run": "scheduled__2025-03-18",
                "task": "approve_refund",
                "url": "https://airflow.example.com/dags/refunds_daily/grid",
            },
            webhookUrl=hook.url,
        )
        sign_in(page, approval["reviewUrl"])
        expect(page.locator("pre.json")).to_contain_text('"orderId": "8842"')
        link = page.get_by_role("link", name=re.compile("Open the run"))
        expect(link).to_have_attribute(
            "href", "https://airflow.example.com/dags/refunds_daily/grid"
        )
        expect(page.locator(".facts")).to_contain_text("DAG refunds_daily")

        page.get_by_text("Edit the details before approving").click()
        editor = page.get_by_label("Details to approve (JSON)")
        editor.fill('{"orderId": "8842", "amount": 100,')
        expect(page.locator("#edited-status")).to_contain_text("Not valid JSON")
        expect(editor).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_role("button", name="Approve with these edits")).to_be_disabled()

        edited = {"orderId": "8842", "amount": 100.0, "currency": "USD", "partial": True}
        editor.fill(json.dumps(edited, indent=2))
        expect(page.locator("#edited-status")).to_have_text("Valid JSON, 2 changes:")
        expect(page.locator("#edited-diff li")).to_have_text(
            ["amount changed: 120 → 100", "partial added: true"]
        )
        # With edits pending, the plain button says plainly that it ignores them.
        expect(page.locator("#approve")).to_have_text("Approve the original details")
        page.get_by_label(re.compile("^Note")).fill("Partial refund: one item was kept.")
        assert unlabelled_controls(page) == []
        shot(page, "editing")

        page.get_by_role("button", name="Approve with these edits").click()
        expect(page.locator(".verdict")).to_contain_text(
            f"Approved with edited details by {REVIEWER}"
        )
        decided = read(service, approval["id"])
        assert decided["status"] == "APPROVED"
        assert decided["decidedBy"] == REVIEWER
        assert decided["modifiedDetails"] == edited
        assert decided["decisionNote"] == "Partial refund: one item was kept."

        (callback,) = hook.wait_for(1)
        sent = json.loads(callback.body)
        assert sent["modifiedDetails"] == edited
        assert sent["status"] == "approved"
        # The page looks again when the delivery was due: no reload needed.
        expect(page.locator("#deliveries .state")).to_have_text("delivered")
        expect(page.locator("#deliveries .attempts")).to_contain_text("HTTP 200")
    expect(page.locator("#trail")).to_contain_text("changing 2 fields")
    shot(page)

    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(approval["reviewUrl"])
    expect(phone.locator(".verdict")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shot(phone, "phone")


def test_reject_with_note_then_history(
    service: ServiceProcess, page: Page, shot: Screenshot
) -> None:
    action = unique("drop_partition")
    approval = create(service, action=action, summary="Drop partition 2019 of events")
    edited = create(service, action=action, summary="Archive partition 2020 of events")
    decide_by_api(
        service,
        edited["id"],
        decision="approve",
        modifiedDetails={**edited["details"], "amount": 80},
        note="Archive less.",
    )

    sign_in(page, approval["reviewUrl"])
    # Keyboard only: type the note, tab to Reject, press Enter.
    page.get_by_label(re.compile("^Note")).focus()
    page.keyboard.type("Not on a Friday: the warehouse team is away.")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "reject":
            break
    page.keyboard.press("Enter")
    expect(page.locator(".verdict")).to_contain_text(f"Rejected by {REVIEWER}")
    expect(page.locator("blockquote.note")).to_have_text(
        "Not on a Friday: the warehouse team is away."
    )
    decided = read(service, approval["id"])
    assert decided["status"] == "REJECTED"
    assert decided["decisionNote"] == "Not on a Friday: the warehouse team is away."
    assert decided["modifiedDetails"] is None
    shot(page, "decided")

    page.get_by_role("link", name="History").click()
    page.get_by_label("Action").select_option(action)
    page.get_by_role("button", name="Apply").click()
    entries = page.locator("ol.history > li.entry")
    expect(entries).to_have_count(2)
    rejected = page.locator(f"#entry-{approval['id']}")
    expect(rejected).to_contain_text(f"Rejected by {REVIEWER}")
    expect(rejected).to_contain_text("Not on a Friday")
    approved = page.locator(f"#entry-{edited['id']}")
    expect(approved).to_contain_text(f"Approved by {REVIEWER}")
    approved.get_by_text("Changed 1 field").click()
    expect(approved.locator("table.changes")).to_contain_text("120")
    expect(approved.locator("table.changes ins")).to_have_text("80")
    shot(page)


def test_inbox_updates_live_when_an_approval_arrives(
    service: ServiceProcess, page: Page, shot: Screenshot
) -> None:
    action = unique("deploy")
    first = create(service, action=action, summary="Deploy v1.2 to production", riskLevel="low")
    sign_in(page, f"{service.url}/inbox?action={action}")
    expect(page.locator("#rows tr[data-id]")).to_have_count(1)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    page.evaluate("window.notReloaded = true")

    arrived = create(
        service, action=action, summary="Deploy v1.3 to production", riskLevel="critical"
    )
    row = page.locator(f"#row-{arrived['id']}")
    expect(row).to_be_visible()
    expect(row).to_have_class(re.compile(r"\bnew\b"))
    expect(page.locator("#rows tr[data-id]").first).to_have_id(f"row-{arrived['id']}")
    expect(page.locator("#count")).to_contain_text("2 approvals pending")
    expect(page.locator("#announce")).to_have_text("1 new approval.")
    shot(page)

    decide_by_api(service, first["id"], decision="approve")  # decided elsewhere
    expect(page.locator(f"#row-{first['id']}")).to_have_count(0)
    expect(page.locator("#count")).to_contain_text("1 approval pending")
    assert page.evaluate("window.notReloaded") is True


def test_review_page_shows_a_decision_taken_elsewhere(
    service: ServiceProcess, page: Page, context: BrowserContext, shot: Screenshot
) -> None:
    approval = create(service, action=unique("grant_access"), summary="Grant bob read access")
    sign_in(page, approval["reviewUrl"])
    expect(page.locator("#status-badge")).to_have_text("pending")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    page.evaluate("window.notReloaded = true")
    csrf = page.locator("#decide-form input[name=csrf]").input_value()

    decide_by_api(service, approval["id"], decision="reject", note="Ask the data owner first.")
    expect(page.locator("#status-badge")).to_have_text("rejected")
    expect(page.locator(".verdict")).to_contain_text(f"Rejected by {REVIEWER}")
    expect(page.locator("#decide-form")).to_have_count(0)
    expect(page.locator(".facts")).not_to_contain_text("Expires")
    expect(page.locator("#announce")).to_contain_text("decided while you were looking")
    assert page.evaluate("window.notReloaded") is True
    shot(page)

    # The form as it was before: a second decision is refused and changes nothing.
    late = context.request.post(
        f"{service.url}/review/{approval['id']}/decision",
        form={"csrf": csrf, "decision": "approve"},
        max_redirects=0,
    )
    assert late.status == 409
    assert "already REJECTED" in late.text()
    assert read(service, approval["id"])["decisionNote"] == "Ask the data owner first."


def test_forms_without_the_csrf_token_are_refused(
    service: ServiceProcess, page: Page, context: BrowserContext, shot: Screenshot
) -> None:
    approval = create(service, action=unique("delete_user"), summary="Delete user 4411")
    decision_url = f"{service.url}/review/{approval['id']}/decision"
    sign_in(page, approval["reviewUrl"])

    # A request carrying the session cookie but no valid token changes nothing.
    for form in ({"decision": "approve"}, {"decision": "approve", "csrf": "guessed"}):
        answer = context.request.post(decision_url, form=form, max_redirects=0)
        assert answer.status == 403
    assert context.request.post(f"{service.url}/signout", form={}).status == 403

    # A page on another site posting the form: the cookie stays home, nothing is decided.
    attacker = context.new_page()
    attacker.set_content(
        f'<form method="post" action="{decision_url}">'
        '<input name="decision" value="approve"><input name="csrf" value="x">'
        '<button id="go">win a prize</button></form>'
    )
    attacker.click("#go")
    expect(attacker).to_have_url(re.compile(r"/signin\?next="))

    # A tampered token in the real page is refused too, with a page that says why.
    page.locator("#decide-form input[name=csrf]").evaluate("el => el.value = 'forged'")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Form refused")
    shot(page)

    assert read(service, approval["id"])["status"] == "PENDING"
    page.goto(approval["reviewUrl"])  # the session itself is still good
    expect(page.locator("#status-badge")).to_have_text("pending")
