"""Concurrent approvals are each counted exactly once: real concurrent requests on SQLite
(one process) and on PostgreSQL with three service processes sharing the database."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, API_KEY, CKO_SECRET_KEY, launcher
from tests.pg import fresh_database
from tests.receiver import receiver

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
PIPELINE = {"x-api-key": API_KEY}


@pytest.fixture(scope="module", params=["sqlite", "postgresql x3"])
def processes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServiceProcess]]:
    with launcher(tmp_path_factory.mktemp("quorum")) as start:
        if request.param == "sqlite":
            yield [start()]
        else:
            with fresh_database(request.getfixturevalue("pg_server")) as url:
                yield [start(url) for _ in range(3)]


def make_group(url: str, size: int) -> tuple[str, dict[str, str]]:
    group = f"finance-{uuid.uuid4().hex[:6]}"
    tokens = {}
    for n in range(size):
        name = f"{group}-r{n}"
        made = httpx.post(
            f"{url}/api/reviewers", json={"name": name, "groups": [group]}, headers=ADMIN
        )
        assert made.status_code == 201, made.text
        tokens[name] = made.json()["token"]
    return group, tokens


async def approve_all_at_once(
    urls: list[str], approval_id: str, tokens: list[str]
) -> list[httpx.Response]:
    """Every token approves together, spread over the processes, one connection each."""
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(
                        f"{urls[n % len(urls)]}/api/approvals/{approval_id}/decision",
                        json={"decision": "approve", "note": f"n{n}"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for n, token in enumerate(tokens)
                )
            )
        )


def test_ten_reviewers_at_once_on_a_three_of_ten_count_exactly_three(
    processes: list[ServiceProcess],
) -> None:
    urls = [p.url for p in processes]
    group, tokens = make_group(urls[0], 10)
    for _ in range(3):  # a race shows itself sooner or later: three rounds
        with receiver() as hook:
            made = httpx.post(
                f"{urls[0]}/api/approvals/request",
                json={
                    "action": "refund_batch",
                    "summary": "3 of 10",
                    "groups": [group],
                    "requiredApprovals": 3,
                    "webhookUrl": hook.url,
                },
                headers=PIPELINE,
            )
            assert made.status_code == 201, made.text
            approval_id = made.json()["id"]
            answers = asyncio.run(approve_all_at_once(urls, approval_id, list(tokens.values())))
            hook.wait_for(1)
            codes = Counter(a.status_code for a in answers)
            assert codes == {200: 3, 409: 7}, [a.text for a in answers]
            statuses = Counter(a.json()["status"] for a in answers if a.status_code == 200)
            assert statuses == {"PENDING": 2, "APPROVED": 1}
            final = httpx.get(f"{urls[-1]}/api/approvals/{approval_id}", headers=PIPELINE).json()
            assert final["status"] == "APPROVED"
            counted = [a for a in final["approvals"] if a["counted"]]
            assert len(counted) == len(final["approvals"]) == 3
            assert len({a["reviewer"] for a in counted}) == 3
            callbacks = httpx.get(
                f"{urls[1 % len(urls)]}/api/approvals/{approval_id}/callbacks", headers=PIPELINE
            ).json()["data"]
            assert len(callbacks) == 1 and callbacks[0]["state"] == "delivered"
            assert len(hook.received) == 1
            events = httpx.get(
                f"{urls[0]}/workflows/events/subject/{approval_id}",
                headers={"Authorization": f"Bearer {CKO_SECRET_KEY}"},
            ).json()["data"]
            kinds = Counter(e["type"] for e in events)
            assert kinds["approval_approved"] == 1 and kinds["approval_requested"] == 1


def test_one_reviewer_approving_five_times_at_once_counts_once(
    processes: list[ServiceProcess],
) -> None:
    urls = [p.url for p in processes]
    group, tokens = make_group(urls[0], 3)
    made = httpx.post(
        f"{urls[0]}/api/approvals/request",
        json={"action": "a", "summary": "2 of 3", "groups": [group], "requiredApprovals": 2},
        headers=PIPELINE,
    )
    approval_id = made.json()["id"]
    token = next(iter(tokens.values()))
    answers = asyncio.run(approve_all_at_once(urls, approval_id, [token] * 5))
    assert Counter(a.status_code for a in answers) == {200: 1, 409: 4}
    final = httpx.get(f"{urls[0]}/api/approvals/{approval_id}", headers=PIPELINE).json()
    assert final["status"] == "PENDING" and len(final["approvals"]) == 1
