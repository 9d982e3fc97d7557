"""Airflow notifiers on the approval operators (``notifiers=``, as HITL's), under real
Airflow (``dag.test()``) against the real service: told once, when the approval opens,
with the link to its review page; a failing one fails nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseNotifier

from signoff.client import ApprovalsClient
from signoff.models import Approval, ApprovalStatus
from signoff_airflow import _notifiers
from signoff_airflow.operators.approval import RequestApprovalOperator
from signoff_airflow.operators.branch import ApprovalBranchOperator
from tests.airflow.dags import (
    Reviewer,
    approvals_of,
    approve,
    clear_and_rerun,
    deciding_when_deferred,
    reject,
    run_dag,
    task_states,
    try_numbers,
)

pytestmark = pytest.mark.usefixtures("airflow_db", "signoff_conn")

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
MESSAGE = (
    "{{ approval.summary }} ({{ task.task_id }}, try {{ ti.try_number }}): "
    "decide {{ approval_id }} at {{ review_url }}"
)


class FileNotifier(BaseNotifier):
    """Writes what it rendered, one JSON line per call: the templated ``message`` and the
    context keys the operator adds."""

    template_fields = ("message",)

    def __init__(self, path: Path, message: str = MESSAGE) -> None:
        super().__init__()
        self.path = path
        self.message = message

    def notify(self, context: Any) -> None:
        line = {
            "message": self.message,
            "approval_id": context["approval_id"],
            "review_url": context["review_url"],
            "status": context["approval"]["status"],
            "try": context["ti"].try_number,
        }
        with self.path.open("a") as out:
            out.write(json.dumps(line) + "\n")


class BrokenNotifier(BaseNotifier):
    """A chat service that is down."""

    def notify(self, context: Any) -> None:
        raise ConnectionError("chat service unreachable")


def heard(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def expected_message(approval: Approval, try_number: int = 1, task_id: str = "ask") -> str:
    return (
        f"{approval.summary} ({task_id}, try {try_number}): "
        f"decide {approval.id} at {approval.review_url}"
    )


def refund_dag(dag_id: str, **operator_kwargs: Any) -> Any:
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        cls = operator_kwargs.pop("operator_class", RequestApprovalOperator)
        cls(
            task_id="ask",
            action="process_refund",
            summary="Refund {{ params.amount }} for order {{ params.order }}",
            details={"orderId": "{{ params.order }}", "amount": 120},
            params={"order": "8842", "amount": "$120.00"},
            **operator_kwargs,
        )
    return dag


def test_a_notifier_hears_where_to_decide_once_though_the_task_deferred(
    signoff_conn: str, tmp_path: Path
) -> None:
    dag_id = "notify_once_deferred"
    out = tmp_path / "heard.jsonl"
    deferred: list[str] = []

    def approve_when_deferred(client: ApprovalsClient, approval: Approval) -> None:
        deferred.append(approval.id)
        assert len(heard(out)) == 1, "the notifier is called before the task defers"
        client.approve(approval.id)

    dag = refund_dag(dag_id, notifiers=FileNotifier(out))  # one notifier, not a list
    with deciding_when_deferred(signoff_conn, approve_when_deferred):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success"}
    assert try_numbers(run)["ask"] == 1
    [approval] = approvals_of(signoff_conn, dag_id)
    assert deferred == [approval.id]  # it deferred, and resumed to settle the decision
    assert approval.status is ApprovalStatus.APPROVED
    assert approval.review_url and approval.id in approval.review_url
    [line] = heard(out)  # exactly once, not again on resuming
    assert line == {
        "message": expected_message(approval),
        "approval_id": approval.id,
        "review_url": approval.review_url,
        "status": "PENDING",
        "try": 1,
    }
    assert line["message"].startswith("Refund $120.00 for order 8842 (ask, try 1)")


def test_on_the_worker_the_notifier_is_called_before_the_wait(
    signoff_conn: str, tmp_path: Path
) -> None:
    dag_id = "notify_worker"
    out = tmp_path / "heard.jsonl"
    dag = refund_dag(dag_id, notifiers=[FileNotifier(out)], deferrable=False)
    with Reviewer(signoff_conn, dag_id, approve()):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success"}
    [approval] = approvals_of(signoff_conn, dag_id)
    assert [line["message"] for line in heard(out)] == [expected_message(approval)]


def test_a_failing_notifier_fails_neither_the_task_nor_the_others(
    signoff_conn: str, tmp_path: Path
) -> None:
    dag_id = "notify_broken"
    out = tmp_path / "heard.jsonl"
    bad_template = FileNotifier(tmp_path / "never.jsonl", message="{{ approval.nope.deeper }}")
    notifiers = [BrokenNotifier(), bad_template, FileNotifier(out)]
    dag = refund_dag(dag_id, notifiers=notifiers, on_reject="fail")
    with deciding_when_deferred(signoff_conn, approve(note="fine")):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success"}
    [approval] = approvals_of(signoff_conn, dag_id)
    assert approval.status is ApprovalStatus.APPROVED and approval.decision_note == "fine"
    assert [line["approval_id"] for line in heard(out)] == [approval.id]
    assert not (tmp_path / "never.jsonl").exists()


def test_every_notifier_of_a_list_is_called(signoff_conn: str, tmp_path: Path) -> None:
    dag_id = "notify_two"
    chat, mail = tmp_path / "chat.jsonl", tmp_path / "mail.jsonl"
    notifiers = [FileNotifier(chat), FileNotifier(mail, message="Review: {{ review_url }}")]
    dag = refund_dag(dag_id, notifiers=notifiers)
    with deciding_when_deferred(signoff_conn, approve()):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success"}
    [approval] = approvals_of(signoff_conn, dag_id)
    assert [line["message"] for line in heard(chat)] == [expected_message(approval)]
    assert [line["message"] for line in heard(mail)] == [f"Review: {approval.review_url}"]
    # The operator's notifiers keep their templates (each call renders a copy).
    assert notifiers[1].message == "Review: {{ review_url }}"


class CrashingOn(RequestApprovalOperator):
    """Dies like a lost worker on the tries in ``crash_on``, after asking, before waiting."""

    def __init__(self, *, crash_on: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crash_on = crash_on

    def defer(self, **kwargs: Any) -> Any:  # type: ignore[override]
        from airflow.sdk import get_current_context

        if get_current_context()["ti"].try_number in self.crash_on:
            raise RuntimeError("worker lost")
        return super().defer(**kwargs)


def test_a_retry_that_reuses_the_approval_does_not_notify_again(
    signoff_conn: str, tmp_path: Path
) -> None:
    dag_id = "notify_retry"
    out = tmp_path / "heard.jsonl"
    dag = refund_dag(
        dag_id,
        operator_class=CrashingOn,
        crash_on=(1,),
        notifiers=[FileNotifier(out)],
        retries=2,
        retry_delay=timedelta(0),
    )
    with deciding_when_deferred(signoff_conn, approve()):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success"}
    assert try_numbers(run)["ask"] == 2
    [approval] = approvals_of(signoff_conn, dag_id)
    assert [(line["approval_id"], line["try"]) for line in heard(out)] == [(approval.id, 1)]


def test_clearing_asks_anew_and_notifies_again(signoff_conn: str, tmp_path: Path) -> None:
    dag_id = "notify_clear"
    out = tmp_path / "heard.jsonl"
    dag = refund_dag(dag_id, notifiers=[FileNotifier(out)], on_reject="fail")
    with Reviewer(signoff_conn, dag_id, reject("wrong amount")):
        first = run_dag(dag)
    assert task_states(first) == {"ask": "failed"}
    with Reviewer(signoff_conn, dag_id, approve()):
        second = clear_and_rerun(dag, first)
    assert task_states(second) == {"ask": "success"}
    by_status = {a.status: a for a in approvals_of(signoff_conn, dag_id)}
    rejected, approved = by_status[ApprovalStatus.REJECTED], by_status[ApprovalStatus.APPROVED]
    assert [(line["approval_id"], line["try"]) for line in heard(out)] == [
        (rejected.id, 1),
        (approved.id, 2),
    ]
    assert heard(out)[1]["review_url"] == approved.review_url != rejected.review_url


def test_a_retry_after_a_withdrawn_approval_notifies_the_new_one_once(
    signoff_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Try 1's approval is withdrawn: try 2 asks anew (notified), then dies before waiting;
    try 3 reuses try 2's approval (not notified again) and waits for the decision. With
    no margin for clocks: here the service and the worker share one."""
    monkeypatch.setattr(_notifiers, "REPLAY_MARGIN", timedelta(0))
    dag_id = "notify_after_withdrawn"
    out = tmp_path / "heard.jsonl"
    dag = refund_dag(
        dag_id,
        operator_class=CrashingOn,
        crash_on=(2,),
        notifiers=[FileNotifier(out)],
        retries=3,
        retry_delay=timedelta(0),
    )

    def withdraw(client: ApprovalsClient, approval: Approval) -> None:
        client.withdraw(approval.id, reason="sent to the wrong team")

    with deciding_when_deferred(signoff_conn, withdraw, approve()):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success"}
    assert try_numbers(run)["ask"] == 3
    by_status = {a.status: a for a in approvals_of(signoff_conn, dag_id)}
    withdrawn, approved = by_status[ApprovalStatus.REJECTED], by_status[ApprovalStatus.APPROVED]
    assert [(line["approval_id"], line["try"]) for line in heard(out)] == [
        (withdrawn.id, 1),
        (approved.id, 2),
    ]


def test_the_branch_operator_notifies_too(signoff_conn: str, tmp_path: Path) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    dag_id = "notify_branch"
    out = tmp_path / "heard.jsonl"
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        choose = ApprovalBranchOperator(
            task_id="choose",
            action="supplier_payout",
            summary="Pay INV-204",
            options=["pay_now", "hold"],
            notifiers=FileNotifier(
                out, message="{{ approval.options | join('/') }} {{ review_url }}"
            ),
        )
        choose >> [EmptyOperator(task_id="pay_now"), EmptyOperator(task_id="hold")]
    with deciding_when_deferred(signoff_conn, approve(chosen_options=["hold"])):
        run = run_dag(dag)
    assert task_states(run) == {"choose": "success", "pay_now": "skipped", "hold": "success"}
    [approval] = approvals_of(signoff_conn, dag_id)
    assert [line["message"] for line in heard(out)] == [f"pay_now/hold {approval.review_url}"]


@pytest.mark.parametrize("wrong", [FileNotifier, print, "slack"], ids=["class", "callable", "str"])
def test_notifiers_must_be_notifier_instances(wrong: Any) -> None:
    with pytest.raises(TypeError, match="BaseNotifier instances"):
        RequestApprovalOperator(task_id="ask", action="a", summary="s", notifiers=[wrong])
