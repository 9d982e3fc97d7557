"""The domain layer called directly, on SQLite and PostgreSQL: each function persists what
its behaviour causes (events, deliveries, callbacks) in one go, refuses with a domain
error that changes nothing, and wakes waiters and the delivery worker itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from signoff.models import ApprovalRequest, ApprovalStatus, DecisionReason, DecisionRequest
from signoff.server.app import start
from signoff.server.config import Settings
from signoff.server.domain import approvals, events
from signoff.server.domain.errors import AlreadyDecided, Conflict, Forbidden, NotFound
from signoff.server.services import Services
from signoff.server.store.credentials import Principal
from signoff.server.store.db import create_engine, write
from signoff.server.store.events import NewEvent
from signoff.server.store.tables import approvals as approvals_table
from signoff.server.store.tables import deliveries, webhooks

PIPELINE = Principal("api", "pipeline")
OTHER = Principal("api", "other")
ADMIN = Principal("admin", "ops")
ALICE = Principal("reviewer", "alice")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'domain.db'}"
    found: str = request.getfixturevalue("pg_url")
    return found


@pytest.fixture
async def services(url: str) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=url, api_keys=["k"], reviewer_tokens=["r"], signing_secret="whsec_x"
    )
    engine = create_engine(url)
    built = await start(settings, engine)
    try:
        yield built
    finally:
        await built.worker.close()
        await engine.dispose()


async def count(services: Services, table: Any, *where: Any) -> int:
    async with services.approvals.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def subscribe(services: Services, *event_types: str) -> None:
    """A webhook on these event types, written as the store keeps it."""
    async with write(services.approvals.engine) as conn:
        await conn.execute(
            webhooks.insert().values(
                id=f"wh_{len(event_types)}_{event_types[0]}",
                url=f"https://receiver.example/{event_types[0]}",
                active=True,
                headers={},
                content_type="json",
                event_types=list(event_types),
                created_at=approvals.utcnow(),
            )
        )


def request(**extra: Any) -> ApprovalRequest:
    return ApprovalRequest(action="refund.batch", summary="Refund 3 orders", **extra)


async def test_submit_stores_the_approval_its_event_and_deliveries_then_kicks_the_worker(
    services: Services,
) -> None:
    await subscribe(services, "approval_requested")
    services.worker.wakeup.clear()
    with services.hub.watch(["x"]):
        approval, created = await approvals.submit(services, request(), PIPELINE)
    assert created and approval.status is ApprovalStatus.PENDING
    # The approval_requested webhook is queued and the worker woken at once: no idle tick.
    assert services.worker.wakeup.is_set()
    queued = deliveries.c.kind == "webhook"
    assert await count(services, deliveries, queued) == 1
    assert await count(services, approvals_table, approvals_table.c.created_by == "pipeline") == 1


async def test_submit_with_a_key_replays_and_refuses_another_body(services: Services) -> None:
    first, made = await approvals.submit(services, request(), PIPELINE, "k1", "hash-a")
    again, made_again = await approvals.submit(services, request(), PIPELINE, "k1", "hash-a")
    assert made and not made_again and again.id == first.id
    with pytest.raises(Conflict):
        await approvals.submit(services, request(), PIPELINE, "k1", "hash-b")
    theirs, made_theirs = await approvals.submit(services, request(), OTHER, "k1", "hash-a")
    assert made_theirs and theirs.id != first.id  # keys are scoped to their caller


async def test_decide_once_with_callback_and_event_then_wake(services: Services) -> None:
    await subscribe(services, "approval_approved")
    approval, _ = await approvals.submit(
        services, request(callback_url="https://pipeline.example/cb"), PIPELINE
    )
    body = DecisionRequest(decision="approve", modified_details={"orders": 2}, note="ok")
    with services.hub.watch([approval.id]) as watch:
        services.worker.wakeup.clear()
        decided = await approvals.review(services, approval.id, body, ALICE)
        assert await watch.wait(0) == [approval.id]
    assert services.worker.wakeup.is_set()
    assert decided.status is ApprovalStatus.APPROVED and decided.decided_by == "alice"
    assert decided.modified_details == {"orders": 2}
    assert await count(services, deliveries, deliveries.c.kind == "callback") == 1
    assert await count(services, deliveries, deliveries.c.kind == "webhook") == 1

    reject = DecisionRequest(decision="reject")
    with pytest.raises(AlreadyDecided) as refused:
        await approvals.review(services, approval.id, reject, ALICE)
    assert refused.value.approval.status is ApprovalStatus.APPROVED
    assert await count(services, deliveries, deliveries.c.kind == "callback") == 1
    with pytest.raises(NotFound):
        await approvals.review(services, "req_missing", reject, ALICE)


async def test_cancel_is_the_submitters_or_an_admins(services: Services) -> None:
    approval, _ = await approvals.submit(services, request(), PIPELINE)
    with pytest.raises(Forbidden):
        await approvals.cancel(services, approval.id, OTHER)
    assert (await approvals.get(services, approval.id)).status is ApprovalStatus.PENDING
    cancelled = await approvals.cancel(services, approval.id, PIPELINE, "not needed")
    assert cancelled.decision_reason_code is DecisionReason.CANCELLED
    assert cancelled.decision_note == "not needed"
    theirs, _ = await approvals.submit(services, request(), OTHER)
    assert (await approvals.cancel(services, theirs.id, ADMIN)).decided_by == "ops"
    with pytest.raises(NotFound):
        await approvals.cancel(services, "req_missing", PIPELINE)


async def test_an_overdue_approval_expires_when_read_or_swept_and_wakes(
    services: Services,
) -> None:
    read_late, _ = await approvals.submit(services, request(expires_in_seconds=1), PIPELINE)
    swept, _ = await approvals.submit(services, request(expires_in_seconds=1), PIPELINE)
    async with write(services.approvals.engine) as conn:  # as if a second had passed
        await conn.execute(
            approvals_table.update()
            .values(expires_at=approvals.utcnow())
            .where(approvals_table.c.id.in_([read_late.id, swept.id]))
        )
    with services.hub.watch([read_late.id, swept.id]) as watch:
        expired = await approvals.get(services, read_late.id)
        assert expired.is_expired and expired.retryable
        assert [a.id for a in await approvals.expire_due(services)] == [swept.id]
        assert set(await watch.wait(0)) == {read_late.id, swept.id}
    assert await approvals.expire(services, swept.id) is None  # already decided: no-op
    with pytest.raises(NotFound):
        await approvals.get(services, "req_missing")


async def test_publish_routes_to_subscribers_and_replay_refuses_pending(
    services: Services,
) -> None:
    await subscribe(services, "payment_approved")
    await subscribe(services, "payment_declined", "payment_voided")
    services.worker.wakeup.clear()
    queued = await events.publish(services, NewEvent(type="payment_approved", data={"id": "p1"}))
    assert queued == 1 and services.worker.wakeup.is_set()
    async with services.approvals.engine.connect() as conn:
        delivery_id = await conn.scalar(
            select(deliveries.c.id).where(deliveries.c.kind == "webhook")
        )
    with pytest.raises(Conflict):  # still being tried: a replay would send it twice
        await events.replay(services, str(delivery_id), caller=None)
    async with write(services.approvals.engine) as conn:
        await conn.execute(deliveries.update().values(state="delivered"))
    replayed = await events.replay(services, str(delivery_id), caller=None)
    assert replayed != delivery_id
    with pytest.raises(NotFound):
        await events.replay(services, "dlv_missing", caller=None)
