"""Signed decision links, end to end: the service emails reviewers through a real SMTP
server (``tests/mailbox.py``), real headless Chromium opens the link from the email's
text, confirms, and the approval is decided as the link's reviewer; a link works once,
never decides on GET, and refuses when changed, expired, or its reviewer may not decide.
The races run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, API_KEY, REVIEWER_TOKEN, StartService, launcher
from tests.e2e.conftest import Screenshot, create, read, sign_in, unlabelled_controls
from tests.mailbox import Mail, Mailbox, mailbox
from tests.pg import fresh_database


@pytest.fixture(scope="module")
def box() -> Iterator[Mailbox]:
    with mailbox() as found:
        yield found


@pytest.fixture(scope="module")
def service(box: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The module's service on SQLite, sending its email to the module's mailbox."""
    with launcher(tmp_path_factory.mktemp("service")) as start:
        yield start(None, "--smtp-url", box.url)


@pytest.fixture(scope="module")
def pg_database(pg_server: str) -> Iterator[str]:
    """A PostgreSQL database for the module's races (dropped after Chromium closes)."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture(scope="module")
def browser(pg_database: str, browser: Browser) -> Browser:
    """The shared Chromium, started after the PostgreSQL database is made: Playwright's
    sync API keeps an event loop running, and the database helpers start their own."""
    return browser


@dataclass(frozen=True)
class Team:
    group: str
    alice: str
    bob: str

    def email(self, name: str) -> str:
        return f"{name}@example.com"


def tag() -> str:
    """The module shares one service and one mailbox: each test has people of its own."""
    return uuid.uuid4().hex[:6]


def add_reviewer(service: ServiceProcess, name: str, *groups: str) -> str:
    made = httpx.post(
        f"{service.url}/api/reviewers",
        json={"name": name, "email": f"{name}@example.com", "groups": list(groups)},
        headers={"x-api-key": ADMIN_KEY},
    )
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


def team_of(service: ServiceProcess) -> Team:
    """Two finance reviewers with email addresses (a finance group of this test's own)."""
    t = tag()
    team = Team(group=f"finance-{t}", alice=f"alice-{t}", bob=f"bob-{t}")
    add_reviewer(service, team.alice, team.group)
    add_reviewer(service, team.bob, team.group)
    return team


def ask(service: ServiceProcess, team: Team, **fields: Any) -> dict[str, Any]:
    """An approval for the team's group, asked for by carol (who is no reviewer here)."""
    return create(service, groups=[team.group], requestedBy="carol", **fields)


def mails_to(box: Mailbox, address: str, count: int = 1) -> list[Mail]:
    """The mail ``address`` has had, once there are ``count`` (waits for them to arrive)."""
    with box.arrived:
        box.arrived.wait_for(lambda: sum(address in m.to for m in box.mails) >= count, 30)
    found = box.to(address)
    assert len(found) >= count, f"{address} has {len(found)} messages, not {count}"
    return found


def link_for(box: Mailbox, address: str, decision: str = "approve", approval_id: str = "") -> str:
    """The decision link of the first email to ``address`` about ``approval_id``."""
    for mail in mails_to(box, address):
        if approval_id in mail.text:
            return mail.link(decision)
    raise AssertionError(f"no email to {address} about {approval_id}")


def token_of(link: str) -> str:
    return urlsplit(link).path.removeprefix("/l/")


def post_link(link: str, decision: str, **fields: Any) -> httpx.Response:
    """What the link's form sends (the token echoed in ``link``), as the browser would."""
    url = link.split("?", 1)[0]
    body = {"link": token_of(link), "decision": decision, **fields}
    return httpx.post(url, data=body, follow_redirects=False)


def test_an_emailed_link_confirms_then_approves_once(
    service: ServiceProcess, box: Mailbox, page: Page, shot: Screenshot
) -> None:
    team = team_of(service)
    approval = ask(
        service,
        team,
        summary="Refund $120.00 for order #8842",
        justification="The parcel never arrived.",
        details={"orderId": "8842", "amount": 120.0, "currency": "USD"},
    )
    (to_alice,) = mails_to(box, team.email(team.alice))
    (to_bob,) = mails_to(box, team.email(team.bob))
    assert "Approval needed" in to_alice.subject and "Approval needed" in to_bob.subject
    link = to_alice.link("approve")
    assert link != to_bob.link("approve")  # each reviewer has a link of their own

    opened = page.goto(link)
    assert opened is not None and opened.status == 200
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in opened.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_have_text(approval["summary"])
    expect(page.locator("#deciding-as")).to_contain_text(f"You are deciding as {team.alice}")
    expect(page.locator("#details")).to_contain_text('"orderId": "8842"')
    expect(page.locator("#details")).to_contain_text("120.0")
    expect(page.locator("#risk")).to_have_text("High")
    expect(page.locator("#requested-by")).to_have_text("carol")
    expect(page.locator("#time-left")).to_contain_text("left")
    expect(page.get_by_text("The parcel never arrived.")).to_be_visible()
    expect(page.locator("#approve")).to_have_class(re.compile(r"\bchosen\b"))  # from the email
    expect(page.locator("#reject")).not_to_have_class(re.compile(r"\bchosen\b"))
    assert unlabelled_controls(page) == []
    assert read(service, approval["id"])["status"] == "PENDING"  # opening decided nothing
    shot(page, "confirm")

    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile(r"/l/[^/]+/done$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Approved — recorded as {team.alice}"
    )
    decided = read(service, approval["id"])
    assert decided["status"] == "APPROVED"
    assert decided["decidedBy"] == team.alice
    assert [a["reviewer"] for a in decided["approvals"]] == [team.alice]
    shot(page, "done")
    page.reload()  # the result page decides nothing again
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Approved — recorded as {team.alice}"
    )

    _, told = mails_to(box, team.email(team.bob), 2)
    assert f"Approved by {team.alice}" in told.subject
    assert len(box.to(team.email(team.alice))) == 1  # the decider is not told their own

    again = page.goto(link)
    assert again is not None and again.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This approval is already decided")
    expect(page.locator("#link-message")).to_contain_text(f"already decided by {team.alice}")
    expect(page.locator("#review-link")).to_have_attribute("href", f"/review/{approval['id']}")
    expect(page.locator("#decide-form")).to_have_count(0)
    shot(page, "used")
    # Bob's link stopped working with the decision too.
    later = page.goto(to_bob.link("reject"))
    assert later is not None and later.status == 410

    token = token_of(link)
    at = len(token) // 3
    changed = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    tampered = page.goto(link.replace(token, changed))
    assert tampered is not None and tampered.status == 404
    assert tampered.headers["referrer-policy"] == "no-referrer"
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")
    expect(page.locator("#link-message")).to_contain_text("changed")
    shot(page, "tampered")


def test_the_link_used_twice_says_so_and_the_review_page_lists_notifications(
    service: ServiceProcess, box: Mailbox, page: Page, shot: Screenshot
) -> None:
    team = team_of(service)
    approval = ask(service, team, requiredApprovals=2)
    link = link_for(box, team.email(team.alice), "approve", approval["id"])
    assert post_link(link, "approve").status_code == 303
    state = read(service, approval["id"])
    assert state["status"] == "PENDING"
    assert [a["reviewer"] for a in state["approvals"]] == [team.alice]

    done = page.goto(link.split("?", 1)[0] + "/done")
    assert done is not None and done.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Approved — recorded as {team.alice}"
    )
    expect(page.locator("#link-waiting")).to_contain_text("1 of 2 approvals")

    used = page.goto(link)
    assert used is not None and used.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This link was already used")
    expect(page.locator("#review-link")).to_have_attribute("href", f"/review/{approval['id']}")
    again = post_link(link, "approve")
    assert again.status_code == 410 and "already used" in again.text
    assert len(read(service, approval["id"])["approvals"]) == 1

    sign_in(page, approval["reviewUrl"], REVIEWER_TOKEN)
    section = page.locator("#notifications")
    for name in (team.alice, team.bob):
        item = section.locator(".notification", has_text=name)
        expect(item).to_have_count(1)
        expect(item).to_contain_text(f"email to {name}")
        expect(item).to_contain_text(team.email(name))
        expect(item).to_contain_text("asked to decide")
        expect(item).to_contain_text("1 attempt")
        expect(item.locator(".state")).to_have_text("delivered")
    shot(page)


def test_the_review_page_shows_a_notification_that_failed(
    service: ServiceProcess, box: Mailbox, page: Page, shot: Screenshot
) -> None:
    team = team_of(service)
    box.refuse = True  # the relay answers 451: the service retries
    try:
        approval = ask(service, team)
        url = f"{service.url}/api/approvals/{approval['id']}/notifications"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until a refused attempt is recorded
            found = httpx.get(url, headers={"x-api-key": API_KEY}).json()["data"]
            if any(a.get("error") for n in found for a in n["attempts"]):
                break
            time.sleep(0.1)
        sign_in(page, approval["reviewUrl"], REVIEWER_TOKEN)
        failed = page.locator("#notifications .notification-error").first
        expect(failed).to_contain_text("Last error")
        expect(failed).to_contain_text("451")
        shot(page)
    finally:
        box.refuse = False


def test_a_reject_link_rejects_with_a_note_an_option_picker_and_a_reason(
    service: ServiceProcess, box: Mailbox, page: Page, shot: Screenshot
) -> None:
    team = team_of(service)
    approval = ask(
        service,
        team,
        options=["full", "partial"],
        reasonCodes=["fraud", "duplicate"],
        summary="Refund order #9911",
    )
    link = link_for(box, team.email(team.bob), "reject", approval["id"])
    page.goto(link)
    expect(page.locator("#deciding-as")).to_contain_text(team.bob)
    expect(page.locator("#reject")).to_have_class(re.compile(r"\bchosen\b"))
    expect(page.locator("#preselected")).to_contain_text("Reject")
    expect(page.get_by_role("radio", name="full")).to_be_visible()
    expect(page.get_by_role("radio", name="partial")).to_be_visible()
    page.get_by_label("Reason").select_option("duplicate")
    page.get_by_label("Note").fill("Refunded twice already.")
    assert unlabelled_controls(page) == []
    shot(page, "confirm")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Rejected — recorded as {team.bob}")
    expect(page.locator("blockquote.note")).to_have_text("Refunded twice already.")
    decided = read(service, approval["id"])
    assert decided["status"] == "REJECTED"
    assert decided["decidedBy"] == team.bob
    assert decided["decisionNote"] == "Refunded twice already."
    assert decided["reasonCode"] == "duplicate"
    shot(page, "done")


def test_a_bad_option_is_refused_on_the_page_and_nothing_is_decided(
    service: ServiceProcess, box: Mailbox, page: Page
) -> None:
    team = team_of(service)
    approval = ask(service, team, options=["full", "partial"], multiple=False)
    link = link_for(box, team.email(team.alice), "approve", approval["id"])
    answer = post_link(link, "approve", chosen_options="all of it")
    assert answer.status_code == 422
    assert "Not recorded" in answer.text
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert read(service, approval["id"])["status"] == "PENDING"

    page.goto(link)
    page.get_by_role("radio", name="partial").check()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Approved — recorded as {team.alice}"
    )
    decided = read(service, approval["id"])
    assert decided["status"] == "APPROVED" and decided["chosenOptions"] == ["partial"]


def test_opening_a_link_never_decides(service: ServiceProcess, box: Mailbox) -> None:
    """Mail scanners and chat previews open links, some more than once; some POST."""
    team = team_of(service)
    approval = ask(service, team)
    link = link_for(box, team.email(team.alice), "approve", approval["id"])
    base = link.split("?", 1)[0]
    for url in (f"{base}?decision=approve", f"{base}?decision=reject", base) * 2:
        opened = httpx.get(url)
        assert opened.status_code == 200
        assert "You are deciding as" in opened.text
        head = httpx.head(url)
        assert head.status_code in (200, 405)
    # A POST that only hits the URL (no echoed token), or echoes another: nothing done.
    bare = httpx.post(link, follow_redirects=False)
    assert bare.status_code == 403 and "Nothing was decided" in bare.text
    wrong = httpx.post(link, data={"link": "x", "decision": "approve"}, follow_redirects=False)
    assert wrong.status_code == 403
    no_choice = post_link(link, "")
    assert no_choice.status_code == 400 and "Choose Approve or Reject" in no_choice.text
    state = read(service, approval["id"])
    assert state["status"] == "PENDING" and state["approvals"] == []


def test_a_deactivated_reviewers_link_is_refused(
    service: ServiceProcess, box: Mailbox, page: Page, shot: Screenshot
) -> None:
    team = team_of(service)
    approval = ask(service, team)
    link = link_for(box, team.email(team.bob), "approve", approval["id"])
    patched = httpx.patch(
        f"{service.url}/api/reviewers/{team.bob}",
        json={"active": False},
        headers={"x-api-key": ADMIN_KEY},
    )
    assert patched.status_code == 200, patched.text

    opened = page.goto(link)
    assert opened is not None and opened.status == 403
    expect(page.locator("#decision-refusal")).to_contain_text("You cannot decide this approval")
    expect(page.locator("#decision-refusal")).to_contain_text(f"{team.bob} is deactivated")
    expect(page.locator("#decide-form")).to_have_count(0)
    shot(page)
    posted = post_link(link, "approve")
    assert posted.status_code == 403
    assert "Not recorded" in posted.text and "deactivated" in posted.text
    state = read(service, approval["id"])
    assert state["status"] == "PENDING" and state["approvals"] == []


def test_an_expired_link_is_refused(start_service: StartService, page: Page) -> None:
    with mailbox() as own_box:
        short = start_service(None, "--smtp-url", own_box.url, "--decision-link-ttl", "1")
        team = team_of(short)
        approval = ask(short, team)
        link = link_for(own_box, team.email(team.alice), "approve", approval["id"])
        time.sleep(2.0)  # past the link's one second (a wait, not a claim about time)
        opened = page.goto(link)
        assert opened is not None and opened.status == 410
        expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired")
        expect(page.locator("#decide-form")).to_have_count(0)
        posted = post_link(link, "approve")
        assert posted.status_code == 410 and "expired" in posted.text
        assert read(short, approval["id"])["status"] == "PENDING"


def race(*posts: tuple[str, str]) -> list[httpx.Response]:
    """Every (link, decision) POSTed at once, from threads of their own."""
    start = threading.Barrier(len(posts))
    answers: list[httpx.Response | None] = [None] * len(posts)

    def send(index: int, link: str, decision: str) -> None:
        start.wait()
        answers[index] = post_link(link, decision)

    threads = [threading.Thread(target=send, args=(i, *p)) for i, p in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_links_posted_at_once_decide_once(
    backend: str, start_service: StartService, request: pytest.FixtureRequest
) -> None:
    db = request.getfixturevalue("pg_database") if backend == "postgresql" else None
    with mailbox() as own_box:
        service = start_service(db, "--smtp-url", own_box.url)
        team = team_of(service)

        # One link, twenty times at once, on a step that needs two approvals.
        two = ask(service, team, requiredApprovals=2)
        link = link_for(own_box, team.email(team.alice), "approve", two["id"])
        answers = race(*[(link, "approve")] * 20)
        codes = sorted(a.status_code for a in answers)
        assert codes == [303] + [410] * 19, codes
        assert all("already used" in a.text for a in answers if a.status_code == 410)
        state = read(service, two["id"])
        assert state["status"] == "PENDING"
        assert [a["reviewer"] for a in state["approvals"]] == [team.alice]

        # Two reviewers' links at once, for one approval: one decision wins.
        one = ask(service, team)
        alice = link_for(own_box, team.email(team.alice), "approve", one["id"])
        bob = link_for(own_box, team.email(team.bob), "reject", one["id"])
        first, second = race((alice, "approve"), (bob, "reject"))
        assert sorted([first.status_code, second.status_code]) == [303, 409]
        lost = first if first.status_code == 409 else second
        assert "already decided" in lost.text
        decided = read(service, one["id"])
        winner = team.alice if first.status_code == 303 else team.bob
        assert decided["decidedBy"] == winner
        assert decided["status"] == ("APPROVED" if winner == team.alice else "REJECTED")
        assert len(decided["approvals"]) == (1 if winner == team.alice else 0)
