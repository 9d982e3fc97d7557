"""Policies on the reviewer's pages: an SLA "due in", then "overdue" once the sweep breaches
it, the escalation to another group (who then find it under "Waiting for you", not before),
and an approval a policy decided or routed, shown as such on its page and in the history;
in real headless Chromium against the real ``signoff serve``.

The module's service sweeps every 0.2 s, so a short SLA is breached moments after it is due.
Each test applies a policy document of its own (groups and actions named after a tag), which
replaces the one before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, launcher
from tests.e2e.conftest import Screenshot, create, read, sign_in
from tests.pg import fresh_database

SLA = "10s"
"""Short, so the sweep breaches it within the test; long enough that the pages are open
and show "due in" before it is due, on a slow shared machine too."""

BREACH_TIMEOUT = 40_000
"""How long to wait for "overdue" and the escalation: the SLA, then a sweep and a refresh."""

BOTH_DATABASES = pytest.mark.parametrize("service", ["sqlite", "postgresql"], indirect=True)
""""Waiting for you" after an escalation is SQL of each dialect: both are tried."""


@pytest.fixture(scope="module")
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """One service per database, sweeping SLAs every 0.2 s."""
    workdir = tmp_path_factory.mktemp("service")
    if getattr(request, "param", "sqlite") == "sqlite":
        with launcher(workdir) as start:
            yield start(None, "--sweep-interval", "0.2")
    else:  # the service stops before its database is dropped
        with (
            fresh_database(request.getfixturevalue("pg_server")) as url,
            launcher(workdir) as start,
        ):
            yield start(url, "--sweep-interval", "0.2")


@dataclass(frozen=True)
class Person:
    name: str
    token: str


def tag() -> str:
    return uuid.uuid4().hex[:6]


def add_reviewer(service: ServiceProcess, name: str) -> Person:
    """A reviewer in no stored group: the policy file's groups name them."""
    made = httpx.post(
        f"{service.url}/api/reviewers",
        json={"name": name},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert made.status_code == 201, made.text
    return Person(name, made.json()["token"])


def apply_policies(service: ServiceProcess, document: dict[str, Any]) -> int:
    """``PUT /api/policies``; the version it made active."""
    applied = httpx.put(
        f"{service.url}/api/policies",
        json={"document": document},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert applied.status_code == 200, applied.text
    version: int = applied.json()["version"]
    return version


def decide_as(service: ServiceProcess, person: Person, approval_id: str, decision: str) -> None:
    answer = httpx.post(
        f"{service.url}/api/approvals/{approval_id}/decision",
        json={"decision": decision},
        headers={"authorization": f"Bearer {person.token}"},
    )
    assert answer.status_code == 200, answer.text


@dataclass(frozen=True)
class Setup:
    """finance (dana, erin) and leads (lee), and the action this test's policies match."""

    t: str
    dana: Person
    erin: Person
    lee: Person
    finance: str
    leads: str
    action: str


@pytest.fixture
def setup(service: ServiceProcess) -> Setup:
    t = tag()
    return Setup(
        t=t,
        dana=add_reviewer(service, f"dana-{t}"),
        erin=add_reviewer(service, f"erin-{t}"),
        lee=add_reviewer(service, f"lee-{t}"),
        finance=f"finance-{t}",
        leads=f"leads-{t}",
        action=f"refund-{t}",
    )


def document(s: Setup, **big: Any) -> dict[str, Any]:
    """Under $50 approved at once; over $10,000 to two of finance, escalating to leads."""
    return {
        "groups": {
            s.finance: {"members": [s.dana.name, s.erin.name]},
            s.leads: {"members": [s.lee.name]},
        },
        "policies": [
            {
                "name": f"small-refunds-{s.t}",
                "when": f'action == "{s.action}" && details.amount < 50',
                "decide": "approve",
                "note": "Under $50",
            },
            {
                "name": f"big-refunds-{s.t}",
                "when": f'action == "{s.action}" && details.amount > 10000',
                "groups": [s.finance],
                "required_approvals": 2,
                **big,
            },
        ],
    }


def refund(service: ServiceProcess, s: Setup, amount: float) -> dict[str, Any]:
    return create(
        service,
        action=s.action,
        summary=f"Refund ${amount:,.2f} for order #{s.t}",
        details={"orderId": s.t, "amount": amount, "currency": "USD"},
    )


SignIn = Callable[[Person, str], Page]


@pytest.fixture
def signed_in(browser: Browser, service: ServiceProcess) -> Iterator[SignIn]:
    """A page of a browser profile of the person's own, signed in and open at ``path``."""
    contexts = []

    def open_as(person: Person, path: str) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        sign_in(page, f"{service.url}{path}", person.token)
        return page

    try:
        yield open_as
    finally:
        for context in contexts:
            context.close()


@BOTH_DATABASES
def test_an_sla_is_due_then_overdue_and_escalates_to_leads(
    service: ServiceProcess, setup: Setup, signed_in: SignIn, shot: Screenshot
) -> None:
    s = setup
    version = apply_policies(service, document(s, sla={"within": SLA, "escalate_to": [s.leads]}))
    # Both inboxes are open before the approval arrives: it appears live.
    dana_inbox = signed_in(s.dana, "/inbox")
    lee_inbox = signed_in(s.lee, "/inbox")
    expect(dana_inbox.locator("#live-state")).to_have_attribute("data-state", "open")
    expect(lee_inbox.locator("#live-state")).to_have_attribute("data-state", "open")

    approval = refund(service, s, 20_000)
    assert approval["policyRule"] == f"big-refunds-{s.t}" and approval["slaDueAt"]
    row_id = f"#row-{approval['id']}"

    # Before the SLA: "due in" for finance, under "Waiting for you"; leads see it
    # elsewhere, not as theirs.
    dana_row = dana_inbox.locator(f"#waiting-rows {row_id}")
    expect(dana_row).to_contain_text("due in")
    expect(dana_row).to_contain_text("SLA")
    lee_row = lee_inbox.locator(f"#rows {row_id}")
    expect(lee_row).to_contain_text("due in")
    expect(lee_inbox.locator(f"#waiting-rows {row_id}")).to_have_count(0)

    review = dana_inbox.context.new_page()
    review.goto(f"{service.url}/review/{approval['id']}")
    who = review.locator("#who-decides")
    expect(who.locator("#policy-line")).to_contain_text(
        f"Routed by policy big-refunds-{s.t} (version {version})"
    )
    expect(who.locator("#sla")).to_contain_text("due in")
    expect(who.locator("#escalation-plan")).to_contain_text(f"escalates to group {s.leads}")
    expect(who.locator("#escalation")).to_have_count(0)
    shot(review, "due")

    # The sweep breaches it: "overdue", clearly marked, on both pages, live.
    expect(who.locator("#sla")).to_contain_text("overdue", timeout=BREACH_TIMEOUT)
    expect(review.locator("#sla time.overdue")).to_have_count(1)
    escalation = review.locator("#escalation")
    expect(escalation).to_contain_text(f"Escalated to group {s.leads} at", timeout=BREACH_TIMEOUT)
    expect(review.locator("#trail")).to_contain_text(f"SLA breached ({SLA}): escalated")
    expect(dana_row).to_contain_text("overdue", timeout=BREACH_TIMEOUT)
    expect(dana_row.locator("time.overdue")).to_have_count(1)
    breached = read(service, approval["id"])
    assert breached["slaBreachedAt"] and breached["escalatedGroups"] == [s.leads]
    shot(review, "overdue")

    # Escalated: now it waits for the lead too, who may decide it.
    lee_waiting = lee_inbox.locator(f"#waiting-rows {row_id}")
    expect(lee_waiting).to_be_visible(timeout=BREACH_TIMEOUT)
    expect(lee_waiting).to_contain_text("overdue")
    expect(lee_waiting).to_contain_text(f"escalated to group {s.leads}")
    expect(lee_inbox.locator(f"#rows {row_id}")).to_have_count(0)
    shot(lee_inbox, "lead-inbox")
    lee_waiting.get_by_role("link").click()
    expect(lee_inbox.locator("#decide-form")).to_be_visible()
    expect(lee_inbox.locator("#decision-refusal")).to_have_count(0)
    expect(lee_inbox.locator("#sla")).to_contain_text("overdue")


def test_a_policy_decision_reads_approved_by_policy_on_the_page_and_in_history(
    service: ServiceProcess, setup: Setup, signed_in: SignIn, shot: Screenshot
) -> None:
    s = setup
    version = apply_policies(service, document(s))
    auto = refund(service, s, 12)
    assert auto["autoDecided"] is True and auto["decidedBy"] == f"policy:small-refunds-{s.t}"
    routed = refund(service, s, 25_000)
    decide_as(service, s.dana, routed["id"], "approve")
    decide_as(service, s.erin, routed["id"], "approve")
    by_policy = f"Approved by policy small-refunds-{s.t} (version {version})"

    page = signed_in(s.dana, f"/review/{auto['id']}")
    verdict = page.locator("#decision .verdict")
    expect(verdict).to_contain_text(by_policy)
    expect(verdict).not_to_contain_text("policy:")
    auto_line = page.locator("#auto-decision")
    expect(auto_line).to_contain_text("Decided automatically, not by a person")
    expect(auto_line).to_contain_text(f"policy small-refunds-{s.t} (version {version})")
    expect(auto_line).to_contain_text("details.amount < 50")
    expect(page.locator("#who-decides #policy-line")).to_contain_text(
        f"Nobody: policy small-refunds-{s.t} (version {version}) decided it"
    )
    expect(page.locator("#trail")).to_contain_text(by_policy)
    expect(page.locator("#decision .note")).to_contain_text("Under $50")
    shot(page, "review")

    page.goto(f"{service.url}/history?action={s.action}")
    entry = page.locator(f"#entry-{auto['id']}")
    expect(entry.locator(".who-when")).to_contain_text(by_policy)
    expect(entry).not_to_contain_text("policy:")
    expect(entry.locator(f"#policy-{auto['id']}")).to_contain_text("details.amount < 50")
    other = page.locator(f"#entry-{routed['id']}")
    expect(other.locator(".who-when")).to_contain_text("Approved by")
    expect(other.locator(f"#policy-{routed['id']}")).to_contain_text(
        f"Routed by policy big-refunds-{s.t} (version {version})"
    )
    shot(page, "history")

    page.goto(f"{service.url}/review/{routed['id']}")
    expect(page.locator("#who-decides #policy-line")).to_contain_text(
        f"Routed by policy big-refunds-{s.t} (version {version})"
    )
    expect(page.locator("#decision .verdict")).to_contain_text(f"Approved by {s.erin.name}")


def test_sla_wording_matches_the_pages_other_relative_times() -> None:
    """The server's first render says what the browser's clock then keeps saying."""
    from datetime import datetime, timedelta, timezone

    from signoff.server.ui.render import sla_left

    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert sla_left(now + timedelta(minutes=12, seconds=30), now) == "due in 12 min"
    assert sla_left(now - timedelta(minutes=12), now) == "overdue 12 min"
    assert sla_left(now, now) == "overdue 0 s"
    assert sla_left(now + timedelta(hours=2, minutes=5), now) == "due in 2 h 5 min"
    assert sla_left(None, now) == ""
