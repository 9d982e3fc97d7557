"""Who may decide, against the real service: reviewers and groups managed with an admin
key, steps and n-of-m, the requester never eligible, options, reason codes and a details
schema; every refusal leaves the approval as it was."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from signoff.client import WebhooksClient
from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, API_KEY, CKO_PREVIOUS_KEY, REVIEWER_TOKEN, StartService
from tests.receiver import Receiver, receiver

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
PIPELINE = {"x-api-key": API_KEY}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


class Team:
    """Reviewers made through the admin API, each with the token it answered once."""

    def __init__(self, service: ServiceProcess) -> None:
        self.url = service.url
        self.tokens: dict[str, str] = {}
        self.prefix = uuid.uuid4().hex[:6]

    def group(self, name: str) -> str:
        return f"{name}-{self.prefix}"

    def add(self, name: str, *groups: str, email: str | None = None) -> str:
        full = f"{name}-{self.prefix}"
        body: dict[str, Any] = {"name": full, "groups": [self.group(g) for g in groups]}
        if email:
            body["email"] = email
        made = httpx.post(f"{self.url}/api/reviewers", json=body, headers=ADMIN)
        assert made.status_code == 201, made.text
        self.tokens[full] = made.json()["token"]
        return full

    def decide(self, name: str, approval_id: str, **body: Any) -> httpx.Response:
        body.setdefault("decision", "approve")
        return httpx.post(
            f"{self.url}/api/approvals/{approval_id}/decision",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[name]}"},
        )


def submit(service: ServiceProcess, **fields: Any) -> httpx.Response:
    body = {"action": "refund_batch", "summary": "Refund 3 orders", "details": {"amount": 120}}
    return httpx.post(
        f"{service.url}/api/approvals/request", json={**body, **fields}, headers=PIPELINE
    )


def created(service: ServiceProcess, **fields: Any) -> str:
    answer = submit(service, **fields)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def read(service: ServiceProcess, approval_id: str) -> dict[str, Any]:
    found = httpx.get(f"{service.url}/api/approvals/{approval_id}", headers=PIPELINE)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def error_of(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and message
    return message


@pytest.fixture
def team(service: ServiceProcess) -> Team:
    return Team(service)


# -- reviewers and groups -----------------------------------------------------------------


def test_reviewers_and_groups_are_managed_with_an_admin_key_only(
    service: ServiceProcess, team: Team
) -> None:
    bob = team.add("bob", "finance", email="bob@example.com")
    assert team.decide(bob, created(service)).status_code == 200  # the token works at once
    listed = httpx.get(f"{service.url}/api/reviewers", headers=ADMIN).json()["data"]
    entry = next(r for r in listed if r["name"] == bob)
    assert entry["groups"] == [team.group("finance")] and entry["email"] == "bob@example.com"
    assert "token" not in entry  # shown once, on add
    assert any(r["name"] == "alice" and r["configured"] for r in listed)  # --reviewer-token

    groups = httpx.get(f"{service.url}/api/groups", headers=ADMIN).json()["data"]
    assert {"name": team.group("finance"), "members": [bob]} in groups

    twice = httpx.post(f"{service.url}/api/reviewers", json={"name": bob}, headers=ADMIN)
    assert twice.status_code == 409 and bob in error_of(twice)
    bad = httpx.post(f"{service.url}/api/reviewers", json={"name": "a b"}, headers=ADMIN)
    assert bad.status_code == 422 and "name" in error_of(bad)
    for key in (f"Bearer {API_KEY}", f"Bearer {REVIEWER_TOKEN}", f"Bearer {team.tokens[bob]}"):
        refused = httpx.post(
            f"{service.url}/api/reviewers",
            json={"name": unique("mallory"), "groups": [team.group("finance")]},
            headers={"Authorization": key},
        )
        assert refused.status_code == 403 and "admin" in error_of(refused)
        moved = httpx.patch(
            f"{service.url}/api/reviewers/{bob}",
            json={"groups": []},
            headers={"Authorization": key},
        )
        assert moved.status_code == 403
    assert httpx.get(f"{service.url}/api/reviewers/{bob}", headers=ADMIN).json()["groups"] == [
        team.group("finance")
    ]

    regrouped = httpx.patch(
        f"{service.url}/api/reviewers/{bob}", json={"groups": [team.group("leads")]}, headers=ADMIN
    )
    assert regrouped.status_code == 200 and regrouped.json()["groups"] == [team.group("leads")]
    removed = httpx.delete(f"{service.url}/api/reviewers/{bob}", headers=ADMIN)
    assert removed.status_code == 200 and removed.json()["active"] is False
    assert team.decide(bob, created(service)).status_code == 401  # the token is revoked
    unknown = httpx.get(f"{service.url}/api/reviewers/{unique('nobody')}", headers=ADMIN)
    assert unknown.status_code == 404


def test_a_configured_reviewer_can_be_given_groups(service: ServiceProcess, team: Team) -> None:
    carol = team.add("carol", "ops")  # so that the group exists with another member
    given = httpx.patch(
        f"{service.url}/api/reviewers/alice", json={"groups": [team.group("ops")]}, headers=ADMIN
    )
    assert given.status_code == 200 and given.json()["configured"] is False
    try:
        approval_id = created(service, groups=[team.group("ops")], requiredApprovals=2)
        alice = httpx.post(
            f"{service.url}/api/approvals/{approval_id}/decision",
            json={"decision": "approve"},
            headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"},
        )
        assert alice.status_code == 200 and alice.json()["status"] == "PENDING"
        assert team.decide(carol, approval_id).json()["status"] == "APPROVED"
    finally:
        httpx.patch(f"{service.url}/api/reviewers/alice", json={"groups": []}, headers=ADMIN)


# -- submitting -----------------------------------------------------------------------------


def test_submit_refuses_what_could_never_be_decided(service: ServiceProcess, team: Team) -> None:
    dana = team.add("dana", "finance")
    erin = team.add("erin", "finance")
    ghost, phantom = unique("ghost"), unique("phantom")
    unknown = submit(service, reviewers=[ghost], groups=[phantom])
    assert unknown.status_code == 422
    assert ghost in error_of(unknown) and phantom in error_of(unknown)
    too_many = submit(service, groups=[team.group("finance")], requiredApprovals=3)
    assert too_many.status_code == 422 and "requiredApprovals" in error_of(too_many)
    # The requester is no approver: two finance members, one of them asking, cannot make 2.
    without_requester = submit(
        service, groups=[team.group("finance")], requiredApprovals=2, requestedBy=dana
    )
    assert without_requester.status_code == 422 and "requester" in error_of(without_requester)
    named = submit(service, reviewers=[dana], requiredApprovals=2)
    assert named.status_code == 422 and "requiredApprovals" in error_of(named)
    both = submit(service, reviewers=[dana], steps=[{"reviewers": [erin]}])
    assert both.status_code == 422 and "steps" in error_of(both)
    misspelt = submit(service, steps=[{"group": [team.group("finance")]}])
    assert misspelt.status_code == 422 and "steps.0.group" in error_of(misspelt)  # not open to all
    twice = submit(service, options=["a", "a"])
    assert twice.status_code == 422 and "options" in error_of(twice)
    lonely = submit(service, multiple=True)
    assert lonely.status_code == 422 and "multiple" in error_of(lonely)
    bad_schema = submit(service, detailsSchema={"type": "money"})
    assert bad_schema.status_code == 422 and "detailsSchema" in error_of(bad_schema)
    breaks = submit(
        service,
        details={"amount": "lots"},
        detailsSchema={"properties": {"amount": {"type": "number"}}},
    )
    assert breaks.status_code == 422 and "details.amount" in error_of(breaks)
    remote = submit(service, detailsSchema={"$ref": "https://schemas.example/refund.json"})
    assert remote.status_code == 422 and "$ref" in error_of(remote)


# -- deciding -------------------------------------------------------------------------------


def test_refusals_are_403_or_409_and_change_nothing(service: ServiceProcess, team: Team) -> None:
    frank = team.add("frank", "finance", email="Frank@Example.com")
    gina = team.add("gina", "finance")
    hank = team.add("hank", "finance")
    outsider = team.add("ivan", "marketing")
    approval_id = created(
        service,
        groups=[team.group("finance")],
        requiredApprovals=2,
        requestedBy="frank@example.com",
    )
    before = read(service, approval_id)

    not_in_group = team.decide(outsider, approval_id)
    assert not_in_group.status_code == 403 and team.group("finance") in error_of(not_in_group)
    requester = team.decide(frank, approval_id, note="my own refund")
    assert requester.status_code == 403 and "requested this approval" in error_of(requester)
    assert team.decide(frank, approval_id, decision="reject").status_code == 403
    assert read(service, approval_id) == before

    first = team.decide(gina, approval_id, note="checked")
    assert first.status_code == 200 and first.json()["status"] == "PENDING"
    again = team.decide(gina, approval_id)
    assert again.status_code == 409 and "already approved" in error_of(again)
    after_first = read(service, approval_id)
    assert [a["reviewer"] for a in after_first["approvals"]] == [gina]
    assert after_first["approvals"][0]["note"] == "checked"

    done = team.decide(hank, approval_id)
    assert done.status_code == 200 and done.json()["status"] == "APPROVED"
    assert done.json()["decidedBy"] == hank
    late = team.decide(outsider, approval_id)
    assert late.status_code == 409 and "already APPROVED" in error_of(late)


def test_named_reviewers_only(service: ServiceProcess, team: Team) -> None:
    jo, kim = team.add("jo"), team.add("kim")
    approval_id = created(service, reviewers=[jo])
    refused = team.decide(kim, approval_id)
    assert refused.status_code == 403 and jo in error_of(refused)
    assert team.decide(jo, approval_id).json()["status"] == "APPROVED"


def test_any_eligible_reject_rejects_at_once_with_its_reason_code(
    service: ServiceProcess, team: Team
) -> None:
    lee, max_, ned = (team.add(n, "finance") for n in ("lee", "max", "ned"))
    with receiver() as hook:
        approval_id = created(
            service,
            groups=[team.group("finance")],
            requiredApprovals=3,
            reasonCodes=["duplicate", "over_limit"],
            webhookUrl=hook.url,
        )
        assert team.decide(lee, approval_id).json()["status"] == "PENDING"
        wrong_code = team.decide(max_, approval_id, decision="reject", reasonCode="bored")
        assert wrong_code.status_code == 422 and "reasonCode" in error_of(wrong_code)
        rejected = team.decide(max_, approval_id, decision="reject", reasonCode="over_limit")
        assert rejected.status_code == 200
        assert (
            rejected.json()["status"] == "REJECTED"
            and rejected.json()["reasonCode"] == "over_limit"
        )
        assert team.decide(ned, approval_id).status_code == 409
        callback = json.loads(hook.wait_for(1)[0].body)
    assert callback["status"] == "rejected" and callback["reasonCode"] == "over_limit"
    assert callback["decidedBy"] == max_


def wait_events(hook: Receiver, count: int) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in hook.wait_for(count)]


def test_a_two_step_chain_with_progress_events_and_one_callback(
    service: ServiceProcess, team: Team
) -> None:
    lead = team.add("lead", "leads")
    f1, f2, f3 = (team.add(n, "finance") for n in ("f1", "f2", "f3"))
    with receiver() as events_hook, receiver() as callback_hook:
        with WebhooksClient(service.url, secret_key=CKO_PREVIOUS_KEY) as hooks:
            hooks.create(
                {
                    "url": events_hook.url,
                    "event_types": ["approval_step_approved", "approval_approved"],
                }
            )
        approval_id = created(
            service,
            steps=[
                {"groups": [team.group("leads")]},
                {"groups": [team.group("finance")], "requiredApprovals": 2},
            ],
            options=["all_orders", "only_verified"],
            webhookUrl=callback_hook.url,
        )
        opened = read(service, approval_id)
        assert opened["currentStep"] == 1 and opened["groups"] == [team.group("leads")]
        early = team.decide(f1, approval_id, chosenOptions=["all_orders"])
        assert early.status_code == 403 and "step 1" in error_of(early)
        no_choice = team.decide(lead, approval_id)
        assert no_choice.status_code == 422 and "chosenOptions" in error_of(no_choice)

        step_one = team.decide(lead, approval_id, chosenOptions=["only_verified"]).json()
        assert step_one["status"] == "PENDING" and step_one["currentStep"] == 2
        assert step_one["steps"][0]["satisfied"] and step_one["steps"][1]["open"]
        assert step_one["requiredApprovals"] == 2 and step_one["groups"] == [team.group("finance")]
        assert team.decide(lead, approval_id).status_code == 403  # step 2 is finance's

        # A finance reviewer approving without choosing keeps the lead's choice.
        assert team.decide(f2, approval_id).json()["status"] == "PENDING"
        final = team.decide(f3, approval_id, note="ok").json()
        assert final["status"] == "APPROVED" and final["decidedBy"] == f3
        assert final["chosenOptions"] == ["only_verified"]
        assert [len(s["approvals"]) for s in final["steps"]] == [1, 2]
        assert all(s["satisfied"] for s in final["steps"]) and final["currentStep"] is None
        assert [a["reviewer"] for a in final["approvals"]] == [lead, f2, f3]

        events = wait_events(events_hook, 2)
        callback_hook.wait_for(1)
    assert [e["type"] for e in events] == ["approval_step_approved", "approval_approved"]
    assert events[0]["data"]["currentStep"] == 2
    assert len(callback_hook.received) == 1  # on the final outcome only
    callback = json.loads(callback_hook.received[0].body)
    assert callback["status"] == "approved" and callback["chosenOptions"] == ["only_verified"]


def test_an_edit_restarts_the_count_with_the_editors_approval(
    service: ServiceProcess, team: Team
) -> None:
    ola, pam, quin = (team.add(n, "finance") for n in ("ola", "pam", "quin"))
    schema = {
        "type": "object",
        "properties": {"amount": {"type": "number", "maximum": 500}},
        "required": ["amount"],
        "additionalProperties": False,
    }
    approval_id = created(
        service, groups=[team.group("finance")], requiredApprovals=2, detailsSchema=schema
    )
    assert team.decide(ola, approval_id).json()["status"] == "PENDING"

    broken = team.decide(pam, approval_id, modifiedDetails={"amount": "oops", "extra": 1})
    assert broken.status_code == 422
    assert "modifiedDetails.amount" in error_of(broken) and "extra" in error_of(broken)
    assert read(service, approval_id)["modifiedDetails"] is None

    edited = team.decide(pam, approval_id, modifiedDetails={"amount": 90}).json()
    assert edited["status"] == "PENDING"  # ola approved 120, not 90
    assert [(a["reviewer"], a["counted"]) for a in edited["approvals"]] == [
        (ola, False),
        (pam, True),
    ]
    # ola may approve the new numbers; then it is two distinct approvals of 90.
    final = team.decide(ola, approval_id).json()
    assert final["status"] == "APPROVED" and final["modifiedDetails"] == {"amount": 90}
    assert team.decide(quin, approval_id).status_code == 409


def test_options_one_or_several(service: ServiceProcess, team: Team) -> None:
    rae = team.add("rae")
    single = created(service, reviewers=[rae], options=["a", "b", "c"])
    two = team.decide(rae, single, chosenOptions=["a", "b"])
    assert two.status_code == 422 and "exactly one" in error_of(two)
    other = team.decide(rae, single, chosenOptions=["z"])
    assert other.status_code == 422 and "z" in error_of(other)
    assert team.decide(rae, single, chosenOptions=["c"]).json()["chosenOptions"] == ["c"]

    several = created(service, reviewers=[rae], options=["a", "b", "c"], multiple=True)
    answer = team.decide(rae, several, chosenOptions=["a", "c"]).json()
    assert answer["status"] == "APPROVED" and answer["chosenOptions"] == ["a", "c"]

    plain = created(service)
    odd = team.decide(rae, plain, chosenOptions=["a"])
    assert odd.status_code == 422 and "no options" in error_of(odd)
    on_reject = team.decide(rae, plain, decision="reject", chosenOptions=["a"])
    assert on_reject.status_code == 422


def test_without_routing_any_reviewer_decides_once_as_before(
    service: ServiceProcess, team: Team
) -> None:
    sam = team.add("sam")
    approval = read(service, created(service))
    assert approval["reviewers"] == [] and approval["groups"] == []
    assert approval["requiredApprovals"] == 1 and len(approval["steps"]) == 1
    decided = team.decide(sam, approval["id"]).json()
    assert decided["status"] == "APPROVED" and decided["approvals"][0]["reviewer"] == sam


def test_a_malformed_stored_chain_never_breaks_a_read_nor_opens_it(
    start_service: StartService, tmp_path: Path
) -> None:
    service = start_service()
    garbled, emptied, closed = created(service), created(service), created(service)
    with sqlite3.connect(tmp_path / "signoff.db") as db:  # as a bad write or old bug would
        db.execute(
            "UPDATE approvals SET steps = ?, recorded = ?, options = ?, current_step = ? "
            "WHERE id = ?",
            ('[{"requiredApprovals": "many"}, 7]', '[{"reviewer": 1}, "x"]', '"a"', 99, garbled),
        )
        db.execute("UPDATE approvals SET steps = '{}', recorded = 'null' WHERE id = ?", (emptied,))
        db.execute(
            "UPDATE approvals SET steps = ? WHERE id = ?", ('[{"reviewers": "bob"}]', closed)
        )
    for item in (garbled, emptied, closed):
        approval = read(service, item)
        assert approval["status"] == "PENDING" and approval["steps"]
    listed = httpx.get(f"{service.url}/api/approvals", headers=PIPELINE)
    assert listed.status_code == 200 and len(listed.json()["data"]) == 3

    def decide(approval_id: str) -> httpx.Response:
        return httpx.post(
            f"{service.url}/api/approvals/{approval_id}/decision",
            json={"decision": "approve"},
            headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"},
        )

    # No chain stored reads as one step open to all; names it cannot read close the step.
    assert decide(emptied).json()["status"] == "APPROVED"
    refused = decide(closed)
    assert refused.status_code == 403 and read(service, closed)["status"] == "PENDING"
