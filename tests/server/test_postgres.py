"""Several service processes on one PostgreSQL behave as one service."""

from __future__ import annotations

import threading

import httpx

from signoff.client import ApprovalsClient
from signoff.models import ApprovalStatus
from tests.conftest import API_KEY, REVIEWER_TOKEN, StartService


def test_decision_in_one_process_wakes_a_waiter_in_another(
    start_service: StartService, pg_url: str
) -> None:
    a = start_service(pg_url)
    b = start_service(pg_url)
    with ApprovalsClient(a.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as on_a:
        created = on_a.create("a", "s")
        threading.Timer(0.3, lambda: on_a.approve(created.id, note="from a")).start()
        # Held on B with a 30 s wait but a 10 s read timeout: only B being woken by
        # A's decision (LISTEN/NOTIFY) lets this finish.
        response = httpx.get(
            f"{b.url}/api/approvals/{created.id}",
            params={"waitMs": 30000},
            headers={"x-api-key": API_KEY},
            timeout=10,
        )
    assert response.json()["status"] == "APPROVED"
    assert response.json()["decisionNote"] == "from a"


def test_concurrent_decisions_on_two_processes_exactly_one_wins(
    start_service: StartService, pg_url: str
) -> None:
    a = start_service(pg_url)
    b = start_service(pg_url)
    with ApprovalsClient(a.url, api_key=API_KEY) as client:
        ids = [client.create("a", f"s{i}").id for i in range(10)]
    for approval_id in ids:
        answers: list[int] = []
        barrier = threading.Barrier(2)

        def decide(
            url: str,
            decision: str,
            approval_id: str = approval_id,
            barrier: threading.Barrier = barrier,
            answers: list[int] = answers,
        ) -> None:
            barrier.wait()
            answers.append(
                httpx.post(
                    f"{url}/api/approvals/{approval_id}/decision",
                    json={"decision": decision, "note": decision},
                    headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"},
                ).status_code
            )

        threads = [
            threading.Thread(target=decide, args=(a.url, "approve")),
            threading.Thread(target=decide, args=(b.url, "reject")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == [200, 409]
        with ApprovalsClient(a.url, api_key=API_KEY) as client:
            final = client.get(approval_id)
        winner = "approve" if final.status is ApprovalStatus.APPROVED else "reject"
        assert final.decision_note == winner
