"""The approvals API over real HTTP: auth, validation, idempotency, waiting, expiry."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from signoff.client import (
    ApprovalsClient,
    AsyncApprovalsClient,
    Conflict,
    DecisionTimeout,
    InvalidRequest,
    NotFound,
    Unauthorized,
)
from signoff.client.errors import ApprovalExpired, ApprovalRejected
from signoff.models import LONG_POLL_HEADER, ApprovalStatus
from signoff.server.process import ServiceProcess
from tests.conftest import API_KEY, REVIEWER_TOKEN


@pytest.fixture
def client(service: ServiceProcess) -> Iterator[ApprovalsClient]:
    with ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as c:
        yield c


def post(service: ServiceProcess, path: str, **kwargs: object) -> httpx.Response:
    headers = {"x-api-key": API_KEY, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return httpx.post(service.url + path, headers=headers, **kwargs)  # type: ignore[arg-type]


def count(client: ApprovalsClient) -> int:
    return len(client.list(limit=500).data)


def test_get_has_every_wire_field(any_db_service: ServiceProcess) -> None:
    with ApprovalsClient(any_db_service.url, api_key=API_KEY) as client:
        created = client.create(
            "backfill",
            "Backfill 2024",
            {"days": 365},
            risk_score=0.97,
            source={"system": "airflow", "pipeline": "daily", "run": "r1", "task": "gate"},
        )
    body = httpx.get(
        f"{any_db_service.url}/api/approvals/{created.id}", headers={"x-api-key": API_KEY}
    ).json()
    for name in (
        "id",
        "status",
        "details",
        "modifiedDetails",
        "responseNotes",
        "decisionReasonCode",
        "decisionNote",
        "autoDecided",
        "autoDecisionRuleName",
        "decidedAt",
        "retryable",
        "action",
        "summary",
        "riskLevel",
        "reviewUrl",
        "createdAt",
        "expiresAt",
        "decidedBy",
    ):
        assert name in body, name
    assert body["riskLevel"] == "critical"
    assert body["source"]["pipeline"] == "daily"
    assert body["reviewUrl"] == f"{any_db_service.url}/review/{created.id}"
    assert "apiKey" not in body


def test_api_key_in_body_is_accepted_but_never_stored_or_echoed(
    service: ServiceProcess, client: ApprovalsClient
) -> None:
    response = post(
        service,
        "/api/approvals/request",
        json={"action": "a", "summary": "s", "details": {}, "apiKey": API_KEY},
    )
    assert response.status_code == 201
    assert API_KEY not in response.text
    assert (
        API_KEY
        not in httpx.get(
            f"{service.url}/api/approvals/{response.json()['id']}", headers={"x-api-key": API_KEY}
        ).text
    )


def test_auth(service: ServiceProcess) -> None:
    body = {"action": "a", "summary": "s"}
    url = f"{service.url}/api/approvals/request"
    none = httpx.post(url, json=body)
    assert none.status_code == 401 and "error" in none.json()
    assert httpx.post(url, json=body, headers={"x-api-key": "nope"}).status_code == 401
    bearer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert bearer.status_code == 201
    as_reviewer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"})
    assert as_reviewer.status_code == 403

    decide = httpx.post(
        f"{service.url}/api/approvals/{bearer.json()['id']}/decision",
        json={"decision": "approve"},
        headers={"x-api-key": API_KEY},
    )
    assert decide.status_code == 403
    assert decide.json() == {"error": "only a reviewer token can decide; an API key cannot"}


def test_invalid_input_names_the_field_and_writes_nothing(
    service: ServiceProcess, client: ApprovalsClient
) -> None:
    before = count(client)
    missing = post(service, "/api/approvals/request", json={"summary": "s"})
    assert missing.status_code == 422
    assert missing.json()["error"].startswith("action:")
    wrong_type = post(
        service, "/api/approvals/request", json={"action": "a", "summary": "s", "details": [1]}
    )
    assert wrong_type.status_code == 422 and "details" in wrong_type.json()["error"]
    bad_risk = post(
        service,
        "/api/approvals/request",
        json={"action": "a", "summary": "s", "riskLevel": "extreme"},
    )
    assert bad_risk.status_code == 422 and "riskLevel" in bad_risk.json()["error"]
    bad_url = post(
        service,
        "/api/approvals/request",
        json={"action": "a", "summary": "s", "webhookUrl": "ftp://x"},
    )
    assert bad_url.status_code == 422 and "webhookUrl" in bad_url.json()["error"]
    not_json = post(
        service,
        "/api/approvals/request",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    huge = post(
        service,
        "/api/approvals/request",
        json={"action": "a", "summary": "s", "details": {"x": "y" * 2_000_000}},
    )
    assert huge.status_code == 413 and "error" in huge.json()
    assert count(client) == before

    with pytest.raises(NotFound) as caught:
        client.get("req_unknown")
    assert caught.value.error == "no approval with id 'req_unknown'"
    created = client.create("a", "s")
    maybe = httpx.post(
        f"{service.url}/api/approvals/{created.id}/decision",
        json={"decision": "maybe"},
        headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"},
    )
    assert maybe.status_code == 422 and maybe.json()["error"].startswith("decision:")
    assert client.get(created.id).status is ApprovalStatus.PENDING


def test_idempotency_key(service: ServiceProcess, client: ApprovalsClient) -> None:
    first = client.create("a", "s", {"n": 1}, idempotency_key="run-1-try-1")
    again = client.create("a", "s", {"n": 1}, idempotency_key="run-1-try-1")
    assert again.id == first.id
    with pytest.raises(Conflict) as caught:
        client.create("a", "s", {"n": 2}, idempotency_key="run-1-try-1")
    assert "Idempotency-Key" in caught.value.error
    assert client.create("a", "s", {"n": 1}).id != first.id


def test_second_decision_is_409_and_changes_nothing(client: ApprovalsClient) -> None:
    created = client.create("a", "s", {"amount": 5})
    client.approve(created.id, modified_details={"amount": 4}, note="first")
    with pytest.raises(Conflict):
        client.reject(created.id, note="second")
    approval = client.get(created.id)
    assert approval.status is ApprovalStatus.APPROVED
    assert approval.modified_details == {"amount": 4}
    assert approval.decision_note == "first"


def test_reject_cannot_carry_edits(client: ApprovalsClient, service: ServiceProcess) -> None:
    created = client.create("a", "s")
    answer = httpx.post(
        f"{service.url}/api/approvals/{created.id}/decision",
        json={"decision": "reject", "modifiedDetails": {"x": 1}},
        headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"},
    )
    assert answer.status_code == 422 and "modifiedDetails" in answer.json()["error"]
    assert client.get(created.id).status is ApprovalStatus.PENDING


def test_long_poll_wakes_on_decision(service: ServiceProcess, client: ApprovalsClient) -> None:
    created = client.create("a", "s")
    threading.Timer(0.3, lambda: client.approve(created.id)).start()
    # The read timeout (10 s) is far below the requested wait (30 s): only a wake-up
    # on the decision lets this request finish.
    response = httpx.get(
        f"{service.url}/api/approvals/{created.id}",
        params={"waitMs": 30000},
        headers={"x-api-key": API_KEY},
        timeout=10,
    )
    assert response.json()["status"] == "APPROVED"
    assert response.headers[LONG_POLL_HEADER] == "30000"


def test_long_poll_returns_pending_after_wait(client: ApprovalsClient) -> None:
    created = client.create("a", "s")
    assert client.get(created.id, wait=0.2).status is ApprovalStatus.PENDING
    with pytest.raises(DecisionTimeout) as caught:
        client.wait_for_decision(created.id, timeout=0.3)
    assert caught.value.approval_id == created.id


def test_wait_many_answers_with_the_decided_one(
    service: ServiceProcess, client: ApprovalsClient
) -> None:
    ids = [client.create("a", f"s{i}").id for i in range(20)]
    threading.Timer(0.3, lambda: client.reject(ids[7], note="no")).start()
    result = client.wait_many(ids, max_wait=30)
    assert [a.id for a in result.decided] == [ids[7]]
    assert sorted(result.pending) == sorted(set(ids) - {ids[7]})
    with pytest.raises(NotFound):
        client.wait_many([ids[0], "req_missing"], max_wait=0)


async def test_async_client_waits_for_many_approvals_concurrently(service: ServiceProcess) -> None:
    import asyncio

    async with AsyncApprovalsClient(
        service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN
    ) as client:
        ids = [(await client.create("a", f"s{i}")).id for i in range(5)]
        waiters = [asyncio.create_task(client.wait_for_decision(i, timeout=20)) for i in ids]
        await asyncio.sleep(0.2)
        for approval_id in ids:
            await client.approve(approval_id, note=approval_id)
        decided = await asyncio.gather(*waiters)
    assert [a.decision_note for a in decided] == ids


def test_expiry_rejects_retryably_and_wakes_waiters(client: ApprovalsClient) -> None:
    created = client.create("a", "s", expires_in=1)
    approval = client.wait_for_decision(created.id, timeout=20)
    assert approval.status is ApprovalStatus.REJECTED
    assert approval.retryable is True
    assert approval.decision_reason_code is not None
    assert approval.decision_reason_code.value == "EXPIRED"
    assert approval.decided_by is None
    with pytest.raises(Conflict):
        client.approve(created.id)
    with pytest.raises(ApprovalExpired):
        client.wait_for_decision(created.id, timeout=1, raise_on_reject=True)


def test_default_expiry_is_configurable(start_service) -> None:  # type: ignore[no-untyped-def]
    service = start_service(None, "--default-expiry", "1")
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = client.create("a", "s")
        approval = client.get(created.id)
        assert approval.expires_at is not None
        assert (approval.expires_at - approval.created_at).total_seconds() == pytest.approx(
            1, abs=0.01
        )
        assert client.wait_for_decision(created.id, timeout=20).is_expired


def test_raise_on_reject(client: ApprovalsClient) -> None:
    created = client.create("a", "s")
    client.reject(created.id, note="nope")
    with pytest.raises(ApprovalRejected) as caught:
        client.wait_for_decision(created.id, raise_on_reject=True)
    assert caught.value.approval.decision_note == "nope"
    assert not isinstance(caught.value, ApprovalExpired)


def test_list_filters_and_pages(client: ApprovalsClient) -> None:
    ids = [client.create("a", f"s{i}").id for i in range(7)]
    client.approve(ids[0])
    pending = client.list(ApprovalStatus.PENDING, limit=500).data
    assert ids[0] not in {a.id for a in pending}
    seen: list[str] = []
    page = client.list(limit=3)
    while True:
        seen += [a.id for a in page.data]
        if not page.next_cursor:
            break
        page = client.list(limit=3, cursor=page.next_cursor)
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in ids] == list(reversed(ids))
    with pytest.raises(InvalidRequest):
        client.list(cursor="garbage!")


def test_wrong_key_raises_unauthorized(service: ServiceProcess) -> None:
    with ApprovalsClient(service.url, api_key="wrong") as client, pytest.raises(Unauthorized):
        client.create("a", "s")


def test_healthz_and_openapi(service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/healthz").json()["status"] == "ok"
    spec = httpx.get(f"{service.url}/openapi.json").json()
    for path in (
        "/api/approvals/request",
        "/api/approvals/{approval_id}",
        "/api/approvals/wait",
        "/api/webhooks/inbound",
        "/api/approvals/{approval_id}/decision",
    ):
        assert path in spec["paths"]


def test_a_decision_survives_a_restart(start_service) -> None:  # type: ignore[no-untyped-def]
    first = start_service()
    with ApprovalsClient(first.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as client:
        created = client.create("a", "s")
        client.approve(created.id, modified_details={"x": 1})
    first.kill()
    second = start_service()
    with ApprovalsClient(second.url, api_key=API_KEY) as client:
        approval = client.get(created.id)
    assert approval.status is ApprovalStatus.APPROVED and approval.modified_details == {"x": 1}
