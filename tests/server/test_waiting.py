"""One DecisionWaiter, many waiting approvals, one streamed request at a time."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from signoff.client import AsyncApprovalsClient, Conflict, DecisionTimeout, NotFound
from signoff.models import ApprovalStatus
from signoff.server.hub import DecisionHub
from signoff.server.process import ServiceProcess, free_port
from signoff.waiting import DecisionWaiter
from tests.conftest import API_KEY, REVIEWER, REVIEWER_TOKEN, StartService


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
    text = httpx.get(f"{service.url}/metrics", headers={"x-api-key": API_KEY}).text
    for line in text.splitlines():
        if line.startswith("signoff_http_requests_in_flight") and f'route="{path}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
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


# ------------------------------------------------------------------ the streamed multi-wait


def requests_total(service: ServiceProcess, method: str, route: str) -> int:
    text = httpx.get(f"{service.url}/metrics", headers={"x-api-key": API_KEY}).text
    wanted = f'signoff_http_requests_total{{method="{method}",route="{route}"}} '
    for line in text.splitlines():
        if line.startswith(wanted):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers={"x-api-key": API_KEY}, timeout=10) as h:
        yield h


async def test_stream_sends_the_decided_first_then_each_decision_and_ends(
    service: ServiceProcess, client: AsyncApprovalsClient, http: httpx.AsyncClient
) -> None:
    ids = [(await client.create("a", f"st{i}")).id for i in range(4)]
    await client.approve(ids[0], note="before")
    url = f"{service.url}/api/approvals/wait"
    body = {"ids": ids, "maxWaitMs": 30000, "stream": True}
    async with http.stream("POST", url, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = response.aiter_lines()
        first = json.loads(await anext(lines))
        assert first == (await http.get(f"{service.url}/api/approvals/{ids[0]}")).json()
        for approval_id in (ids[2], ids[1], ids[3]):
            await client.reject(approval_id, note=approval_id)
            line = json.loads(await anext(lines))
            assert (line["id"], line["status"], line["decisionNote"]) == (
                approval_id,
                "REJECTED",
                approval_id,
            )
        with pytest.raises(StopAsyncIteration):  # every id decided: the answer ends
            await asyncio.wait_for(anext(lines), 5)


async def test_stream_ends_at_max_wait(
    service: ServiceProcess, client: AsyncApprovalsClient, http: httpx.AsyncClient
) -> None:
    ids = [(await client.create("a", f"mw{i}")).id for i in range(3)]
    body = {"ids": ids, "maxWaitMs": 300, "stream": True}
    started = asyncio.get_running_loop().time()
    response = await http.post(f"{service.url}/api/approvals/wait", json=body)
    took = asyncio.get_running_loop().time() - started
    assert response.status_code == 200 and response.text == ""
    assert 0.25 < took < 3


async def test_stream_answers_404_for_an_unknown_id_before_streaming(
    service: ServiceProcess, client: AsyncApprovalsClient, http: httpx.AsyncClient
) -> None:
    known = (await client.create("a", "k")).id
    body = {"ids": [known, "req_nope"], "stream": True}
    response = await http.post(f"{service.url}/api/approvals/wait", json=body)
    assert response.status_code == 404
    assert response.json() == {"error": "no approval with id 'req_nope'"}
    with pytest.raises(NotFound):
        async with contextlib.aclosing(client.decisions([known, "req_nope"])) as decisions:
            async for _ in decisions:
                pass


async def test_non_stream_wait_answers_decided_and_the_rest_pending(
    client: AsyncApprovalsClient,
) -> None:
    ids = [(await client.create("a", f"ns{i}")).id for i in range(30)]
    waiting = asyncio.create_task(client.wait_many(ids, max_wait=30))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await client.approve(ids[11])
    result = await asyncio.wait_for(waiting, 10)
    assert [a.id for a in result.decided] == [ids[11]]
    assert result.decided[0].status is ApprovalStatus.APPROVED
    assert result.pending == ids[:11] + ids[12:]  # in the order asked
    again = await client.wait_many(ids, max_wait=30)  # already decided: answers at once
    assert [a.id for a in again.decided] == [ids[11]]


@pytest.fixture
async def in_process(tmp_path: Path) -> AsyncIterator[tuple[str, DecisionHub]]:
    """The service in this event loop, to look at its hub; still real HTTP on loopback."""
    import uvicorn

    from signoff.server.app import create_app
    from signoff.server.config import Settings

    settings = Settings(
        port=free_port(),
        database_url=f"sqlite:///{tmp_path / 'signoff.db'}",
        api_keys=[API_KEY],
        reviewer_tokens=[f"{REVIEWER}={REVIEWER_TOKEN}"],
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=settings.port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    await until(lambda: server.started or serving.done(), timeout=30)
    try:
        yield settings.base_url, app.state.services.hub
    finally:
        server.should_exit = True
        await serving


async def test_stream_releases_the_hub_watch_when_it_ends_and_on_hang_up(
    in_process: tuple[str, DecisionHub],
) -> None:
    url, hub = in_process
    async with (
        AsyncApprovalsClient(url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as client,
        httpx.AsyncClient(headers={"x-api-key": API_KEY}, timeout=10) as http,
    ):
        ids = [(await client.create("a", f"h{i}")).id for i in range(3)]
        wait_url = f"{url}/api/approvals/wait"
        body = {"ids": ids, "maxWaitMs": 30000, "stream": True}
        # The client hangs up mid-stream.
        async with http.stream("POST", wait_url, json=body) as response:
            assert response.status_code == 200
            assert hub.waiting == 3
        await until(lambda: hub.waiting == 0)
        # Every id decided: the answer ends.
        async with http.stream("POST", wait_url, json=body) as response:
            assert hub.waiting == 3
            for approval_id in ids:
                await client.approve(approval_id)
            assert len([line async for line in response.aiter_lines()]) == 3
        await until(lambda: hub.waiting == 0)
        # maxWaitMs passed, and a 404 before streaming.
        fresh = (await client.create("a", "h")).id
        await http.post(wait_url, json={"ids": [fresh], "maxWaitMs": 100, "stream": True})
        assert (
            await http.post(wait_url, json={"ids": [fresh, "req_x"], "stream": True})
        ).status_code == 404
        assert hub.waiting == 0
        # The DecisionWaiter closing hangs up too.
        waiter = DecisionWaiter(client)
        task = asyncio.create_task(waiter.wait(fresh, timeout=30))
        await until(lambda: hub.waiting == 1)
        await waiter.close()
        task.cancel()
        await until(lambda: hub.waiting == 0)


async def test_waiter_streams_and_one_decision_needs_no_new_request(
    service: ServiceProcess, client: AsyncApprovalsClient
) -> None:
    ids = [(await client.create("a", f"w{i}")).id for i in range(120)]
    waiter = DecisionWaiter(client)
    tasks = {i: asyncio.create_task(waiter.wait(i, timeout=60)) for i in ids}
    await until(lambda: in_flight(service, "/api/approvals/wait") == 1)
    posts = await asyncio.to_thread(requests_total, service, "POST", "/api/approvals/wait")
    # Counted when answered: a request replaced after a decision (a long-poll answered,
    # or a stream hung up to ask again) would show here.
    for approval_id in ids[:20]:
        await client.approve(approval_id, note=approval_id)
        approval = await asyncio.wait_for(tasks[approval_id], 5)  # woken one by one
        assert approval.decision_note == approval_id
    assert all(not tasks[i].done() for i in ids[20:])
    assert await asyncio.to_thread(requests_total, service, "POST", "/api/approvals/wait") == posts
    # A waiter giving up needs no new request either; a new approval does.
    with pytest.raises(DecisionTimeout):
        await waiter.wait(ids[20], timeout=0.2)
    tasks.pop(ids[20]).cancel()
    late = (await client.create("a", "late")).id
    tasks[late] = asyncio.create_task(waiter.wait(late, timeout=60))
    rest = [*ids[21:], late]
    for approval_id in rest:
        await client.reject(approval_id)
    assert len(await asyncio.gather(*(tasks[i] for i in rest))) == len(rest)
    after = await asyncio.to_thread(requests_total, service, "POST", "/api/approvals/wait")
    assert after - posts == 2  # counted when answered: the first stream, and one more
    assert waiter.waiting == 0
    await waiter.close()


async def test_waiter_on_postgres_streams_decisions_from_another_process(
    start_service: StartService, pg_url: str
) -> None:
    a = start_service(pg_url)
    b = start_service(pg_url)
    async with (
        AsyncApprovalsClient(a.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as on_a,
        AsyncApprovalsClient(b.url, api_key=API_KEY) as on_b,
    ):
        ids = [(await on_a.create("a", f"pg{i}")).id for i in range(10)]
        await on_a.approve(ids[0])
        waiter = DecisionWaiter(on_b)
        tasks = [asyncio.create_task(waiter.wait(i, timeout=30)) for i in ids]
        assert (await asyncio.wait_for(tasks[0], 10)).status is ApprovalStatus.APPROVED
        await until(lambda: in_flight(b, "/api/approvals/wait") == 1)
        for approval_id in ids[1:]:
            await on_a.reject(approval_id, note="from a")
        decided = await asyncio.wait_for(asyncio.gather(*tasks[1:]), 10)
        assert {d.decision_note for d in decided} == {"from a"}
        await waiter.close()
