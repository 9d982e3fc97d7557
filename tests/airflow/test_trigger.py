"""ApprovalTrigger: the async generator run directly, as the triggerer runs it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from signoff.client import AsyncApprovalsClient
from signoff.models import Approval, ApprovalStatus, DecisionReason
from signoff.server.process import ServiceProcess
from signoff_airflow.triggers.approval import ApprovalTrigger, shared_waiters
from tests.conftest import API_KEY, REVIEWER, REVIEWER_TOKEN

pytestmark = pytest.mark.usefixtures("signoff_conn")


@pytest.fixture
async def client(service: ServiceProcess) -> AsyncIterator[AsyncApprovalsClient]:
    async with AsyncApprovalsClient(
        service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN
    ) as c:
        yield c


async def first_event(trigger: ApprovalTrigger) -> dict:  # type: ignore[type-arg]
    events = trigger.run()
    event = await anext(events)
    await events.aclose()
    return event.payload


def test_serialize_to_the_letter() -> None:
    trigger = ApprovalTrigger("req_abc", "my_signoff", deadline=1767225600.5)
    assert trigger.serialize() == (
        "signoff_airflow.triggers.approval.ApprovalTrigger",
        {"approval_id": "req_abc", "signoff_conn_id": "my_signoff", "deadline": 1767225600.5},
    )
    assert ApprovalTrigger("req_abc").serialize() == (
        "signoff_airflow.triggers.approval.ApprovalTrigger",
        {"approval_id": "req_abc", "signoff_conn_id": "signoff_default", "deadline": None},
    )
    # What the triggerer does with it: import the class path, rebuild from the kwargs.
    from airflow.sdk._shared.module_loading import import_string

    classpath, kwargs = trigger.serialize()
    again = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    assert again.serialize() == trigger.serialize()


async def test_fires_once_decided_with_the_decision(client: AsyncApprovalsClient) -> None:
    created = await client.create("a", "s", {"n": 1})
    waiting = asyncio.create_task(first_event(ApprovalTrigger(created.id)))
    await client.approve(created.id, modified_details={"n": 2}, note="fine")
    event = await waiting
    assert event["status"] == "decided" and event["approval_id"] == created.id
    approval = Approval.model_validate(event["approval"])
    assert approval.status is ApprovalStatus.APPROVED
    assert approval.effective_details == {"n": 2} and approval.decided_by == REVIEWER
    assert json.loads(json.dumps(event)) == event  # storable as the trigger's event
    assert shared_waiters() == 0  # the last trigger out closed the shared waiter


async def test_fires_timeout_at_its_deadline(client: AsyncApprovalsClient) -> None:
    created = await client.create("a", "s")
    event = await first_event(ApprovalTrigger(created.id, deadline=time.time() + 0.3))
    assert event == {"approval_id": created.id, "status": "timeout"}
    assert not (await client.get(created.id)).is_decided  # the trigger only reads


async def test_unknown_approval_is_an_error_event() -> None:
    event = await first_event(ApprovalTrigger("req_nope"))
    assert event["status"] == "error" and "404" in event["message"]


async def test_bad_connection_is_an_error_event() -> None:
    event = await first_event(ApprovalTrigger("req_x", "no_such_connection"))
    assert event["status"] == "error" and "no_such_connection" in event["message"]


async def test_on_kill_withdraws_the_approval(client: AsyncApprovalsClient) -> None:
    created = await client.create("a", "s")
    trigger = ApprovalTrigger(created.id)
    waiting = asyncio.create_task(first_event(trigger))
    await trigger.on_kill()
    event = await waiting
    approval = Approval.model_validate(event["approval"])
    assert approval.decision_reason_code is DecisionReason.CANCELLED
    await trigger.on_kill()  # twice is harmless (409 from the service is expected)


def metrics(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", headers={"x-api-key": API_KEY}).text
    values = {}
    for line in text.splitlines():
        if line.startswith("signoff_http_requests") and " " in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def in_flight_waits(values: dict[str, float]) -> float:
    return sum(v for k, v in values.items() if "in_flight" in k and "/api/approvals/wait" in k)


def single_reads(values: dict[str, float]) -> float:
    return sum(
        v
        for k, v in values.items()
        if "_total" in k and 'method="GET"' in k and "/api/approvals/{" in k
    )


async def test_a_thousand_triggers_hold_one_connection(
    service: ServiceProcess, client: AsyncApprovalsClient
) -> None:
    n = 1000
    ids: list[str] = []
    for start in range(0, n, 50):
        batch = [client.create("bulk", f"#{i}") for i in range(start, start + 50)]
        ids += [created.id for created in await asyncio.gather(*batch)]
    before = await asyncio.to_thread(metrics, service.url)
    tasks = [asyncio.create_task(first_event(ApprovalTrigger(i))) for i in ids]
    # Wait (no fixed sleep) until the service holds the shared long-poll.
    while in_flight_waits(await asyncio.to_thread(metrics, service.url)) < 1:
        await asyncio.sleep(0.05)
    during = await asyncio.to_thread(metrics, service.url)
    assert in_flight_waits(during) == 1
    assert shared_waiters() == 1
    assert single_reads(during) - single_reads(before) <= 1  # nobody polls one by one
    for start in range(0, n, 50):
        await asyncio.gather(*(client.approve(i) for i in ids[start : start + 50]))
    events = await asyncio.gather(*tasks)
    assert {e["approval_id"] for e in events} == set(ids)
    assert all(e["status"] == "decided" for e in events)
    assert shared_waiters() == 0
