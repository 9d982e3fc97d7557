"""Approval policies against the real service: applied with an admin key, auto-decisions
through the same conclude as a person's (the official SDK sees them), routing a request
may narrow but never widen, SLAs breached once with escalation, the playground."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cheqpoint import CheqpointClient, RejectedError

from signoff.client import WebhooksClient
from signoff.server.process import ServiceProcess
from tests.conftest import (
    ADMIN_KEY,
    API_KEY,
    CKO_PREVIOUS_KEY,
    CKO_SECRET_KEY,
    REVIEWER_TOKEN,
    StartService,
    launcher,
)
from tests.pg import fresh_database
from tests.receiver import receiver

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
PIPELINE = {"x-api-key": API_KEY}


def document(sla: str = "30m", **extra: Any) -> dict[str, Any]:
    """The issue's example: refunds under $50 approved, over $10,000 to 2 of finance."""
    return {
        "groups": {
            "finance": {"members": ["dana", "erin", "fay"]},
            "leads": {"members": ["lee"]},
        },
        "policies": [
            {
                "name": "small-refunds",
                "when": 'action == "refund_batch" && details.amount < 50',
                "decide": "approve",
                "note": "Refunds under $50 need nobody.",
            },
            {
                "name": "blocked-countries",
                "when": 'action == "refund_batch" && details.country == "XX"',
                "decide": "reject",
            },
            {
                "name": "big-refunds",
                "when": 'action == "refund_batch" && details.amount > 10000',
                "groups": ["finance"],
                "required_approvals": 2,
                "sla": {"within": sla, "escalate_to": ["leads"]},
            },
            *extra.get("policies", []),
        ],
    }


def apply(url: str, doc: dict[str, Any]) -> httpx.Response:
    return httpx.put(f"{url}/api/policies", json={"document": doc}, headers=ADMIN)


def tokens(url: str, *names: str) -> dict[str, str]:
    made = {}
    for name in names:
        answer = httpx.post(f"{url}/api/reviewers", json={"name": name}, headers=ADMIN)
        assert answer.status_code == 201, answer.text
        made[name] = answer.json()["token"]
    return made


def submit(url: str, **fields: Any) -> httpx.Response:
    body = {"action": "refund_batch", "summary": "Refunds", "details": {"amount": 120}}
    return httpx.post(f"{url}/api/approvals/request", json={**body, **fields}, headers=PIPELINE)


def read(url: str, approval_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/approvals/{approval_id}", headers=PIPELINE)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def decide(url: str, token: str, approval_id: str, decision: str = "approve") -> httpx.Response:
    return httpx.post(
        f"{url}/api/approvals/{approval_id}/decision",
        json={"decision": decision},
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture(scope="module")
def policed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service with the example policy applied and its reviewers made."""
    with launcher(tmp_path_factory.mktemp("policies")) as start:
        service = start(None, "--sweep-interval", "0.2")
        assert apply(service.url, document(sla="1s")).status_code == 200
        yield service


@pytest.fixture(scope="module")
def people(policed: ServiceProcess) -> dict[str, str]:
    return tokens(policed.url, "dana", "erin", "fay", "lee")


def test_a_small_refund_is_approved_by_the_policy_like_any_decision(
    policed: ServiceProcess,
) -> None:
    with receiver() as callback, receiver() as events_hook:
        with WebhooksClient(policed.url, secret_key=CKO_PREVIOUS_KEY) as hooks:
            hooks.create({"url": events_hook.url, "event_types": ["approval_approved"]})
        made = submit(policed.url, details={"amount": 12}, webhookUrl=callback.url)
        assert made.status_code == 201
        approval = read(policed.url, made.json()["id"])
        assert approval["status"] == "APPROVED" and approval["autoDecided"] is True
        assert approval["autoDecisionRuleName"] == "small-refunds"
        assert approval["decidedBy"] == "policy:small-refunds"
        assert approval["decisionReasonCode"] == "POLICY"
        assert approval["decisionNote"] == "Refunds under $50 need nobody."
        assert approval["policyVersion"] == 1 and approval["retryable"] is False
        body = json.loads(callback.wait_for(1)[0].body)
        event = json.loads(events_hook.wait_for(1)[0].body)
    assert body["status"] == "approved" and body["decidedBy"] == "policy:small-refunds"
    assert event["data"]["autoDecided"] is True


def test_the_official_sdk_returns_at_once_or_raises_for_an_auto_decision(
    policed: ServiceProcess,
) -> None:
    sdk = CheqpointClient(api_key=API_KEY, base_url=policed.url, timeout=30)
    started = time.monotonic()
    result = sdk.checkpoint(
        action="refund_batch", summary="Refund", details={"amount": 12}, poll_interval=0.2
    )
    assert result.status == "APPROVED" and time.monotonic() - started < 10
    with pytest.raises(RejectedError):
        sdk.checkpoint(
            action="refund_batch",
            summary="Refund",
            details={"amount": 300, "country": "XX"},
            poll_interval=0.2,
        )
    status = sdk.get_request(sdk.create_request(
        action="refund_batch", summary="Refund", details={"amount": 1}
    )["id"])  # fmt: skip
    assert status.auto_decided is True and status.auto_decision_rule_name == "small-refunds"


def test_a_big_refund_waits_for_two_of_finance_and_the_requester_is_none_of_them(
    policed: ServiceProcess, people: dict[str, str]
) -> None:
    made = submit(policed.url, details={"amount": 20000}, requestedBy="dana")
    approval = read(policed.url, made.json()["id"])
    assert approval["status"] == "PENDING" and approval["policyRule"] == "big-refunds"
    assert approval["groups"] == ["finance"] and approval["requiredApprovals"] == 2
    assert approval["slaDueAt"] is not None
    refused = decide(policed.url, people["dana"], approval["id"])
    assert refused.status_code == 403 and "requested this approval" in refused.json()["error"]
    assert decide(policed.url, people["erin"], approval["id"]).json()["status"] == "PENDING"
    assert decide(policed.url, people["fay"], approval["id"]).json()["status"] == "APPROVED"


def test_a_request_may_narrow_its_policy_never_widen_it(
    policed: ServiceProcess, people: dict[str, str]
) -> None:
    big = {"details": {"amount": 20000}}
    fewer = submit(policed.url, **big, groups=["finance"], requiredApprovals=1)
    assert fewer.status_code == 422 and "never widen" in fewer.json()["error"]
    others = submit(policed.url, **big, reviewers=["lee", "dana"], requiredApprovals=2)
    assert others.status_code == 422
    narrower = submit(policed.url, **big, reviewers=["dana", "erin"], requiredApprovals=2)
    assert narrower.status_code == 201
    approval = read(policed.url, narrower.json()["id"])
    assert approval["reviewers"] == ["dana", "erin"] and approval["requiredApprovals"] == 2
    more = submit(policed.url, **big, groups=["finance"], requiredApprovals=3)
    assert (
        more.status_code == 201 and read(policed.url, more.json()["id"])["requiredApprovals"] == 3
    )


def test_the_sla_breaches_once_and_escalates_to_leads(
    policed: ServiceProcess, people: dict[str, str]
) -> None:
    with receiver() as hook:
        with WebhooksClient(policed.url, secret_key=CKO_PREVIOUS_KEY) as hooks:
            hooks.create({"url": hook.url, "event_types": ["approval_sla_breached"]})
        approval_id = submit(policed.url, details={"amount": 50000}).json()["id"]
        early = decide(policed.url, people["lee"], approval_id)
        assert early.status_code == 403 and "finance" in early.json()["error"]

        def mine() -> list[dict[str, Any]]:  # other tests' approvals breach too
            found = [json.loads(r.body) for r in hook.received]
            return [e for e in found if e["data"]["id"] == approval_id]

        deadline = time.monotonic() + 30
        while not mine() and time.monotonic() < deadline:
            hook.wait_for(len(hook.received) + 1, timeout=1)
        (event,) = mine()
        assert event["data"]["escalatedGroups"] == ["leads"]
        approval = read(policed.url, approval_id)
        assert approval["slaBreachedAt"] is not None and approval["escalatedGroups"] == ["leads"]
        counted = decide(policed.url, people["lee"], approval_id)  # a lead may now decide
        assert counted.status_code == 200 and counted.json()["status"] == "PENDING"
        assert decide(policed.url, people["erin"], approval_id).json()["status"] == "APPROVED"
        time.sleep(1)  # several more sweeps: none breaches it again
        assert len(mine()) == 1


def test_a_condition_that_fails_does_not_match_and_never_fails_the_request(
    start_service: StartService,
) -> None:
    service = start_service()
    doc = {
        "policies": [
            {"name": "typo", "when": "details.amout > 10", "decide": "reject"},
            {"name": "wrong-type", "when": 'details.amount > "ten"', "decide": "reject"},
            {"name": "not-bool", "when": "details.amount", "decide": "reject"},
            {"name": "rest", "when": "true", "decide": "approve"},
        ]
    }
    assert apply(service.url, doc).status_code == 200
    made = submit(service.url, details={"amount": 100})
    assert made.status_code == 201
    assert read(service.url, made.json()["id"])["autoDecisionRuleName"] == "rest"
    log = service.log_path.read_text() if service.log_path else ""
    assert "policy typo" in log and "did not match" in log


def test_on_expiry_approve_decides_by_policy(start_service: StartService) -> None:
    service = start_service(None, "--sweep-interval", "0.2")
    doc = {
        "policies": [
            {"name": "quiet-hours", "when": "true", "expires_in": 1, "on_expiry": "approve"}
        ]
    }
    assert apply(service.url, doc).status_code == 200
    approval_id = submit(service.url).json()["id"]
    answer = httpx.get(
        f"{service.url}/api/approvals/{approval_id}", params={"waitMs": 10000}, headers=PIPELINE
    ).json()
    assert answer["status"] == "APPROVED" and answer["decidedBy"] == "policy:quiet-hours"
    assert answer["autoDecided"] is True and answer["retryable"] is False


def test_validate_plan_apply_show_and_the_playground(start_service: StartService) -> None:
    service = start_service()
    url = service.url
    bad = {"policies": [{"name": "x", "when": "action ==", "groups": ["ghosts"]}]}
    refused = httpx.post(f"{url}/api/policies/validate", json={"document": bad}, headers=ADMIN)
    assert refused.status_code == 422
    fields = [p["field"] for p in refused.json()["problems"]]
    assert fields == ["policies.0.when", "policies.0"]
    assert httpx.get(f"{url}/api/policies", headers=ADMIN).status_code == 404
    assert apply(url, bad).status_code == 422  # nothing stored
    assert httpx.get(f"{url}/api/policies", headers=ADMIN).status_code == 404

    # History made by hand, before any policy: a $12 refund a person approved, a big one.
    small = submit(url, details={"amount": 12}).json()["id"]
    assert decide(url, REVIEWER_TOKEN, small).status_code == 200
    submit(url, details={"amount": 20000})
    submit(url, action="deploy", details={})

    valid = httpx.post(f"{url}/api/policies/validate", json={"document": document()}, headers=ADMIN)
    assert valid.json() == {"valid": True, "policies": 3, "groups": 2}
    plan = httpx.post(f"{url}/api/policies/plan", json={"document": document()}, headers=ADMIN)
    assert plan.json()["changed"] and plan.json()["version"] is None
    kinds = Counter((c["op"], c["kind"]) for c in plan.json()["changes"])
    assert kinds == {("add", "group"): 2, ("add", "policy"): 3}
    report = httpx.post(
        f"{url}/api/policies/test",
        json={"document": document(), "sinceSeconds": 30 * 24 * 3600},
        headers=ADMIN,
    ).json()
    rules = {rule["name"]: rule for rule in report["rules"]}
    assert report["approvals"] == 3 and report["unmatched"] == 1
    assert rules["small-refunds"]["autoApproved"] == 1 and rules["small-refunds"]["changed"] == 1
    assert rules["small-refunds"]["examples"] == [small]
    assert rules["big-refunds"]["routed"] == 1 and rules["big-refunds"]["changed"] == 1

    first = apply(url, document()).json()
    assert first["version"] == 1 and first["changed"]
    again = apply(url, document()).json()
    assert again == {"version": 1, "changes": [], "changed": False}
    reordered = document()
    reordered["policies"].reverse()
    moved = apply(url, reordered).json()
    assert moved["version"] == 2 and {c["op"] for c in moved["changes"]} == {"move"}
    shown = httpx.get(f"{url}/api/policies", headers=ADMIN).json()
    assert shown["version"] == 2 and shown["createdBy"] == "admin"
    assert shown["document"]["policies"][0]["name"] == "big-refunds"
    for key in (API_KEY, REVIEWER_TOKEN):
        denied = httpx.put(
            f"{url}/api/policies",
            json={"document": {"policies": [{"name": "all", "decide": "approve"}]}},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert denied.status_code == 403
    assert httpx.get(f"{url}/api/policies", headers=ADMIN).json()["version"] == 2


@pytest.fixture(params=["sqlite", "postgresql x3"])
def processes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServiceProcess]]:
    with launcher(tmp_path_factory.mktemp("policy-procs")) as start:
        if request.param == "sqlite":
            yield [start(None, "--sweep-interval", "0.1")]
        else:
            with fresh_database(request.getfixturevalue("pg_server")) as url:
                yield [start(url, "--sweep-interval", "0.1") for _ in range(3)]


async def apply_all(urls: list[str], docs: list[dict[str, Any]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60) as client:
        return list(
            await asyncio.gather(
                *(
                    client.put(
                        f"{urls[n % len(urls)]}/api/policies", json={"document": doc}, headers=ADMIN
                    )
                    for n, doc in enumerate(docs)
                )
            )
        )


def test_concurrent_applies_and_sweeps_across_processes(processes: list[ServiceProcess]) -> None:
    urls = [p.url for p in processes]
    drafts = [
        {"policies": [{"name": f"rule-{n}", "when": "true", "sla": {"within": 1}}]}
        for n in range(6)
    ]
    answers = asyncio.run(apply_all(urls, drafts))
    assert {a.status_code for a in answers} <= {200, 409}
    won = [a.json()["version"] for a in answers if a.status_code == 200]
    assert sorted(won) == list(range(1, len(won) + 1))  # each acknowledged version kept
    active = httpx.get(f"{urls[0]}/api/policies", headers=ADMIN).json()
    assert active["version"] == len(won)

    time.sleep(1.5)  # every process has re-read the active version (within 1 s)
    with receiver() as hook:
        with WebhooksClient(urls[0], secret_key=CKO_PREVIOUS_KEY) as hooks:
            hooks.create({"url": hook.url, "event_types": ["approval_sla_breached"]})
        ids = [
            submit(urls[n % len(urls)], summary=f"sla {uuid.uuid4().hex[:4]}").json()["id"]
            for n in range(9)
        ]
        hook.wait_for(len(ids), timeout=60)
        time.sleep(1)  # more sweeps on every process
        breached = Counter(json.loads(r.body)["data"]["id"] for r in hook.received)
    assert breached == {approval_id: 1 for approval_id in ids}  # each once, on one process
    for approval_id in ids:
        assert (
            read(urls[-1], approval_id)["policyRule"] == active["document"]["policies"][0]["name"]
        )
    events = httpx.get(
        f"{urls[0]}/workflows/events/subject/{ids[0]}",
        headers={"Authorization": f"Bearer {CKO_SECRET_KEY}"},
    ).json()["data"]
    assert Counter(e["type"] for e in events)["approval_sla_breached"] == 1
