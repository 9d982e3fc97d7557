"""Client behaviour against a scripted HTTP peer on loopback: retries, fallbacks, errors.

The peer plays what signoff's own service never does on purpose (a 503, a 429, a hosted
service without long-poll), over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from signoff.client import (
    ApprovalsClient,
    AsyncApprovalsClient,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from signoff.models import ApprovalStatus
from signoff.server.process import free_port

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05)


@dataclass
class Answer:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Peer:
    url: str
    script: list[Answer]
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


def approval(status: str = "PENDING") -> dict[str, object]:
    return {
        "id": "req_1",
        "status": status,
        "action": "a",
        "summary": "s",
        "details": {},
        "riskLevel": "low",
        "createdAt": "2025-03-18T14:00:00.000Z",
    }


@contextmanager
def peer(*answers: Answer) -> Iterator[Peer]:
    state = Peer(url="", script=list(answers))

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length)
            state.seen.append(
                (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            )
            answer = state.script.pop(0) if len(state.script) > 1 else state.script[0]
            raw = b"" if answer.body is None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_reads_are_retried_on_503_honouring_retry_after() -> None:
    with peer(Answer(503, {"error": "busy"}, {"Retry-After": "0"}), Answer(200, approval())) as p:
        with ApprovalsClient(p.url, api_key="k", retry=FAST) as client:
            assert client.get("req_1").id == "req_1"
    assert len(p.seen) == 2


def test_429_then_success() -> None:
    with peer(
        Answer(429, {"error": "slow down"}, {"Retry-After": "0.05"}), Answer(200, approval())
    ) as p:
        with ApprovalsClient(p.url, api_key="k", retry=FAST) as client:
            client.get("req_1")
    assert len(p.seen) == 2


def test_retries_run_out_with_a_typed_error() -> None:
    with peer(Answer(429, {"error": "slow down"}, {"Retry-After": "0"})) as p:
        with (
            ApprovalsClient(p.url, api_key="k", retry=FAST) as client,
            pytest.raises(RateLimited) as caught,
        ):
            client.get("req_1")
    assert caught.value.status_code == 429 and caught.value.error == "slow down"
    assert len(p.seen) == FAST.attempts


def test_a_post_without_idempotency_key_is_sent_once() -> None:
    with peer(
        Answer(503, {"error": "busy"}), Answer(201, {"id": "req_1", "status": "PENDING"})
    ) as p:
        with ApprovalsClient(p.url, api_key="k", retry=FAST) as client, pytest.raises(ServerError):
            client.create("a", "s")
    assert len(p.seen) == 1


def test_a_post_with_idempotency_key_is_retried_with_the_same_key() -> None:
    with peer(Answer(502, None), Answer(201, {"id": "req_1", "status": "PENDING"})) as p:
        with ApprovalsClient(p.url, api_key="k", retry=FAST) as client:
            assert client.create("a", "s", idempotency_key="dag-run-task-1").id == "req_1"
    assert [seen[2]["idempotency-key"] for seen in p.seen] == ["dag-run-task-1"] * 2
    assert all(seen[2]["x-api-key"] == "k" for seen in p.seen)


def test_connection_errors_are_retried_then_raised() -> None:
    with ApprovalsClient(f"http://127.0.0.1:{free_port()}", retry=FAST) as client:
        with pytest.raises(TransportError):
            client.get("req_1")


def test_error_body_becomes_the_exception_text() -> None:
    with peer(Answer(404, {"error": "no approval with id 'req_1'"})) as p:
        with ApprovalsClient(p.url, api_key="k") as client, pytest.raises(NotFound) as caught:
            client.get("req_1")
    assert caught.value.error == "no approval with id 'req_1'"
    assert str(caught.value) == "HTTP 404: no approval with id 'req_1'"


def test_falls_back_to_polling_on_a_server_without_long_poll() -> None:
    """The hosted service ignores ``waitMs``: the client notices and polls with backoff."""
    with peer(
        Answer(200, approval()), Answer(200, approval()), Answer(200, approval("APPROVED"))
    ) as p:
        with ApprovalsClient(p.url, api_key="k") as client:
            decided = client.wait_for_decision("req_1", timeout=30, poll_interval=0.05)
    assert decided.status is ApprovalStatus.APPROVED
    queries = [urlsplit(path).query for _, path, _ in p.seen]
    assert queries[0].startswith("waitMs=") and queries[1:] == ["", ""]


async def test_async_client_shares_the_retry_logic() -> None:
    with peer(Answer(503, None, {"Retry-After": "0"}), Answer(200, approval("REJECTED"))) as p:
        async with AsyncApprovalsClient(p.url, api_key="k", retry=FAST) as client:
            assert (await client.get("req_1")).status is ApprovalStatus.REJECTED
    assert len(p.seen) == 2


def test_keys_stay_out_of_repr() -> None:
    client = ApprovalsClient("http://x.test", api_key="cq_live_secret", reviewer_token="rt_secret")
    assert "secret" not in repr(client) and "secret" not in repr(client.calls)


async def test_waiter_falls_back_to_polling_without_the_multi_wait_endpoint() -> None:
    from signoff.waiting import DecisionWaiter

    with peer(
        Answer(404, {"error": "Not Found"}),  # POST /api/approvals/wait: no such route
        Answer(200, approval()),  # GET: the approval exists, so the route is missing
        Answer(200, approval()),  # polling ...
        Answer(200, approval("APPROVED")),
    ) as p:
        async with AsyncApprovalsClient(p.url, api_key="k", retry=FAST) as client:
            waiter = DecisionWaiter(client)
            decided = await waiter.wait("req_1", timeout=30)
            await waiter.close()
    assert decided.status is ApprovalStatus.APPROVED
    assert [method for method, _, _ in p.seen][:2] == ["POST", "GET"]


async def test_waiter_works_with_a_server_that_answers_json_instead_of_a_stream() -> None:
    from signoff.waiting import DecisionWaiter

    other = {**approval(), "id": "req_2"}
    with peer(
        # A server that ignores "stream": one WaitResult per decision, as before.
        Answer(200, {"decided": [approval("APPROVED")], "pending": ["req_2"]}),
        Answer(200, {"decided": [{**other, "status": "REJECTED"}], "pending": []}),
    ) as p:
        async with AsyncApprovalsClient(p.url, api_key="k", retry=FAST) as client:
            waiter = DecisionWaiter(client)
            first = asyncio.create_task(waiter.wait("req_1", timeout=30))
            second = asyncio.create_task(waiter.wait("req_2", timeout=30))
            decided = await asyncio.gather(first, second)
            await waiter.close()
    assert [d.status for d in decided] == [ApprovalStatus.APPROVED, ApprovalStatus.REJECTED]
    assert [(method, path) for method, path, _ in p.seen] == [("POST", "/api/approvals/wait")] * 2
