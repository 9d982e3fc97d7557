"""RequestApprovalOperator under real Airflow (``dag.test()``) against the real service.

A reviewer decides from another thread, as a person would from the review page.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from signoff.models import ApprovalStatus, DecisionReason
from signoff_airflow.operators.approval import RequestApprovalOperator
from tests.airflow.dags import (
    Reviewer,
    approvals_of,
    approve,
    clear_and_rerun,
    reject,
    run_dag,
    task_states,
    try_numbers,
)
from tests.conftest import REVIEWER

pytestmark = pytest.mark.usefixtures("airflow_db", "signoff_conn")

RECEIVED: dict[str, dict[str, Any]] = {}
"""What the downstream task of each DAG received, by dag_id."""

START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def refund_dag(dag_id: str, **operator_kwargs: Any) -> Any:
    """ask -> act: ``act`` records the decision, the XComs and the TI it ran in."""
    from airflow.sdk import DAG, task

    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        cls = operator_kwargs.pop("operator_class", RequestApprovalOperator)
        ask = cls(
            task_id="ask",
            action="process_refund",
            summary="Refund {{ params.amount }} for order {{ params.order }}",
            details={"orderId": "{{ params.order }}", "amount": 120},
            risk_level="high",
            justification="Customer reported a double charge",
            params={"order": "8842", "amount": "$120.00"},
            **operator_kwargs,
        )

        @task
        def act(decision: dict[str, Any], **context: Any) -> None:
            ti = context["ti"]
            RECEIVED[dag_id] = {
                "decision": decision,
                "approval_id": ti.xcom_pull(task_ids="ask", key="approval_id"),
                "review_url": ti.xcom_pull(task_ids="ask", key="review_url"),
            }

        act(ask.output)
    return dag


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "worker"])
def test_approve_with_edit_reaches_downstream(signoff_conn: str, deferrable: bool) -> None:
    dag_id = f"refund_edit_{deferrable}"
    dag = refund_dag(dag_id, deferrable=deferrable)
    edit = {"orderId": "8842", "amount": 100}
    with Reviewer(signoff_conn, dag_id, approve(modified_details=edit, note="partial")) as r:
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success", "act": "success"}
    [approval] = approvals_of(signoff_conn, dag_id)
    assert r.seen[0].id == approval.id
    got = RECEIVED[dag_id]
    assert got["approval_id"] == approval.id
    assert got["review_url"] == approval.review_url and approval.review_url
    decision = got["decision"]
    assert decision["approved"] is True and decision["status"] == "APPROVED"
    assert decision["details"] == edit and decision["modified"] is True
    assert decision["note"] == "partial" and decision["decided_by"] == REVIEWER
    assert decision["decided_at"] and decision["reason"] == "REVIEWER"
    # What the reviewer saw: the rendered templates and where it came from.
    assert approval.summary == "Refund $120.00 for order 8842"
    assert approval.details == {"orderId": "8842", "amount": 120}
    assert approval.risk_level.value == "high"
    assert approval.source is not None
    assert (approval.source.system, approval.source.pipeline) == ("airflow", dag_id)
    assert (approval.source.run, approval.source.task) == (run.run_id, "ask")
    assert approval.source.url and approval.source.url.startswith("http://airflow.example:8080/")


def test_reject_skips_downstream_by_default(signoff_conn: str) -> None:
    dag_id = "refund_reject_skip"
    with Reviewer(signoff_conn, dag_id, reject("not on a Friday")):
        run = run_dag(refund_dag(dag_id))
    assert task_states(run) == {"ask": "success", "act": "skipped"}
    assert run.state == "success"
    [approval] = approvals_of(signoff_conn, dag_id)
    assert approval.status is ApprovalStatus.REJECTED
    assert dag_id not in RECEIVED


def test_reject_fails_without_retrying(signoff_conn: str) -> None:
    dag_id = "refund_reject_fail"
    dag = refund_dag(dag_id, on_reject="fail", retries=2, retry_delay=timedelta(0))
    with Reviewer(signoff_conn, dag_id, reject("no")):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "failed", "act": "upstream_failed"}
    assert try_numbers(run)["ask"] == 1
    assert len(approvals_of(signoff_conn, dag_id)) == 1


@pytest.mark.parametrize(
    ("on_expiry", "on_reject", "ask_state", "act_state"),
    [
        ("fail", "skip", "failed", "upstream_failed"),
        ("skip", "fail", "success", "skipped"),
        ("approve", "fail", "success", "success"),
        ("reject", "fail", "failed", "upstream_failed"),
        ("reject", "skip", "success", "skipped"),
    ],
)
def test_expiry_follows_its_policy(
    signoff_conn: str, on_expiry: str, on_reject: str, ask_state: str, act_state: str
) -> None:
    dag_id = f"refund_expiry_{on_expiry}_{on_reject}"
    dag = refund_dag(
        dag_id, response_timeout=timedelta(seconds=1), on_expiry=on_expiry, on_reject=on_reject
    )
    run = run_dag(dag)  # nobody decides
    assert task_states(run) == {"ask": ask_state, "act": act_state}
    [approval] = approvals_of(signoff_conn, dag_id)
    assert approval.decision_reason_code is DecisionReason.EXPIRED
    if act_state == "success":
        decision = RECEIVED[dag_id]["decision"]
        assert decision["approved"] is True and decision["default_decision"] == "approve"
        assert decision["status"] == "EXPIRED"
        assert decision["reason"] == "expired, approved by on_expiry"
        assert decision["details"] == {"orderId": "8842", "amount": 120}


class CrashingOnce(RequestApprovalOperator):
    """Dies like a lost worker on its first try, after asking and before waiting."""

    def defer(self, **kwargs: Any) -> Any:  # type: ignore[override]
        from airflow.sdk import get_current_context

        if get_current_context()["ti"].try_number == 1:
            raise RuntimeError("worker lost")
        return super().defer(**kwargs)


def test_a_retry_reuses_the_approval(signoff_conn: str) -> None:
    dag_id = "refund_retry"
    dag = refund_dag(dag_id, operator_class=CrashingOnce, retries=2, retry_delay=timedelta(0))
    with Reviewer(signoff_conn, dag_id, approve(note="ok")):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success", "act": "success"}
    assert try_numbers(run)["ask"] == 2
    [approval] = approvals_of(signoff_conn, dag_id)
    assert RECEIVED[dag_id]["approval_id"] == approval.id


def test_a_rerun_of_the_same_try_replays_the_decision(signoff_conn: str) -> None:
    """Same run id, same try (``dag.test`` deletes and recreates the run): no second
    approval; the check before deferring finds the decision and nothing waits."""
    dag_id = "refund_rerun"
    dag = refund_dag(dag_id)
    when = datetime(2025, 3, 18, tzinfo=timezone.utc)
    with Reviewer(signoff_conn, dag_id, approve(note="once")):
        first = run_dag(dag, logical_date=when, run_after=when)
    RECEIVED.pop(dag_id)
    second = run_dag(dag, logical_date=when, run_after=when)
    assert second.run_id == first.run_id
    assert task_states(second) == {"ask": "success", "act": "success"}
    [approval] = approvals_of(signoff_conn, dag_id)
    assert RECEIVED[dag_id]["decision"]["note"] == "once"
    assert RECEIVED[dag_id]["approval_id"] == approval.id


def test_clearing_a_rejected_task_asks_again(signoff_conn: str) -> None:
    dag_id = "refund_clear"
    dag = refund_dag(dag_id, on_reject="fail")
    with Reviewer(signoff_conn, dag_id, reject("wrong amount")):
        first = run_dag(dag)
    assert task_states(first)["ask"] == "failed"
    with Reviewer(signoff_conn, dag_id, approve()):
        second = clear_and_rerun(dag, first)
    assert second.run_id == first.run_id
    assert task_states(second) == {"ask": "success", "act": "success"}
    assert try_numbers(second)["ask"] == 2
    approvals = approvals_of(signoff_conn, dag_id)
    assert sorted(a.status.value for a in approvals) == ["APPROVED", "REJECTED"]
    assert RECEIVED[dag_id]["approval_id"] == next(
        a.id for a in approvals if a.status is ApprovalStatus.APPROVED
    )


def test_a_killed_task_withdraws_its_approval(signoff_conn: str) -> None:
    """``execution_timeout`` makes Airflow kill the waiting task and call ``on_kill``."""
    dag_id = "refund_killed"
    dag = refund_dag(dag_id, deferrable=False, execution_timeout=timedelta(seconds=2))
    run = run_dag(dag)
    assert task_states(run) == {"ask": "failed", "act": "upstream_failed"}
    [approval] = approvals_of(signoff_conn, dag_id)
    assert approval.status is ApprovalStatus.REJECTED
    assert approval.decision_reason_code is DecisionReason.CANCELLED
