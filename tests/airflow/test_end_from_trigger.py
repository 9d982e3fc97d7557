"""End from trigger: the trigger ends the task in the triggerer, with Airflow's own code.

``run_dag_with_triggerer`` runs each trigger as the triggerer does (its task instance
set, its XCom pushes served through the Execution API) and hands its event to
``Trigger.submit_event``, as the triggerer does; there a ``TaskSuccessEvent`` /
``TaskFailedEvent`` sets the task's state and retry, and ``execute_complete`` never runs.
``dag.test()`` alone does not honour those events (it resumes the task with the event's
payload, ``"failed"``): the last test pins that down; the operator settles from the
service then.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from signoff.models import DecisionReason
from signoff_airflow.operators.approval import RequestApprovalOperator
from signoff_airflow.sensors.approval import ApprovalSensor
from tests.airflow.dags import (
    TRIGGER_EVENTS,
    Reviewer,
    approvals_of,
    approve,
    deciding_when_deferred,
    reject,
    run_dag,
    run_dag_with_triggerer,
    task_states,
    try_numbers,
    xcoms,
)
from tests.airflow.test_operator import RECEIVED, refund_dag

pytestmark = pytest.mark.usefixtures("airflow_db", "signoff_conn")

ON_OFF = pytest.mark.parametrize("end_from_trigger", [True, False], ids=["ends", "resumes"])


@pytest.fixture
def resumed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The events ``execute_complete`` of either class was resumed with, in order."""
    calls: list[Any] = []
    for cls in (RequestApprovalOperator, ApprovalSensor):
        original = cls.execute_complete

        def recording(self: Any, context: Any, event: Any, _original: Any = original) -> Any:
            calls.append(event)
            return _original(self, context, event)

        monkeypatch.setattr(cls, "execute_complete", recording)
    TRIGGER_EVENTS.clear()
    yield calls


def event_types() -> list[str]:
    return [type(e).__name__ for e in TRIGGER_EVENTS]


@ON_OFF
def test_approved(signoff_conn: str, resumed: list[Any], end_from_trigger: bool) -> None:
    dag_id = f"eft_approve_{end_from_trigger}"
    dag = refund_dag(dag_id, end_from_trigger=end_from_trigger)
    edit = {"orderId": "8842", "amount": 100}
    run = run_dag_with_triggerer(dag, signoff_conn, approve(modified_details=edit, note="partial"))
    assert task_states(run) == {"ask": "success", "act": "success"}
    [approval] = approvals_of(signoff_conn, dag_id)
    decision = RECEIVED[dag_id]["decision"]
    assert decision["approved"] is True and decision["details"] == edit
    assert decision["note"] == "partial" and decision["approval_id"] == approval.id
    assert RECEIVED[dag_id]["approval_id"] == approval.id
    # The same XComs either way: approval_id and review_url before waiting, the decision.
    pushed = {key: value for (task, key), value in xcoms(run).items() if task == "ask"}
    assert pushed == {
        "approval_id": approval.id,
        "review_url": approval.review_url,
        "return_value": decision,
    }
    if end_from_trigger:
        assert event_types() == ["TaskSuccessEvent"] and resumed == []
    else:
        assert event_types() == ["TriggerEvent"] and len(resumed) == 1


@ON_OFF
def test_rejected_skip_resumes_to_skip_downstream(
    signoff_conn: str, resumed: list[Any], end_from_trigger: bool
) -> None:
    dag_id = f"eft_reject_skip_{end_from_trigger}"
    dag = refund_dag(dag_id, end_from_trigger=end_from_trigger)
    run = run_dag_with_triggerer(dag, signoff_conn, reject("not today"))
    assert task_states(run) == {"ask": "success", "act": "skipped"}
    assert xcoms(run)[("ask", "return_value")]["status"] == "REJECTED"
    assert event_types() == ["TriggerEvent"] and len(resumed) == 1


@ON_OFF
@pytest.mark.parametrize("retries", [0, 2])
def test_rejected_fail_is_not_retried(
    signoff_conn: str, resumed: list[Any], end_from_trigger: bool, retries: int
) -> None:
    dag_id = f"eft_reject_fail_{end_from_trigger}_{retries}"
    dag = refund_dag(
        dag_id,
        end_from_trigger=end_from_trigger,
        on_reject="fail",
        retries=retries,
        retry_delay=timedelta(0),
    )
    run = run_dag_with_triggerer(dag, signoff_conn, reject("no"))
    assert task_states(run) == {"ask": "failed", "act": "upstream_failed"}
    assert try_numbers(run)["ask"] == 1
    assert len(approvals_of(signoff_conn, dag_id)) == 1
    if end_from_trigger and not retries:
        assert event_types() == ["TaskFailedEvent"] and resumed == []
    else:  # with retries left Airflow would retry a TaskFailedEvent: the worker fails it
        assert event_types() == ["TriggerEvent"] and len(resumed) == 1


@ON_OFF
def test_expired_fail_is_retried_and_asks_again(
    signoff_conn: str, resumed: list[Any], end_from_trigger: bool
) -> None:
    dag_id = f"eft_expiry_retry_{end_from_trigger}"
    dag = refund_dag(
        dag_id,
        end_from_trigger=end_from_trigger,
        response_timeout=timedelta(seconds=1),
        retries=1,
        retry_delay=timedelta(0),
    )
    run = run_dag_with_triggerer(dag, signoff_conn)  # nobody decides, twice
    assert task_states(run) == {"ask": "failed", "act": "upstream_failed"}
    assert try_numbers(run)["ask"] == 2
    approvals = approvals_of(signoff_conn, dag_id)
    assert len(approvals) == 2
    assert all(a.decision_reason_code is DecisionReason.EXPIRED for a in approvals)
    if end_from_trigger:
        assert event_types() == ["TaskFailedEvent"] * 2 and resumed == []
    else:
        assert event_types() == ["TriggerEvent"] * 2 and len(resumed) == 2


def test_expired_approve_by_default_ends_with_success(
    signoff_conn: str, resumed: list[Any]
) -> None:
    dag_id = "eft_expiry_approve"
    dag = refund_dag(dag_id, response_timeout=timedelta(seconds=1), on_expiry="approve")
    run = run_dag_with_triggerer(dag, signoff_conn)  # nobody decides
    assert task_states(run) == {"ask": "success", "act": "success"}
    decision = RECEIVED[dag_id]["decision"]
    assert decision["approved"] is True and decision["default_decision"] == "approve"
    assert decision["status"] == "EXPIRED"
    assert decision["reason"] == "expired, approved by on_expiry"
    assert event_types() == ["TaskSuccessEvent"] and resumed == []


@ON_OFF
def test_sensor(signoff_conn: str, resumed: list[Any], end_from_trigger: bool) -> None:
    from airflow.sdk import DAG, task

    from signoff.client import ApprovalsClient
    from tests.conftest import API_KEY

    dag_id = f"eft_sensor_{end_from_trigger}"
    with ApprovalsClient(signoff_conn, api_key=API_KEY) as c:
        created = c.create("deploy", "Deploy v2", {"version": "2"})
    with DAG(dag_id, schedule=None) as dag:

        @task
        def act(decision: dict[str, Any]) -> None:
            RECEIVED[dag_id] = {"decision": decision}

        wait = ApprovalSensor(
            task_id="wait", approval_id=created.id, end_from_trigger=end_from_trigger
        )
        act(wait.output)

    run = run_dag_with_triggerer(dag, signoff_conn, approve(note="go"))
    assert task_states(run) == {"wait": "success", "act": "success"}
    assert RECEIVED[dag_id]["decision"]["approval_id"] == created.id
    assert RECEIVED[dag_id]["decision"]["note"] == "go"
    assert event_types() == (["TaskSuccessEvent"] if end_from_trigger else ["TriggerEvent"])
    assert len(resumed) == (0 if end_from_trigger else 1)


def test_listeners_turn_it_off(signoff_conn: str) -> None:
    """Airflow refuses to load an end_from_trigger task while listeners are registered."""
    from airflow.listeners.listener import get_listener_manager

    class Listener:
        pass

    op = RequestApprovalOperator(task_id="ask", action="a", summary="s")
    assert op.end_from_trigger is True
    manager = get_listener_manager()
    listener = Listener()
    manager.add_listener(listener)
    try:
        assert op.end_from_trigger is False
        dag_id = "eft_listeners"
        with Reviewer(signoff_conn, dag_id, approve()):
            run = run_dag(refund_dag(dag_id))  # loads: no AirflowException from the DagBag
        assert task_states(run) == {"ask": "success", "act": "success"}
    finally:
        manager.pm.unregister(listener)
    assert op.end_from_trigger is True
    assert (
        RequestApprovalOperator(
            task_id="ask", action="a", summary="s", end_from_trigger=False
        ).end_from_trigger
        is False
    )


def test_dag_test_resumes_an_ended_task_with_the_payload(
    signoff_conn: str, resumed: list[Any]
) -> None:
    """``dag.test()`` (Airflow 3.3) runs the trigger inline but does not end the task on
    a TaskFailedEvent / TaskSuccessEvent: it resumes ``execute_complete`` with the event's
    payload (``"failed"``), and the operator settles from the service, with the same
    outcome. (It sets no task instance on the trigger either, so an approval, whose
    decision the trigger could not push, resumes with the decision as before.)"""
    dag_id = "eft_dag_test"
    with deciding_when_deferred(signoff_conn, reject("no"), approve(note="ok")):
        first = run_dag(refund_dag(dag_id, on_reject="fail"))
        assert task_states(first) == {"ask": "failed", "act": "upstream_failed"}
        assert event_types() == ["TaskFailedEvent"] and resumed == ["failed"]
        second = run_dag(refund_dag(dag_id, on_reject="fail"))  # a new run asks again
    assert task_states(second) == {"ask": "success", "act": "success"}
    assert event_types() == ["TaskFailedEvent", "TriggerEvent"]
    assert resumed[1]["status"] == "decided"
    assert RECEIVED[dag_id]["decision"]["note"] == "ok"
    assert sorted(a.status.value for a in approvals_of(signoff_conn, dag_id)) == [
        "APPROVED",
        "REJECTED",
    ]
