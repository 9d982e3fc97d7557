"""``GET /metrics`` in the Prometheus text format, scraped from the real service."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from signoff.server.metrics import ServiceMetrics
from signoff.server.process import ServiceProcess, free_port
from signoff.server.store.db import create_engine, migrate, write
from signoff.server.store.outbox import OutboxLag, OutboxStore, enqueue
from signoff.server.store.tables import deliveries
from tests.conftest import API_KEY, REVIEWER_TOKEN

README = Path(__file__).parents[2] / "README.md"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample by (name, labels): what a Prometheus server would store."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(service: ServiceProcess) -> Samples:
    answer = httpx.get(f"{service.url}/metrics", headers={"x-api-key": API_KEY})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def create(service: ServiceProcess, **extra: object) -> str:
    answer = httpx.post(
        f"{service.url}/api/approvals/request",
        json={"action": "metrics", "summary": "s", **extra},
        headers={"x-api-key": API_KEY},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_request_counters_move_by_route_template_and_status(service: ServiceProcess) -> None:
    before = scrape(service)
    approval_id = create(service)
    read = "/api/approvals/{approval_id}"
    for path in (approval_id, "req_nope"):
        httpx.get(f"{service.url}/api/approvals/{path}", headers={"x-api-key": API_KEY})
    after = scrape(service)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "signoff_http_requests_total"
    durations = "signoff_http_request_duration_seconds_count"
    assert moved(requests, method="POST", route="/api/approvals/request") == 1
    assert moved(requests, method="GET", route=read) == 2
    assert moved(durations, method="POST", route="/api/approvals/request", status="201") == 1
    assert moved(durations, method="GET", route=read, status="200") == 1
    assert moved(durations, method="GET", route=read, status="404") == 1
    assert moved(requests, method="GET", route="/metrics") == 1  # the scrape before
    # no id ever becomes a label: one series per route, however many approvals
    assert not any(approval_id in str(labels) for _, labels in after)
    assert value(after, "signoff_build_info", version=version_of(service)) == 1


def version_of(service: ServiceProcess) -> str:
    return str(httpx.get(f"{service.url}/healthz").json()["version"])


def test_a_held_long_poll_is_in_flight_until_decided(service: ServiceProcess) -> None:
    approval_id = create(service)
    read = "/api/approvals/{approval_id}"
    in_flight = "signoff_http_requests_in_flight"
    base = value(scrape(service), in_flight, method="GET", route=read)
    answered: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: answered.append(
            httpx.get(
                f"{service.url}/api/approvals/{approval_id}?waitMs=20000",
                headers={"x-api-key": API_KEY},
                timeout=30,
            )
        )
    )
    waiter.start()
    eventually(lambda: value(scrape(service), in_flight, method="GET", route=read) == base + 1)
    held = scrape(service)
    assert value(held, "signoff_waits_watched_approvals") >= 1
    assert value(held, in_flight, method="GET", route="/metrics") == 1  # the scrape itself
    decided = httpx.post(
        f"{service.url}/api/approvals/{approval_id}/decision",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"},
    )
    assert decided.status_code == 200
    waiter.join(30)
    assert answered[0].json()["status"] == "APPROVED"
    assert value(scrape(service), in_flight, method="GET", route=read) == base


def test_the_outbox_backlog_is_read_when_scraped(service: ServiceProcess) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/callback"  # refuses: retried, stays pending
    approval_id = create(service, callbackUrl=nobody)
    httpx.post(
        f"{service.url}/api/approvals/{approval_id}/decision",
        json={"decision": "reject"},
        headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"},
    )
    eventually(lambda: value(scrape(service), "signoff_outbox_pending") >= 1)
    assert value(scrape(service), "signoff_outbox_oldest_due_age_seconds") >= 0


def test_metrics_need_a_key(service: ServiceProcess) -> None:
    assert httpx.get(f"{service.url}/metrics").status_code == 401


async def test_outbox_lag_counts_pending_and_ages_the_oldest_due(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'lag.db'}")
    now = datetime.now(timezone.utc)
    try:
        await migrate(engine)
        assert await OutboxStore(engine).lag(now) == OutboxLag(pending=0, oldest_due_seconds=0.0)
        async with write(engine) as conn:
            ids = [
                await enqueue(conn, kind="callback", subject_id="req_x", url="u", payload="{}")
                for _ in range(4)
            ]
            plan = [
                ("pending", now - timedelta(seconds=30)),  # overdue: the lag
                ("pending", now - timedelta(seconds=5)),
                ("pending", now + timedelta(seconds=60)),  # a retry, not yet due
                ("delivered", now - timedelta(seconds=90)),  # done: not a backlog
            ]
            for delivery_id, (state, at) in zip(ids, plan, strict=True):
                await conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == delivery_id)
                    .values(state=state, next_attempt_at=at)
                )
        lag = await OutboxStore(engine).lag(now)
        assert lag.pending == 3
        assert abs(lag.oldest_due_seconds - 30) < 1
    finally:
        await engine.dispose()


def test_waits_and_deliveries_report_to_their_own_app() -> None:
    """Two services in one process: each has its own registry, nothing is shared."""
    one, other = ServiceMetrics(), ServiceMetrics()
    with one.held_wait("stream"), one.held_wait("stream"), one.held_wait("long_poll"):
        held = parse(generate_latest(one.registry).decode())
        assert value(held, "signoff_waits_held", kind="stream") == 2
        assert value(held, "signoff_waits_held", kind="long_poll") == 1
    one.record_delivery("webhook", "delivered", 0.05)
    one.record_delivery("webhook", "pending", 1.5)  # will be retried
    one.record_delivery("callback", "failed", 10.0)  # given up
    mine = parse(generate_latest(one.registry).decode())
    theirs = parse(generate_latest(other.registry).decode())
    attempts = "signoff_delivery_attempts_total"
    assert value(mine, "signoff_waits_held", kind="stream") == 0
    assert value(mine, attempts, kind="webhook", outcome="delivered") == 1
    assert value(mine, attempts, kind="webhook", outcome="retry") == 1
    assert value(mine, attempts, kind="callback", outcome="failed") == 1
    duration = "signoff_delivery_attempt_duration_seconds_sum"
    assert value(mine, duration, kind="webhook", outcome="retry") == 1.5
    assert value(theirs, attempts, kind="webhook", outcome="delivered") == 0
    assert (attempts, frozenset({("kind", "workflow"), ("outcome", "failed")})) in theirs


def test_every_metric_is_documented(service: ServiceProcess) -> None:
    """README's table and the scrape name the same series (counters without _total,
    as the parser names their families)."""
    text = httpx.get(f"{service.url}/metrics", headers={"x-api-key": API_KEY}).text
    exposed = {family.name for family in text_string_to_metric_families(text)}
    section = README.read_text().split("### Metrics", 1)[1].split("\n### ", 1)[0]
    documented = re.findall(r"^\| `(signoff_\w+)`", section, re.MULTILINE)
    assert exposed == {name.removesuffix("_total") for name in documented}
