"""Receivers that misbehave: hang, reset the connection, redirect, throttle, or go away.

Each is a real socket peer on loopback; the service must neither stall nor lose the
delivery, and must log what happened on every attempt.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from signoff.client import WorkflowsClient
from signoff.server.process import ServiceProcess
from tests.conftest import CKO_SECRET_KEY, StartService

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def hang(conn: socket.socket) -> None:
    time.sleep(3)  # longer than the service's --delivery-timeout of 1 s


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def redirect(conn: socket.socket) -> None:
    conn.sendall(
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )


def throttle(conn: socket.socket) -> None:
    conn.sendall(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n"
        b"Content-Length: 9\r\nConnection: close\r\n\r\nslow down"
    )


def gone(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@contextmanager
def scripted(*behaviours: Callable[[socket.socket], None]) -> Iterator[dict[str, Any]]:
    """Answers the n-th connection with the n-th behaviour; later ones with 200."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    state: dict[str, Any] = {
        "url": f"http://127.0.0.1:{server.getsockname()[1]}/hook",
        "bodies": [],
    }
    script = list(behaviours)

    lock = threading.Lock()

    def answer(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            while len(body) < length:
                body += conn.recv(65536)
            with lock:
                state["bodies"].append(body)
                behaviour = script.pop(0) if script else None
            if behaviour is None:
                conn.sendall(OK)
            else:
                behaviour(conn)

    def serve() -> None:  # one thread per connection: a hanging answer blocks no other
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.close()


@pytest.fixture
def quick_service(start_service: StartService) -> ServiceProcess:
    return start_service(None, "--delivery-timeout", "1")


def deliver_through(
    service: ServiceProcess, *behaviours: Callable[[socket.socket], None], expect: str
) -> Any:
    with (
        scripted(*behaviours) as peer,
        WorkflowsClient(service.url, secret_key=CKO_SECRET_KEY) as client,
    ):
        client.create(
            {
                "name": f"faults {len(behaviours)} {expect}",
                "actions": [{"type": "webhook", "url": peer["url"]}],
            }
        )
        published = client.publish_event({"type": "payment_paid", "data": {"n": 1}})
        for _ in range(600):
            (delivery,) = [d for d in client.event_deliveries(published.id) if d.url == peer["url"]]
            if delivery.state == expect:
                break
            time.sleep(0.1)
        ids = {json.loads(body)["id"] for body in peer["bodies"]}
    assert delivery.state == expect, delivery
    assert ids == {published.id}  # every attempt carried the same event id
    return delivery


def test_hanging_then_resetting_receiver_is_retried_until_it_answers(
    quick_service: ServiceProcess,
) -> None:
    delivery = deliver_through(quick_service, hang, reset, expect="delivered")
    first, second, third = delivery.attempts
    assert first.status_code is None and "Timeout" in (first.error or "")
    assert second.status_code is None and first.error != second.error
    assert third.status_code == 200


def test_a_redirect_is_not_success_and_is_not_followed(quick_service: ServiceProcess) -> None:
    delivery = deliver_through(quick_service, redirect, expect="delivered")
    assert [a.status_code for a in delivery.attempts] == [302, 200]
    assert delivery.attempts[0].error == "receiver answered 302"


def test_429_waits_for_retry_after(quick_service: ServiceProcess) -> None:
    delivery = deliver_through(quick_service, throttle, expect="delivered")
    throttled, delivered = delivery.attempts
    assert throttled.status_code == 429 and throttled.response_excerpt == "slow down"
    assert (delivered.attempted_on - throttled.attempted_on).total_seconds() >= 0.9


def test_410_gone_stops_the_retries(quick_service: ServiceProcess) -> None:
    delivery = deliver_through(quick_service, gone, expect="failed")
    assert [a.status_code for a in delivery.attempts] == [410]
