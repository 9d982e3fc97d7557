"""ApprovalTrigger: the async generator run directly, as the triggerer runs it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from airflow.sdk.execution_time.comms import SetXCom
from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from signoff.client import AsyncApprovalsClient
from signoff.models import Approval, ApprovalStatus, DecisionReason
from signoff.server.process import ServiceProcess
from signoff.waiting import shared_waiters
from signoff_airflow._outcome import decision_of
from signoff_airflow.triggers.approval import ApprovalTrigger
from tests.conftest import API_KEY, REVIEWER, REVIEWER_TOKEN

pytestmark = pytest.mark.usefixtures("signoff_conn")


@pytest.fixture
async def client(service: ServiceProcess) -> AsyncIterator[AsyncApprovalsClient]:
    async with AsyncApprovalsClient(
        service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN
    ) as c:
        yield c


async def first_event(trigger: ApprovalTrigger) -> dict:  # type: ignore[type-arg]
    return (await fired(trigger)).payload  # type: ignore[no-any-return]


async def fired(trigger: ApprovalTrigger) -> TriggerEvent:
    """The first event, whatever its type; the generator must end right after it."""
    events = trigger.run()
    event = await anext(events)
    with pytest.raises(StopAsyncIteration):
        await anext(events)
    return event


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
    ending = ApprovalTrigger(
        "req_abc", end_from_trigger=True, on_reject="fail", on_expiry="approve", retries_left=True
    )
    assert ending.serialize()[1] == {
        "approval_id": "req_abc",
        "signoff_conn_id": "signoff_default",
        "deadline": None,
        "end_from_trigger": True,
        "on_reject": "fail",
        "on_expiry": "approve",
        "retries_left": True,
    }
    # What the triggerer does with it: import the class path, rebuild from the kwargs.
    from airflow.sdk._shared.module_loading import import_string

    for one in (trigger, ending):
        classpath, kwargs = one.serialize()
        again = import_string(classpath)(**json.loads(json.dumps(kwargs)))
        assert again.serialize() == one.serialize()
    with pytest.raises(ValueError, match="on_reject"):
        ApprovalTrigger("req_abc", on_reject="ignore")


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


# End from trigger: the events that end the task in the triggerer, and those that do not.


TI = SimpleNamespace(dag_id="refunds", task_id="ask", run_id="manual_1", map_index=-1)
"""What the triggerer sets as a deferred task's trigger's ``task_instance``."""


def ending(approval_id: str, **kwargs: object) -> ApprovalTrigger:
    trigger = ApprovalTrigger(approval_id, end_from_trigger=True, **kwargs)  # type: ignore[arg-type]
    trigger.task_instance = TI  # type: ignore[assignment]
    return trigger


class Supervisor:
    """The triggerer's supervisor, as the trigger process reaches it (``asend``): records
    the XComs the trigger pushes."""

    def __init__(self) -> None:
        self.pushed: list[SetXCom] = []

    async def asend(self, msg: object) -> None:
        assert isinstance(msg, SetXCom), msg  # the only thing the trigger asks for
        self.pushed.append(msg)

    def send(self, msg: object) -> None:
        raise AssertionError("a blocking call from the triggerer's event loop")


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    from airflow.sdk.execution_time import task_runner

    comms = Supervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    return comms


async def test_approved_pushes_the_decision_and_ends_the_task(
    client: AsyncApprovalsClient, supervisor: Supervisor
) -> None:
    created = await client.create("a", "s", {"n": 1})
    waiting = asyncio.create_task(fired(ending(created.id)))
    decided = await client.approve(created.id, modified_details={"n": 2}, note="fine")
    event = await waiting
    assert type(event) is TaskSuccessEvent and event.xcoms is None
    # The worker's return value, under its key, for this task instance, as a worker pushes.
    [pushed] = supervisor.pushed
    assert (pushed.key, pushed.dag_id, pushed.task_id) == ("return_value", "refunds", "ask")
    assert (pushed.run_id, pushed.map_index) == ("manual_1", -1)
    decision = XCom.deserialize_value(pushed)
    assert decision == decision_of(decided)  # the core summary, with the choices
    assert decision["approved"] is True and decision["details"] == {"n": 2}
    assert decision["decided_by"] == REVIEWER and decision["note"] == "fine"
    # What crosses from the trigger process to the triggerer's supervisor.
    from airflow.triggers.base import DiscrimatedTriggerEvent
    from pydantic import TypeAdapter

    adapter: TypeAdapter[TriggerEvent] = TypeAdapter(DiscrimatedTriggerEvent)
    assert type(adapter.validate_json(adapter.dump_json(event))) is TaskSuccessEvent


async def test_approved_resumes_where_it_cannot_push(
    client: AsyncApprovalsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No task instance (``dag.test()``'s inline run), or the push fails: the worker
    settles, with the decision in the event, as without end_from_trigger."""
    from airflow.sdk.execution_time import task_runner

    created = await client.create("a", "s")
    await client.approve(created.id)
    trigger = ending(created.id)
    trigger.task_instance = None
    event = await fired(trigger)
    assert type(event) is TriggerEvent and event.payload["status"] == "decided"
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)  # no asend
    event = await fired(ending(created.id))
    assert type(event) is TriggerEvent and event.payload["status"] == "decided"


@pytest.mark.parametrize(
    ("on_reject", "retries_left", "ends"),
    [
        ("fail", False, TaskFailedEvent),
        ("fail", True, None),  # Airflow would retry a TaskFailedEvent; rejections are not
        ("skip", False, None),  # skipping downstream needs the worker
    ],
)
async def test_rejected(
    client: AsyncApprovalsClient,
    supervisor: Supervisor,
    on_reject: str,
    retries_left: bool,
    ends: type | None,
) -> None:
    created = await client.create("a", "s")
    trigger = ending(created.id, on_reject=on_reject, retries_left=retries_left)
    waiting = asyncio.create_task(fired(trigger))
    await client.reject(created.id, note="no")
    event = await waiting
    if ends is None:
        assert type(event) is TriggerEvent
        assert event.payload["status"] == "decided"
        assert Approval.model_validate(event.payload["approval"]).status is ApprovalStatus.REJECTED
    else:
        assert type(event) is ends and event.xcoms is None
    assert supervisor.pushed == []  # only a success pushes


@pytest.mark.parametrize(
    ("on_expiry", "on_reject", "ends"),
    [
        ("fail", "skip", TaskFailedEvent),  # retried by Airflow if the task has retries
        ("approve", "fail", TaskSuccessEvent),  # the default decision pushed as the XCom
        ("reject", "fail", TaskFailedEvent),
        ("reject", "skip", None),
        ("skip", "fail", None),
    ],
)
async def test_expired(
    client: AsyncApprovalsClient,
    supervisor: Supervisor,
    on_expiry: str,
    on_reject: str,
    ends: type | None,
) -> None:
    created = await client.create("a", "s", {"n": 1}, expires_in=1)
    event = await fired(ending(created.id, on_reject=on_reject, on_expiry=on_expiry))
    if ends is None:
        assert type(event) is TriggerEvent and event.payload["status"] == "decided"
        approval = Approval.model_validate(event.payload["approval"])
        assert approval.decision_reason_code is DecisionReason.EXPIRED
        return
    assert type(event) is ends and event.xcoms is None
    if ends is TaskSuccessEvent:
        [pushed] = supervisor.pushed
        decision = XCom.deserialize_value(pushed)
        assert decision["approved"] is True and decision["default_decision"] == "approve"
        assert decision["status"] == "EXPIRED" and decision["details"] == {"n": 1}
        assert decision["reason"] == "expired, approved by on_expiry"
    else:
        assert supervisor.pushed == []


async def test_withdrawn_fails_the_task(client: AsyncApprovalsClient) -> None:
    created = await client.create("a", "s")
    waiting = asyncio.create_task(fired(ending(created.id, retries_left=True)))
    await client.cancel(created.id, reason="changed my mind")
    assert type(await waiting) is TaskFailedEvent  # retried (asking again) if it has retries


async def test_timeout_and_errors_resume_on_the_worker(client: AsyncApprovalsClient) -> None:
    created = await client.create("a", "s")
    event = await fired(ending(created.id, deadline=time.time() + 0.3))
    assert type(event) is TriggerEvent
    assert event.payload == {"approval_id": created.id, "status": "timeout"}
    event = await fired(ending("req_nope"))
    assert type(event) is TriggerEvent and event.payload["status"] == "error"


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
