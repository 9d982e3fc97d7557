"""One DecisionWaiter, many waiting approvals, one long-poll at a time."""

from __future__ import annotations

import asyncio

import pytest

from signoff.client import AsyncApprovalsClient, Conflict, DecisionTimeout, NotFound
from signoff.models import ApprovalStatus
from signoff.server.process import ServiceProcess
from signoff.waiting import DecisionWaiter
from tests.conftest import API_KEY, REVIEWER_TOKEN


@pytest.fixture
async def client(service: ServiceProcess):  # type: ignore[no-untyped-def]
    async with AsyncApprovalsClient(
        service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN
    ) as c:
        yield c


async def test_many_waiters_each_get_their_own_decision(client: AsyncApprovalsClient) -> None:
    ids = [(await client.create("a", f"s{i}")).id for i in range(200)]
    waiter = DecisionWaiter(client)
    tasks = {i: asyncio.create_task(waiter.wait(i, timeout=60)) for i in ids}
    await asyncio.sleep(0.2)
    assert waiter.waiting == 200
    for n, approval_id in enumerate(ids):
        if n % 2:
            await client.approve(approval_id, note=approval_id)
        else:
            await client.reject(approval_id, note=approval_id)
    results = {i: await t for i, t in tasks.items()}
    for n, approval_id in enumerate(ids):
        assert results[approval_id].decision_note == approval_id
        expected = ApprovalStatus.APPROVED if n % 2 else ApprovalStatus.REJECTED
        assert results[approval_id].status is expected
    assert waiter.waiting == 0
    await waiter.close()


async def test_waiter_times_out_and_others_go_on(client: AsyncApprovalsClient) -> None:
    slow = (await client.create("a", "slow")).id
    fast = (await client.create("a", "fast")).id
    waiter = DecisionWaiter(client)
    fast_task = asyncio.create_task(waiter.wait(fast, timeout=30))
    with pytest.raises(DecisionTimeout):
        await waiter.wait(slow, timeout=0.3)
    await client.approve(fast)
    assert (await fast_task).status is ApprovalStatus.APPROVED
    await waiter.close()


async def test_unknown_id_fails_only_its_waiter(client: AsyncApprovalsClient) -> None:
    known = (await client.create("a", "known")).id
    waiter = DecisionWaiter(client)
    known_task = asyncio.create_task(waiter.wait(known, timeout=30))
    with pytest.raises(NotFound):
        await waiter.wait("req_nope", timeout=30)
    await client.approve(known)
    assert (await known_task).status is ApprovalStatus.APPROVED
    await waiter.close()


async def test_cancel_withdraws_and_wakes_the_waiter(client: AsyncApprovalsClient) -> None:
    created = await client.create("a", "s")
    waiter = DecisionWaiter(client)
    task = asyncio.create_task(waiter.wait(created.id, timeout=30))
    await asyncio.sleep(0.1)
    cancelled = await client.cancel(created.id, reason="task was killed")
    assert cancelled.status is ApprovalStatus.REJECTED and cancelled.is_cancelled
    woke = await task
    assert woke.is_cancelled and woke.decision_note == "task was killed"
    assert woke.retryable is False
    with pytest.raises(Conflict):
        await client.cancel(created.id)
    with pytest.raises(Conflict):
        await client.approve(created.id)
    await waiter.close()


def in_flight(service: ServiceProcess, path: str) -> int:
    import httpx

    text = httpx.get(f"{service.url}/metrics", headers={"x-api-key": API_KEY}).text
    for line in text.splitlines():
        if line.startswith("signoff_http_requests_in_flight") and f'path="{path}"' in line:
            return int(line.rsplit(" ", 1)[1])
    return 0


async def test_hundreds_of_waiters_hold_one_request_at_the_service(
    service: ServiceProcess, client: AsyncApprovalsClient
) -> None:
    ids = [(await client.create("a", f"m{i}")).id for i in range(300)]
    waiter = DecisionWaiter(client)
    tasks = [asyncio.create_task(waiter.wait(i, timeout=60)) for i in ids]
    await asyncio.sleep(0.5)
    held = await asyncio.to_thread(in_flight, service, "/api/approvals/wait")
    assert held == 1
    for approval_id in ids:
        await client.approve(approval_id)
    assert len(await asyncio.gather(*tasks)) == 300
    await waiter.close()
