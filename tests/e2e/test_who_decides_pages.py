"""Who decides, on the reviewer's pages: chains of steps, the requester, options and
reason codes, a details schema, "Waiting for you" and the history filters, in real
headless Chromium against the real ``signoff serve``.

Each reviewer is a record made with the admin API and signs in with their own token, in a
browser profile of their own.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, REVIEWER, REVIEWER_TOKEN, launcher
from tests.e2e.conftest import Screenshot, create, read, sign_in, unlabelled_controls
from tests.pg import fresh_database

BOTH_DATABASES = pytest.mark.parametrize("service", ["sqlite", "postgresql"], indirect=True)
"""For a test whose pages' queries have SQL of each dialect: the service (and with it
``team``, ``signed_in`` and the browser) on SQLite, then on a real PostgreSQL."""


@pytest.fixture(scope="module")
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The module's service on SQLite, as everywhere else; on PostgreSQL for a test marked
    ``BOTH_DATABASES`` with that parameter (one service per parameter, shared by them)."""
    workdir = tmp_path_factory.mktemp("service")
    if getattr(request, "param", "sqlite") == "sqlite":
        with launcher(workdir) as start:
            yield start()
    else:  # the service stops before its database is dropped
        with (
            fresh_database(request.getfixturevalue("pg_server")) as url,
            launcher(workdir) as start,
        ):
            yield start(url)


@dataclass(frozen=True)
class Person:
    name: str
    token: str


def tag() -> str:
    """The module shares one service: each test names reviewers and groups of its own."""
    return uuid.uuid4().hex[:6]


def add_reviewer(service: ServiceProcess, name: str, *groups: str) -> Person:
    made = httpx.post(
        f"{service.url}/api/reviewers",
        json={"name": name, "groups": list(groups)},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert made.status_code == 201, made.text
    return Person(name, made.json()["token"])


def decide_as(
    service: ServiceProcess, person: Person, approval_id: str, **body: Any
) -> dict[str, Any]:
    answer = httpx.post(
        f"{service.url}/api/approvals/{approval_id}/decision",
        json=body,
        headers={"authorization": f"Bearer {person.token}"},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


@dataclass(frozen=True)
class Team:
    lead: Person
    finance: list[Person]
    leads_group: str
    finance_group: str


@pytest.fixture
def team(service: ServiceProcess) -> Team:
    """A lead in group leads, three reviewers in group finance."""
    t = tag()
    leads, finance = f"leads-{t}", f"finance-{t}"
    return Team(
        lead=add_reviewer(service, f"lead-{t}", leads),
        finance=[add_reviewer(service, f"fin{i}-{t}", finance) for i in (1, 2, 3)],
        leads_group=leads,
        finance_group=finance,
    )


def chain(team: Team, **fields: Any) -> dict[str, Any]:
    """1 of group leads, then 2 of group finance; asked for by the third finance reviewer."""
    return {
        "steps": [
            {"groups": [team.leads_group], "requiredApprovals": 1},
            {"groups": [team.finance_group], "requiredApprovals": 2},
        ],
        "requestedBy": team.finance[2].name,
        **fields,
    }


SignIn = Callable[[Person, str], Page]


@pytest.fixture
def signed_in(browser: Browser) -> Iterator[SignIn]:
    """A page of a browser profile of the person's own, signed in and open at ``url``."""
    contexts = []

    def open_as(person: Person, url: str) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        sign_in(page, url, person.token)
        return page

    try:
        yield open_as
    finally:
        for context in contexts:
            context.close()


def test_a_two_step_chain_is_decided_on_the_pages_by_three_reviewers(
    service: ServiceProcess, team: Team, signed_in: SignIn, shot: Screenshot
) -> None:
    approval = create(service, summary="Pay supplier invoice INV-2291", **chain(team))
    url = approval["reviewUrl"]
    fin1, fin2, _ = team.finance

    # Before step 1 is done, finance may look but not decide: the page says why.
    first = signed_in(fin1, url)
    expect(first.locator("#step-1")).to_contain_text("Open now")
    expect(first.locator("#step-1")).to_contain_text(f"For group {team.leads_group}")
    expect(first.locator("#step-2")).to_contain_text("Not open yet")
    expect(first.locator("#step-2")).to_contain_text("needs 2 approvals")
    expect(first.locator("#decision-refusal")).to_have_text(
        f"You cannot decide this approval. {fin1.name} may not decide this approval: "
        f"step 1 is for group {team.leads_group}."
    )
    expect(first.get_by_role("button", name="Approve")).to_have_count(0)
    expect(first.get_by_role("button", name="Reject")).to_have_count(0)
    expect(first.locator("#live-state")).to_have_attribute("data-state", "open")

    # The lead approves step 1 on their page.
    lead = signed_in(team.lead, url)
    lead.get_by_label(re.compile("^Note")).fill("Invoice matches the PO.")
    lead.get_by_role("button", name="Approve", exact=True).click()
    expect(lead.locator("#step-1")).to_contain_text("Satisfied")
    expect(lead.locator("#step-1")).to_contain_text(f"Approved by {team.lead.name} (1 of 1)")
    expect(lead.locator("#step-2")).to_contain_text("Open now")
    expect(lead.locator("#status-badge")).to_have_text("pending")
    expect(lead.locator("#decision-refusal")).to_contain_text(
        f"step 2 is for group {team.finance_group}"
    )
    expect(lead.locator("#approvals li")).to_have_count(1)
    expect(lead.locator("#approvals")).to_contain_text(f"{team.lead.name} approved step 1")

    # The finance reviewer's page follows without a reload: now they may decide.
    expect(first.locator("#step-2")).to_contain_text("Open now")
    expect(first.locator("#decision-refusal")).to_have_count(0)
    first.get_by_role("button", name="Approve", exact=True).click()
    expect(first.locator("#step-2")).to_contain_text(f"Approved by {fin1.name} (1 of 2)")
    # One approve each: the page says so and offers only Reject.
    expect(first.locator("#decision-refusal")).to_have_text(
        "You cannot approve it again; you may still reject it. "
        f"{fin1.name} has already approved this approval."
    )
    expect(first.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(first.get_by_role("button", name="Reject")).to_be_enabled()
    shot(first, "one-of-two")

    second = signed_in(fin2, url)
    expect(second.locator("#step-2")).to_contain_text("1 of 2")
    second.get_by_role("button", name="Approve", exact=True).click()
    expect(second.locator(".verdict")).to_contain_text(f"Approved by {fin2.name}")
    expect(second.locator("#step-2")).to_contain_text(
        f"Approved by {fin1.name}, {fin2.name} (2 of 2)"
    )
    expect(first.locator(".verdict")).to_contain_text(f"Approved by {fin2.name}")  # live
    shot(second)

    decided = read(service, approval["id"])
    assert decided["status"] == "APPROVED"
    assert decided["decidedBy"] == fin2.name
    assert [(a["reviewer"], a["step"]) for a in decided["approvals"]] == [
        (team.lead.name, 1),
        (fin1.name, 2),
        (fin2.name, 2),
    ]
    assert all(step["satisfied"] for step in decided["steps"])


def test_the_requester_sees_why_and_cannot_decide(
    service: ServiceProcess, team: Team, signed_in: SignIn, shot: Screenshot
) -> None:
    approval = create(service, summary="Raise the card limit of account 7731", **chain(team))
    decide_as(service, team.lead, approval["id"], decision="approve")  # step 2 is open
    requester = team.finance[2]

    page = signed_in(requester, approval["reviewUrl"])
    expect(page.locator("#requested-by")).to_contain_text(f"Requested by {requester.name}")
    expect(page.locator("#on-behalf-of")).to_have_text(requester.name)
    expect(page.locator("#step-2")).to_contain_text("Open now")
    expect(page.locator("#decision-refusal")).to_have_text(
        f"You cannot decide this approval. {requester.name} requested this approval "
        f"({requester.name}); someone else must decide it."
    )
    expect(page.locator("#decide-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    shot(page)

    # Posting the decision anyway (the form of the page, crafted) changes nothing.
    csrf = page.locator("form.signout input[name=csrf]").input_value()
    tried = page.context.request.post(
        f"{service.url}/review/{approval['id']}/decision",
        form={"csrf": csrf, "decision": "reject"},
        max_redirects=0,
    )
    assert tried.status == 403
    assert "requested this approval" in tried.text()
    after = read(service, approval["id"])
    assert after["status"] == "PENDING"
    assert [a["reviewer"] for a in after["approvals"]] == [team.lead.name]


def test_options_as_radios_and_a_reason_code_picker(
    service: ServiceProcess, team: Team, signed_in: SignIn, shot: Screenshot
) -> None:
    fin1, fin2, _ = team.finance
    options = ["full refund", "partial refund", "store credit"]
    codes = ["customer_request", "damaged_goods", "goodwill"]
    approval = create(
        service,
        summary="Settle complaint 5512",
        groups=[team.finance_group],
        requiredApprovals=2,
        options=options,
        reasonCodes=codes,
    )

    page = signed_in(fin1, approval["reviewUrl"])
    radios = page.get_by_role("radio")
    expect(radios).to_have_count(3)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("group", name="Choose one")).to_be_visible()
    for radio in radios.all():
        expect(radio).not_to_be_checked()
    page.get_by_role("radio", name="store credit").check()
    page.get_by_role("radio", name="partial refund").check()  # one only: it replaces
    expect(page.get_by_role("radio", name="store credit")).not_to_be_checked()
    reason = page.get_by_label(re.compile("^Reason"))
    expect(reason.locator("option")).to_have_text(["No reason code", *codes])
    reason.select_option("damaged_goods")
    assert unlabelled_controls(page) == []
    shot(page, "choosing")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#approvals")).to_contain_text(
        f"{fin1.name} approved, choosing partial refund, reason damaged_goods."
    )

    # The next reviewer finds the choice made so far already selected.
    other = signed_in(fin2, approval["reviewUrl"])
    expect(other.get_by_role("radio", name="partial refund")).to_be_checked()
    expect(other.get_by_role("radio", name="full refund")).not_to_be_checked()
    other.get_by_label(re.compile("^Reason")).select_option("customer_request")
    other.get_by_role("button", name="Approve", exact=True).click()
    expect(other.locator(".verdict")).to_contain_text(f"Approved by {fin2.name}")
    expect(other.locator("#chosen-options")).to_have_text("partial refund")
    expect(other.locator("#reason-code-given")).to_have_text("customer_request")
    shot(other)

    decided = read(service, approval["id"])
    assert decided["status"] == "APPROVED"
    assert decided["chosenOptions"] == ["partial refund"]
    assert decided["reasonCode"] == "customer_request"

    # With ``multiple``, the options are checkboxes and several may be chosen.
    several = create(
        service, summary="Notify the teams", options=["email", "chat", "pager"], multiple=True
    )
    page.goto(several["reviewUrl"])
    expect(page.get_by_role("checkbox")).to_have_count(3)
    expect(page.get_by_role("radio")).to_have_count(0)
    expect(page.get_by_role("group", name="Choose one or more")).to_be_visible()
    page.get_by_role("checkbox", name="email").check()
    page.get_by_role("checkbox", name="pager").check()
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#chosen-options")).to_have_text("email, pager")
    assert read(service, several["id"])["chosenOptions"] == ["email", "pager"]


SCHEMA = {
    "type": "object",
    "properties": {
        "orderId": {"type": "string"},
        "amount": {"type": "number", "minimum": 0, "maximum": 500},
        "currency": {"enum": ["USD", "EUR"]},
    },
    "required": ["orderId", "amount", "currency"],
}


def test_a_schema_breaking_edit_shows_the_field_error_before_sending(
    service: ServiceProcess, signed_in: SignIn, browser: Browser, shot: Screenshot
) -> None:
    approval = create(
        service,
        summary="Refund order 9120",
        details={"orderId": "9120", "amount": 120, "currency": "USD"},
        detailsSchema=SCHEMA,
    )
    alice = Person(REVIEWER, REVIEWER_TOKEN)
    page = signed_in(alice, approval["reviewUrl"])
    sent: list[str] = []
    page.on(
        "request",
        lambda r: sent.append(r.url) if r.method == "POST" and "/decision" in r.url else None,
    )

    page.get_by_text("Edit the details before approving").click()
    editor = page.get_by_label("Details to approve (JSON)")
    editor.fill('{"orderId": "9120", "amount": -5, "currency": "GBP"}')
    problems = page.locator("#schema-check li")
    expect(problems).to_have_text(
        [
            "modifiedDetails.amount: -5 is less than the minimum of 0",
            "modifiedDetails.currency: 'GBP' is not one of ['USD', 'EUR']",
        ]
    )
    expect(page.locator("#edited-status")).to_contain_text("breaks this approval's schema")
    expect(editor).to_have_attribute("aria-invalid", "true")
    approve_edited = page.get_by_role("button", name="Approve with these edits")
    expect(approve_edited).to_be_disabled()
    shot(page, "invalid")

    editor.fill('{"orderId": "9120", "amount": 60, "currency": "USD"}')
    expect(problems).to_have_count(0)
    expect(page.locator("#edited-status")).to_have_text("Valid JSON, 1 change:")
    expect(approve_edited).to_be_enabled()
    assert sent == []  # all of it before anything was sent
    assert read(service, approval["id"])["status"] == "PENDING"

    # A browser without JavaScript sends the invalid edit: the 422 names the field.
    bare = browser.new_context(java_script_enabled=False)
    try:
        plain = bare.new_page()
        sign_in(plain, approval["reviewUrl"], alice.token)
        plain.get_by_text("Edit the details before approving").click()
        plain.get_by_label("Details to approve (JSON)").fill(
            '{"orderId": "9120", "amount": 900, "currency": "USD"}'
        )
        with plain.expect_response(re.compile(r"/decision$")) as answered:
            plain.get_by_role("button", name="Approve with these edits").click()
        assert answered.value.status == 422
        expect(plain.locator("#decision-error")).to_have_text(
            "Not recorded: modifiedDetails.amount: 900 is greater than the maximum of 500."
        )
        # The edit is kept, with the same message next to it, to fix and send again.
        expect(plain.get_by_label("Details to approve (JSON)")).to_have_value(
            '{"orderId": "9120", "amount": 900, "currency": "USD"}'
        )
        expect(plain.locator("#schema-check li")).to_have_text(
            ["modifiedDetails.amount: 900 is greater than the maximum of 500"]
        )
        shot(plain, "refused")
    finally:
        bare.close()
    assert read(service, approval["id"])["status"] == "PENDING"

    approve_edited.click()  # the valid edit, from the page with JavaScript
    expect(page.locator(".verdict")).to_contain_text(f"Approved with edited details by {REVIEWER}")
    assert read(service, approval["id"])["modifiedDetails"] == {
        "orderId": "9120",
        "amount": 60,
        "currency": "USD",
    }


@BOTH_DATABASES
def test_inbox_shows_waiting_for_you_to_finance_only_once_step_two_opens(
    service: ServiceProcess, team: Team, signed_in: SignIn, shot: Screenshot
) -> None:
    action = f"pay_invoice_{tag()}"
    approval = create(service, action=action, summary="Pay invoice INV-3310", **chain(team))
    row = f"#row-{approval['id']}"
    inbox = f"{service.url}/inbox?action={action}"
    fin1 = team.finance[0]

    lead = signed_in(team.lead, inbox)
    expect(lead.locator(f"#waiting-rows {row}")).to_be_visible()
    expect(lead.locator(f"#waiting-rows {row}")).to_contain_text(
        f"Step 1 of 2: group {team.leads_group}, 0 of 1 approval"
    )

    page = signed_in(fin1, inbox)
    expect(page.locator(f"#rows {row}")).to_be_visible()  # pending, not theirs yet
    expect(page.locator("#waiting-rows tr[data-id]")).to_have_count(0)
    expect(page.locator("#waiting-count")).to_have_text("Nothing waiting for you.")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    page.evaluate("window.notReloaded = true")
    requester = signed_in(team.finance[2], inbox)
    shot(page, "before")

    decide_as(service, team.lead, approval["id"], decision="approve")
    waiting = page.locator(f"#waiting-rows {row}")
    expect(waiting).to_be_visible()
    expect(waiting).to_contain_text(f"Step 2 of 2: group {team.finance_group}, 0 of 2 approvals")
    expect(page.locator(f"#rows {row}")).to_have_count(0)
    expect(page.locator("#waiting-count")).to_have_text("1 approval waiting for you.")
    expect(page.locator("#announce")).to_have_text("1 approval is now waiting for you.")
    assert page.evaluate("window.notReloaded") is True
    shot(page, "after")

    # Not for the lead any more, and never for the one who asked.
    lead.reload()
    expect(lead.locator(f"#rows {row}")).to_be_visible()
    expect(lead.locator("#waiting-rows tr[data-id]")).to_have_count(0)
    requester.reload()
    expect(requester.locator(f"#rows {row}")).to_be_visible()
    expect(requester.locator("#waiting-rows tr[data-id]")).to_have_count(0)

    # Once fin1 has approved, it waits only for the others of finance.
    decide_as(service, fin1, approval["id"], decision="approve")
    expect(page.locator(f"#rows {row}")).to_be_visible()
    expect(page.locator("#waiting-rows tr[data-id]")).to_have_count(0)
    other = signed_in(team.finance[1], inbox)
    expect(other.locator(f"#waiting-rows {row}")).to_contain_text("1 of 2 approvals")


@BOTH_DATABASES
def test_history_filters_by_reviewer_and_by_group(
    service: ServiceProcess, team: Team, signed_in: SignIn, shot: Screenshot
) -> None:
    fin1, fin2, _ = team.finance
    ops_group = f"ops-{tag()}"
    ops = add_reviewer(service, f"ops-{tag()}", ops_group)
    chained = create(service, summary="Close the books for May", **chain(team))
    decide_as(service, team.lead, chained["id"], decision="approve")
    decide_as(service, fin1, chained["id"], decision="approve", note="Checked.")
    decide_as(service, fin2, chained["id"], decision="approve")
    by_ops = create(service, summary="Restart the ledger service", groups=[ops_group])
    decide_as(service, ops, by_ops["id"], decision="reject", note="Not during close.")
    rejected_by_fin1 = create(service, summary="Write off 42 EUR", groups=[team.finance_group])
    decide_as(service, fin1, rejected_by_fin1["id"], decision="reject")

    page = signed_in(fin1, f"{service.url}/history")
    entries = page.locator("ol.history > li.entry")

    # By reviewer: what they decided, and what they approved without deciding it.
    page.get_by_label(re.compile("^Reviewer")).select_option(fin1.name)
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"reviewer={re.escape(fin1.name)}"))
    expect(entries).to_have_count(2)
    expect(page.locator(f"#entry-{chained['id']}")).to_contain_text(f"Approved by {fin2.name}")
    expect(page.locator(f"#entry-{chained['id']}")).to_contain_text(
        f"Approvals: {team.lead.name} (step 1), {fin1.name} (step 2), {fin2.name} (step 2)"
    )
    expect(page.locator(f"#entry-{rejected_by_fin1['id']}")).to_contain_text(
        f"Rejected by {fin1.name}"
    )

    # By group: approvals whose steps name it.
    page.get_by_label(re.compile("^Reviewer")).select_option("")
    page.get_by_label(re.compile("^Group")).select_option(team.finance_group)
    page.get_by_role("button", name="Apply").click()
    expect(entries).to_have_count(2)
    expect(page.locator(f"#entry-{chained['id']}")).to_be_visible()
    expect(page.locator(f"#entry-{rejected_by_fin1['id']}")).to_be_visible()

    page.get_by_label(re.compile("^Group")).select_option(team.leads_group)
    page.get_by_role("button", name="Apply").click()
    expect(entries).to_have_count(1)
    expect(entries.first).to_have_id(f"entry-{chained['id']}")

    page.get_by_label(re.compile("^Group")).select_option(ops_group)
    page.get_by_role("button", name="Apply").click()
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text(f"Rejected by {ops.name}")
    expect(page.get_by_label(re.compile("^Group"))).to_have_value(ops_group)

    # Both at once: fin1 within the ops group's approvals is nothing.
    page.get_by_label(re.compile("^Reviewer")).select_option(fin1.name)
    page.get_by_role("button", name="Apply").click()
    expect(entries).to_have_count(0)
    expect(page.locator("p.count")).to_have_text("0 decisions.")
    assert unlabelled_controls(page) == []
    shot(page)


def test_an_edit_supersedes_the_approvals_before_it_and_the_page_marks_them(
    service: ServiceProcess, team: Team, signed_in: SignIn
) -> None:
    fin1, fin2, _ = team.finance
    approval = create(
        service, summary="Move 3,000 EUR", groups=[team.finance_group], requiredApprovals=2
    )
    decide_as(service, fin1, approval["id"], decision="approve", note="Looks right.")

    page = signed_in(fin2, approval["reviewUrl"])
    page.get_by_text("Edit the details before approving").click()
    page.get_by_label("Details to approve (JSON)").fill(
        '{"orderId": "8842", "amount": 100, "currency": "USD"}'
    )
    page.get_by_role("button", name="Approve with these edits").click()
    recorded = page.locator("#approvals li")
    expect(recorded).to_have_count(2)
    expect(recorded.nth(0)).to_have_class(re.compile(r"\bsuperseded\b"))
    expect(recorded.nth(0)).to_contain_text("Superseded")
    expect(recorded.nth(1)).to_contain_text(f"{fin2.name} approved, editing the details.")
    expect(recorded.nth(1)).not_to_contain_text("Superseded")
    expect(page.locator("#step-1")).to_contain_text(f"Approved by {fin2.name} (1 of 2)")

    # The count started again: fin1 may approve the edited details anew.
    # What they approve now is the edited details, and the page shows them as such.
    again = signed_in(fin1, approval["reviewUrl"])
    expect(again.locator("#decision-refusal")).to_have_count(0)
    expect(again.locator("#edited-so-far")).to_contain_text("Edited during review (1 change)")
    expect(again.locator("#details-title + p + table.changes")).to_contain_text("amount")
    expect(again.locator("pre.json")).to_contain_text('"amount": 100')
    again.get_by_role("button", name="Approve", exact=True).click()
    expect(again.locator(".verdict")).to_contain_text(
        f"Approved with edited details by {fin1.name}"
    )
    decided = read(service, approval["id"])
    assert decided["modifiedDetails"] == {"orderId": "8842", "amount": 100, "currency": "USD"}
    assert [(a["reviewer"], a["counted"]) for a in decided["approvals"]] == [
        (fin1.name, False),
        (fin2.name, True),
        (fin1.name, True),
    ]
