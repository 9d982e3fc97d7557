"""Notifications against the real service, over real sockets: email to a real SMTP server
(aiosmtpd, tests/mailbox.py), chat and push through Apprise to a local HTTP receiver.

Who is told when (created, next step, SLA breach, reminders, decided), what each message
says, that a target the service may not reach fails once and is not retried, that a
refusing mail server is retried (451) or given up (550), and that no message is lost or
sent twice across a kill -9 or under concurrent creates and decisions, on SQLite and on
PostgreSQL. Nothing is mocked; nothing is timed: every wait polls until a deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import httpx
import pytest

from signoff.server.process import ServiceProcess, free_port
from tests.conftest import ADMIN_KEY, API_KEY, StartService, launcher
from tests.mailbox import Mail, Mailbox, mailbox
from tests.receiver import Received, receiver

ADMIN = {"x-api-key": ADMIN_KEY}
PIPELINE = {"x-api-key": API_KEY}
T = TypeVar("T")


def until(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 60.0) -> T:
    """``read()`` again until ``done`` holds of it or the deadline passes; the last value
    (the caller asserts on it, so a miss shows what was there)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def add_reviewer(
    url: str,
    name: str,
    email: str | None = None,
    groups: tuple[str, ...] = (),
    notify: tuple[str, ...] = (),
) -> str:
    """A reviewer made with the admin key; their token (shown once)."""
    body: dict[str, Any] = {"name": name, "groups": list(groups), "notify": list(notify)}
    if email:
        body["email"] = email
    made = httpx.post(f"{url}/api/reviewers", json=body, headers=ADMIN, timeout=30)
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


def submit(url: str, **fields: Any) -> str:
    body = {"action": "refund_batch", "summary": "Refunds", "details": {"amount": 120}}
    made = httpx.post(
        f"{url}/api/approvals/request", json={**body, **fields}, headers=PIPELINE, timeout=30
    )
    assert made.status_code == 201, made.text
    approval_id: str = made.json()["id"]
    return approval_id


def read(url: str, approval_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/approvals/{approval_id}", headers=PIPELINE, timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def decide(url: str, token: str, approval_id: str, decision: str = "approve") -> httpx.Response:
    return httpx.post(
        f"{url}/api/approvals/{approval_id}/decision",
        json={"decision": decision},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def listing(url: str, approval_id: str) -> list[dict[str, Any]]:
    """``GET /api/approvals/{id}/notifications``: what was queued, and what became of it."""
    answer = httpx.get(
        f"{url}/api/approvals/{approval_id}/notifications", headers=PIPELINE, timeout=30
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


def settled(url: str, approval_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The listing once no notification of the approval is pending any more."""
    rows = until(
        lambda: listing(url, approval_id),
        lambda rows: all(row["state"] != "pending" for row in rows),
        timeout,
    )
    assert all(row["state"] != "pending" for row in rows), rows
    return rows


def apply(url: str, document: dict[str, Any]) -> httpx.Response:
    return httpx.put(f"{url}/api/policies", json={"document": document}, headers=ADMIN, timeout=30)


def told(rows: list[dict[str, Any]], reason: str | None = None) -> set[tuple[str, str]]:
    """(kind, to) of the rows, of one reason if given."""
    return {(r["kind"], r["to"]) for r in rows if reason is None or r["reason"] == reason}


def approval_of(mail: Mail) -> str:
    """The approval a message is about: its review link names it."""
    found = re.search(r"/review/(req_[A-Za-z0-9]+)", mail.text)
    assert found, mail.text
    return found.group(1)


def json_posts(hook: Any, path: str) -> list[dict[str, Any]]:
    """Apprise's json:// bodies the receiver got on ``path``."""
    received: list[Received] = list(hook.received)
    return [json.loads(r.body) for r in received if r.path == path]


@pytest.fixture(scope="module")
def box() -> Iterator[Mailbox]:
    """The mail server of the module's mailing service (tests share it: each reads the
    messages of its own addresses)."""
    with mailbox() as found:
        yield found


@pytest.fixture(scope="module")
def mailed(box: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The service on SQLite with ``--smtp-url`` (tests name their own reviewers)."""
    with launcher(tmp_path_factory.mktemp("mailed")) as start:
        yield start(None, "--smtp-url", box.url)


def mails_to(box: Mailbox, address: str, count: int, timeout: float = 60.0) -> list[Mail]:
    """The messages ``address`` got, once there are ``count`` (fewer at the deadline)."""
    return until(lambda: box.to(address), lambda found: len(found) >= count, timeout)


# --- email to a group: content, the requester, who decided --------------------------------


def test_a_group_is_emailed_each_with_own_links_and_the_others_hear_who_decided(
    mailed: ServiceProcess, box: Mailbox
) -> None:
    url = mailed.url
    alice = add_reviewer(url, "alice", "alice@example.com", groups=("finance",))
    add_reviewer(url, "bob", "bob@example.com", groups=("finance",))

    summary = "Refund batch <script>alert(1)</script>"
    first = submit(
        url,
        summary=summary,
        groups=["finance"],
        requestedBy="zed",
        riskLevel="high",
        expiresInSeconds=3 * 3600,
    )
    rows = listing(url, first)  # written with the approval, in its transaction
    assert told(rows) == {("email", "alice@example.com"), ("email", "bob@example.com")}
    assert {r["reviewer"] for r in rows} == {"alice", "bob"}
    assert {r["reason"] for r in rows} == {"requested"}

    (to_alice,) = mails_to(box, "alice@example.com", 1)
    (to_bob,) = mails_to(box, "bob@example.com", 1)
    for mail in (to_alice, to_bob):
        assert mail.subject == f"[signoff] Approval needed: {summary}"
        assert f"Approval needed: {summary}" in mail.text
        assert "Risk: high" in mail.text
        assert "Asked by: zed" in mail.text
        assert re.search(r"Time left: (2 h 59 min|3 h) \(until \d{4}-\d\d-\d\d ", mail.text)
        assert f"Review: {url}/review/{first}" in mail.text
        for decision in ("approve", "reject"):
            assert mail.link(decision).startswith(f"{url}/l/")
        assert mail.message["Auto-Submitted"] == "auto-generated"
        # The requester wrote the summary: the HTML part shows it, never runs it.
        assert "<script>" not in mail.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
        assert f'href="{mail.link("approve")}"' in mail.html
    assert to_alice.link() != to_bob.link()  # each reviewer's own signed link

    # Asked for by bob (one of the group): only alice is told.
    second = submit(url, summary="Asked by bob", groups=["finance"], requestedBy="bob")
    assert told(listing(url, second)) == {("email", "alice@example.com")}

    # alice decides the first: bob hears who decided, alice (the decider) nothing.
    decided = decide(url, alice, first)
    assert decided.status_code == 200 and decided.json()["status"] == "APPROVED"
    assert told(listing(url, first), "decided") == {("email", "bob@example.com")}
    rows = settled(url, first)
    assert {r["state"] for r in rows} == {"delivered"} and len(rows) == 3

    news = until(
        lambda: [m for m in box.to("bob@example.com") if approval_of(m) == first],
        lambda found: len(found) == 2,
    )
    assert len(news) == 2
    assert news[1].subject == f"[signoff] Approved by alice: {summary}"
    assert news[1].text.startswith(f"Approved by alice: {summary}")
    assert "<script>" not in news[1].html
    settled(url, second)
    assert [approval_of(m) for m in box.to("alice@example.com")] == [first, second]
    assert box.to("zed") == []


# --- chat and push through Apprise --------------------------------------------------------


def test_apprise_targets_of_reviewers_and_policy_groups_and_a_blocked_one(
    service: ServiceProcess,
) -> None:
    with receiver() as hook:
        url = service.url
        mine = f"json://127.0.0.1:{hook.port}/carol"
        channel = f"json://127.0.0.1:{hook.port}/ops-channel"
        private = "json://10.1.2.3/x"  # not in --outbound-allow 127.0.0.0/8
        add_reviewer(url, "carol", notify=(mine,))
        add_reviewer(url, "dave", notify=(private,))
        document = {"groups": {"ops": {"members": ["carol", "dave"], "notify": [channel]}}}
        assert apply(url, document).status_code == 200

        approval_id = submit(url, summary="Rotate the keys", groups=["ops"], requestedBy="zed")
        rows = listing(url, approval_id)
        assert told(rows) == {("chat", mine), ("chat", channel), ("chat", private)}
        by_to = {r["to"]: r for r in rows}
        assert by_to[mine]["reviewer"] == "carol" and by_to[mine]["group"] is None
        assert by_to[channel]["group"] == "ops" and by_to[channel]["reviewer"] is None

        hook.wait_for(2)
        (personal,) = json_posts(hook, "/carol")
        assert personal["title"] == "[signoff] Approval needed: Rotate the keys"
        assert "Asked by: zed" in personal["message"]
        assert f"Review: {url}/review/{approval_id}" in personal["message"]
        assert f"Approve: {url}/l/" in personal["message"]  # carol's own decision link
        (shared,) = json_posts(hook, "/ops-channel")
        assert shared["title"] == "[signoff] Approval needed from ops: Rotate the keys"
        assert f"Review: {url}/review/{approval_id}" in shared["message"]
        assert "/l/" not in shared["message"]  # a channel is not a reviewer: no links

        rows = settled(url, approval_id)
        blocked = next(r for r in rows if r["to"] == private)
        assert blocked["state"] == "failed" and blocked["attemptCount"] == 1
        (attempt,) = blocked["attempts"]
        assert attempt["error"].startswith("blocked:") and "10.1.2.3" in attempt["error"]
        assert {r["state"] for r in rows if r["to"] != private} == {"delivered"}
        time.sleep(2)  # many backoffs of 0.2 s: a retry would have happened by now
        again = next(r for r in listing(url, approval_id) if r["to"] == private)
        assert again["attemptCount"] == 1 and again["state"] == "failed"


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("nope://x", "nope:// is not a notification URL Apprise knows"),
        ("not a target", "is not a notification target"),
    ],
)
def test_a_target_nobody_can_send_to_is_refused_when_added(
    service: ServiceProcess, target: str, said: str
) -> None:
    name = f"erin-{uuid.uuid4().hex[:6]}"
    added = httpx.post(
        f"{service.url}/api/reviewers", json={"name": name, "notify": [target]}, headers=ADMIN
    )
    assert added.status_code == 422 and said in added.json()["error"], added.text
    assert httpx.get(f"{service.url}/api/reviewers/{name}", headers=ADMIN).status_code == 404

    add_reviewer(service.url, name)
    patched = httpx.patch(
        f"{service.url}/api/reviewers/{name}", json={"notify": [target]}, headers=ADMIN
    )
    assert patched.status_code == 422 and said in patched.json()["error"], patched.text

    sla = {"within": 60, "notify": [target]}
    for where, document in (
        ("groups.ops.notify", {"groups": {"ops": {"members": [name], "notify": [target]}}}),
        ("policies.0.sla.notify", {"policies": [{"name": "p", "when": "true", "sla": sla}]}),
    ):
        refused = apply(service.url, document)
        assert refused.status_code == 422, refused.text
        (problem,) = refused.json()["problems"]
        # The list (a URL Apprise does not know, found by the service) or its item (not a
        # target at all, found by the file's shape): on the file's line either way.
        assert problem["field"] in (where, f"{where}.0"), problem
        assert said in problem["message"]
    assert target not in httpx.get(f"{service.url}/api/policies", headers=ADMIN).text


# --- steps, reminders, SLA escalation -----------------------------------------------------


def test_the_next_steps_reviewers_are_told_only_once_it_opens(
    mailed: ServiceProcess, box: Mailbox
) -> None:
    url = mailed.url
    lead = add_reviewer(url, "lead", "lead@example.com")
    for name in ("fin-a", "fin-b"):
        add_reviewer(url, name, f"{name}@example.com", groups=("step-finance",))
    approval_id = submit(
        url, summary="Two steps", steps=[{"reviewers": ["lead"]}, {"groups": ["step-finance"]}]
    )
    rows = listing(url, approval_id)
    assert told(rows) == {("email", "lead@example.com")}
    assert rows[0]["reason"] == "requested"
    (first,) = mails_to(box, "lead@example.com", 1)
    assert first.subject == "[signoff] Approval needed: Two steps" and "Step: 1 of 2" in first.text
    settled(url, approval_id)
    assert box.to("fin-a@example.com") == [] and box.to("fin-b@example.com") == []

    step = decide(url, lead, approval_id)
    assert step.status_code == 200 and step.json()["status"] == "PENDING"
    assert told(listing(url, approval_id), "step") == {
        ("email", "fin-a@example.com"),
        ("email", "fin-b@example.com"),
    }
    for name in ("fin-a", "fin-b"):
        (mail,) = mails_to(box, f"{name}@example.com", 1)
        assert mail.subject == "[signoff] Approval needed (next step): Two steps"
        assert "Step: 2 of 2" in mail.text and mail.link().startswith(f"{url}/l/")
    settled(url, approval_id)
    assert len(box.to("lead@example.com")) == 1  # step 1 was theirs, done: nothing more


def test_reminders_while_pending_and_none_once_decided(start_service: StartService) -> None:
    with mailbox() as box:
        service = start_service(
            None, "--smtp-url", box.url, "--remind-after", "1", "--sweep-interval", "0.2"
        )
        url = service.url
        ann = add_reviewer(url, "ann", "ann@example.com", groups=("finance",))
        add_reviewer(url, "ben", "ben@example.com", groups=("finance",))
        approval_id = submit(url, summary="Waits", groups=["finance"])

        def reminded(address: str) -> list[Mail]:
            return [m for m in box.to(address) if m.subject.startswith("[signoff] Reminder")]

        for address in ("ann@example.com", "ben@example.com"):
            found = until(partial(reminded, address), bool)
            assert found and found[0].subject == "[signoff] Reminder: approval still waiting: Waits"
            assert found[0].link().startswith(f"{url}/l/")  # a reminder carries the links too

        assert decide(url, ann, approval_id).json()["status"] == "APPROVED"
        decided_at = read(url, approval_id)["decidedAt"]
        at_decision = listing(url, approval_id)
        time.sleep(3)  # about fifteen sweeps, three reminder periods
        after = listing(url, approval_id)
        assert [r["id"] for r in after] == [r["id"] for r in at_decision]  # nothing new
        reminders = [r for r in after if r["reason"] == "reminder"]
        assert reminders and all(r["createdAt"] < decided_at for r in reminders)
        assert told(after, "decided") == {("email", "ben@example.com")}


def test_a_breached_sla_tells_the_escalation_group_and_its_targets(
    start_service: StartService,
) -> None:
    with mailbox() as box, receiver() as hook:
        service = start_service(None, "--smtp-url", box.url, "--sweep-interval", "0.2")
        url = service.url
        add_reviewer(url, "fin", "fin@example.com")
        add_reviewer(url, "lee", "lee@example.com")
        page = f"json://127.0.0.1:{hook.port}/sla"
        document = {
            "groups": {"finance": {"members": ["fin"]}, "leads": {"members": ["lee"]}},
            "policies": [
                {
                    "name": "refunds",
                    "when": "true",
                    "groups": ["finance"],
                    "sla": {"within": "2s", "escalate_to": ["leads"], "notify": [page]},
                }
            ],
        }
        assert apply(url, document).status_code == 200, "policy refused"
        approval_id = submit(url, summary="Late refund")
        assert told(listing(url, approval_id)) == {("email", "fin@example.com")}

        rows = until(
            lambda: listing(url, approval_id),
            lambda rows: any(r["reason"] == "escalated" for r in rows),
        )
        assert read(url, approval_id)["slaBreachedAt"] is not None
        escalated = [r for r in rows if r["reason"] == "escalated"]
        assert told(escalated) == {
            ("email", "lee@example.com"),
            ("email", "fin@example.com"),  # still waited for: told again
            ("chat", page),
        }
        assert next(r for r in escalated if r["to"] == page)["reviewer"] is None

        (posted,) = hook.wait_for(1)
        body = json.loads(posted.body)
        assert posted.path == "/sla"
        assert body["title"] == "[signoff] SLA breached: approval still waiting: Late refund"
        mails = until(lambda: box.to("lee@example.com"), bool)
        (to_lee,) = mails
        assert to_lee.subject.startswith("[signoff] SLA breached") and to_lee.link()
        settled(url, approval_id)
        assert len(json_posts(hook, "/sla")) == 1  # breached once: told once


# --- which channels: no --smtp-url ----------------------------------------------------------


def test_without_smtp_no_email_is_queued_and_chat_still_works(service: ServiceProcess) -> None:
    with receiver() as hook:
        url = service.url
        chat = f"json://127.0.0.1:{hook.port}/gus"
        add_reviewer(url, "gus", "gus@example.com", groups=("night-ops",), notify=(chat,))
        add_reviewer(url, "hal", "hal@example.com", groups=("night-ops",))
        approval_id = submit(url, groups=["night-ops"])
        rows = settled(url, approval_id)
        assert [(r["kind"], r["to"], r["state"]) for r in rows] == [("chat", chat, "delivered")]
        (posted,) = hook.wait_for(1)
        assert json.loads(posted.body)["title"] == "[signoff] Approval needed: Refunds"


# --- a mail server that refuses ---------------------------------------------------------------


def test_a_mail_server_saying_try_later_is_retried_until_it_takes_it(
    mailed: ServiceProcess, box: Mailbox
) -> None:
    url = mailed.url
    add_reviewer(url, "ivy", "ivy@example.com")
    box.refuse = True  # 451 to every message
    try:
        approval_id = submit(url, reviewers=["ivy"])
        rows = until(lambda: listing(url, approval_id), lambda r: r[0]["attemptCount"] >= 2)
        assert rows[0]["state"] == "pending" and rows[0]["attemptCount"] >= 2
    finally:
        box.refuse = False

    (row,) = settled(url, approval_id)
    assert row["state"] == "delivered" and row["attemptCount"] == len(row["attempts"])
    *refused, taken = row["attempts"]
    assert len(refused) >= 2 and taken["error"] is None
    for attempt in refused:
        assert attempt["error"].startswith("mail server answered 451"), attempt
    assert len(box.to("ivy@example.com")) == 1


def test_a_permanent_refusal_fails_at_once_and_is_not_retried(
    mailed: ServiceProcess, box: Mailbox
) -> None:
    url = mailed.url
    add_reviewer(url, "jay", "jay@example.com")
    box.answer = "550 5.1.1 no such user"
    try:
        approval_id = submit(url, reviewers=["jay"])
        (row,) = settled(url, approval_id)
    finally:
        box.answer = None
    assert row["state"] == "failed" and row["attemptCount"] == 1
    assert row["attempts"][0]["error"].startswith("mail server answered 550")
    assert row["nextAttemptAt"] is None
    time.sleep(2)  # many backoffs of 0.2 s: a retry would have happened by now
    (again,) = listing(url, approval_id)
    assert again["attemptCount"] == 1 and box.to("jay@example.com") == []


# --- never lost, never twice -------------------------------------------------------------------


def test_queued_emails_survive_a_kill_9_and_arrive_exactly_once(
    start_service: StartService, database_url: str | None
) -> None:
    port = free_port()  # no mail server here yet: every first attempt fails
    first = start_service(database_url, "--smtp-url", f"smtp://127.0.0.1:{port}")
    for name in ("kim", "lou"):
        add_reviewer(first.url, name, f"{name}@example.com", groups=("finance",))
    ids = [submit(first.url, summary=f"Refund {n}", groups=["finance"]) for n in range(20)]

    def tried() -> list[dict[str, Any]]:
        return [row for approval_id in ids for row in listing(first.url, approval_id)]

    rows = until(tried, lambda rows: all(r["attemptCount"] >= 1 for r in rows))
    assert len(rows) == 40 and all(r["attemptCount"] >= 1 for r in rows)
    assert {r["state"] for r in rows} == {"pending"}
    assert all(r["attempts"][0]["error"] for r in rows)  # refused: nobody listens
    first.kill()

    with mailbox(port=port) as box:
        second = start_service(database_url, "--smtp-url", box.url)
        box.wait_for(40, timeout=120)  # a row leased by the killed process: after its lease
        final = [row for approval_id in ids for row in settled(second.url, approval_id, 120)]
        mails = list(box.mails)
    assert {r["state"] for r in final} == {"delivered"} and len(final) == 40
    assert len(mails) == 40
    assert len({m.message["Message-ID"] for m in mails}) == 40
    sent = Counter((tuple(m.to), approval_of(m)) for m in mails)
    assert sent == {
        ((f"{name}@example.com",), approval_id): 1 for name in ("kim", "lou") for approval_id in ids
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql x3"])
def test_concurrent_creates_and_decisions_tell_each_person_once(
    start_service: StartService, request: pytest.FixtureRequest, backend: str
) -> None:
    with mailbox() as box:
        if backend == "sqlite":
            processes = [start_service(None, "--smtp-url", box.url)]
        else:
            db = request.getfixturevalue("pg_url")
            processes = [start_service(db, "--smtp-url", box.url) for _ in range(3)]
        urls = [p.url for p in processes]
        group = f"finance-{uuid.uuid4().hex[:6]}"
        tokens = {
            name: add_reviewer(urls[0], name, f"{name}@example.com", groups=(group,))
            for name in ("mia", "ned")
        }
        ids = asyncio.run(create_all(urls, group, 30))
        assert len(set(ids)) == 30

        total = 0
        for n, approval_id in enumerate(ids):
            rows = listing(urls[n % len(urls)], approval_id)
            assert sorted((r["reason"], r["reviewer"]) for r in rows) == [
                ("requested", "mia"),
                ("requested", "ned"),
            ]
            total += len(rows)
        assert total == 60

        answers = asyncio.run(decide_all(urls, ids, tokens))
        winners: dict[str, str] = {}
        for approval_id, by_name in answers.items():
            codes = sorted(code for code, _ in by_name.values())
            assert codes == [200, 409], by_name  # one decides, the other is too late
            (winner,) = [name for name, (code, _) in by_name.items() if code == 200]
            winners[approval_id] = winner
            assert read(urls[0], approval_id)["decidedBy"] == winner

        expected: Counter[tuple[str, str, str]] = Counter()
        for approval_id in ids:
            rows = listing(urls[-1], approval_id)
            other = "ned" if winners[approval_id] == "mia" else "mia"
            decided = [(r["reviewer"], r["to"]) for r in rows if r["reason"] == "decided"]
            assert decided == [(other, f"{other}@example.com")]
            expected.update(
                (f"{name}@example.com", approval_id, "needed") for name in ("mia", "ned")
            )
            expected[(f"{other}@example.com", approval_id, "decided")] += 1

        box.wait_for(90, timeout=120)
        for approval_id in ids:
            settled(urls[0], approval_id)
        mails = list(box.mails)
    got = Counter(
        (m.to[0], approval_of(m), "needed" if "Approval needed" in m.subject else "decided")
        for m in mails
    )
    assert got == expected and len(mails) == 90
    assert len({m.message["Message-ID"] for m in mails}) == 90


async def create_all(urls: list[str], group: str, count: int) -> list[str]:
    """``count`` approvals at once, spread over the processes."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        made = await asyncio.gather(
            *(
                client.post(
                    f"{urls[n % len(urls)]}/api/approvals/request",
                    json={"action": "refund_batch", "summary": f"Refund {n}", "groups": [group]},
                    headers=PIPELINE,
                )
                for n in range(count)
            )
        )
    assert {m.status_code for m in made} == {201}, [m.text for m in made if m.status_code != 201]
    return [m.json()["id"] for m in made]


async def decide_all(
    urls: list[str], ids: list[str], tokens: dict[str, str]
) -> dict[str, dict[str, tuple[int, str]]]:
    """Every reviewer approves every approval at once, spread over the processes; per
    approval, per reviewer, the status and body of the answer."""
    pairs = [(approval_id, name) for approval_id in ids for name in tokens]
    limits = httpx.Limits(max_connections=len(pairs), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{urls[n % len(urls)]}/api/approvals/{approval_id}/decision",
                    json={"decision": "approve"},
                    headers={"Authorization": f"Bearer {tokens[name]}"},
                )
                for n, (approval_id, name) in enumerate(pairs)
            )
        )
    found: dict[str, dict[str, tuple[int, str]]] = {}
    for (approval_id, name), answer in zip(pairs, answers, strict=True):
        found.setdefault(approval_id, {})[name] = (answer.status_code, answer.text)
    return found
