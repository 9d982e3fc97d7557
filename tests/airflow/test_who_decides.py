"""Who decides, from a DAG: groups, n-of-m, the requester, options, branches, schemas.

Real Airflow (``dag.test()``) against the real service; reviewers are stored records made
through the admin API, each deciding with their own token from another thread, as people
would from the review page.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, Field

from signoff.client import ApprovalsClient, Conflict, InvalidRequest, Unauthorized
from signoff.models import Approval, ApprovalStatus
from signoff_airflow._routing import TRIGGERING_USER, requester, triggering_user
from signoff_airflow.operators.approval import RequestApprovalOperator
from signoff_airflow.operators.branch import ApprovalBranchOperator
from tests.airflow.dags import (
    OnPending,
    Reviewer,
    add_reviewer,
    approve,
    reject,
    run_dag,
    run_dag_with_triggerer,
    task_states,
    try_numbers,
    xcoms,
)
from tests.conftest import REVIEWER_TOKEN

pytestmark = pytest.mark.usefixtures("airflow_db", "signoff_conn")

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAG_TEST_USER = "dag_test"
"""The triggering user ``dag.test()`` records on the run it creates."""

RECEIVED: dict[str, dict[str, Any]] = {}
"""What the downstream task of each DAG received, by dag_id."""


@pytest.fixture(scope="module")
def people(service: Any) -> dict[str, str]:
    """Tokens by name: the requester (the user ``dag.test()`` triggers as, in finance
    too), two more finance reviewers and one of ops."""
    return {
        DAG_TEST_USER: add_reviewer(service.url, DAG_TEST_USER, "finance"),
        "fin-ana": add_reviewer(service.url, "fin-ana", "finance"),
        "fin-ben": add_reviewer(service.url, "fin-ben", "finance"),
        "ops-olga": add_reviewer(service.url, "ops-olga", "ops"),
    }


def as_reviewer(url: str, token: str) -> ApprovalsClient:
    return ApprovalsClient(url, reviewer_token=token)


def ask_dag(dag_id: str, **kwargs: Any) -> Any:
    """ask -> act: ``act`` records the decision it received."""
    from airflow.sdk import DAG, task

    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        kwargs.setdefault("details", {"order": "8842", "amount": 120})
        ask = RequestApprovalOperator(
            task_id="ask", action="process_refund", summary="Refund", **kwargs
        )

        @task
        def act(decision: dict[str, Any]) -> None:
            RECEIVED[dag_id] = decision

        act(ask.output)
    return dag


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "worker"])
def test_two_finance_approvals_and_never_the_requester(
    signoff_conn: str, people: dict[str, str], deferrable: bool
) -> None:
    dag_id = f"finance_two_of_m_{deferrable}"
    dag = ask_dag(
        dag_id,
        groups=["finance"],
        required_approvals=2,
        options=["pay_now", "pay_friday"],
        reason_codes=["verified", "customer_request"],
        deferrable=deferrable,
    )
    progress: list[Approval] = []

    def people_decide(approval: Approval) -> None:
        # requested_by defaults to the run's triggering user; the request says who decides.
        assert approval.requested_by == DAG_TEST_USER
        assert (approval.groups, approval.required_approvals) == (["finance"], 2)
        assert approval.options == ["pay_now", "pay_friday"]
        with as_reviewer(signoff_conn, people[DAG_TEST_USER]) as requester_client:
            with pytest.raises(Unauthorized) as refused:
                requester_client.approve(approval.id, chosen_options=["pay_now"])
        assert refused.value.status_code == 403
        assert "requested this approval" in refused.value.error
        with as_reviewer(signoff_conn, people["ops-olga"]) as ops:
            with pytest.raises(Unauthorized) as not_finance:
                ops.approve(approval.id, chosen_options=["pay_now"])
        assert not_finance.value.status_code == 403
        with as_reviewer(signoff_conn, people["fin-ana"]) as ana:
            progress.append(ana.approve(approval.id, chosen_options=["pay_friday"], note="ok"))
            with pytest.raises(Conflict):  # the same reviewer twice
                ana.approve(approval.id, chosen_options=["pay_friday"])
        time.sleep(1.5)  # time enough for a task that wrongly went on to be seen going on
        assert dag_id not in RECEIVED, "the task went on after one approval of two"
        with as_reviewer(signoff_conn, people["fin-ben"]) as ben:
            progress.append(ben.approve(approval.id, reason_code="verified"))

    with OnPending(signoff_conn, dag_id, people_decide):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success", "act": "success"}
    first, last = progress
    assert first.status is ApprovalStatus.PENDING and first.current_step == 1
    assert last.status is ApprovalStatus.APPROVED
    decision = RECEIVED[dag_id]
    assert decision["approved"] is True and decision["status"] == "APPROVED"
    assert decision["chosen_options"] == ["pay_friday"] and decision["reason_code"] == "verified"
    assert decision["approved_by"] == ["fin-ana", "fin-ben"]
    assert decision["decided_by"] == "fin-ben" and decision["requested_by"] == DAG_TEST_USER


def test_a_chain_opens_its_second_step_after_the_first(
    signoff_conn: str, people: dict[str, str]
) -> None:
    """Ops signs off first; then finance; the trigger ends the task (end_from_trigger)
    and the decision it pushes carries the choice."""
    dag_id = "chain_ops_then_finance"
    dag = ask_dag(
        dag_id,
        steps=[{"groups": ["ops"]}, {"groups": ["finance"], "required_approvals": 1}],
        options=["full", "partial"],
        requested_by=None,  # nobody excluded: the dag_test reviewer may decide too
    )
    seen: list[Approval] = []

    def chain(_: ApprovalsClient, approval: Approval) -> None:
        seen.append(approval)
        assert approval.requested_by is None and approval.current_step == 1
        with as_reviewer(signoff_conn, people["fin-ana"]) as ana:
            with pytest.raises(Unauthorized):  # step 1 is for ops
                ana.approve(approval.id, chosen_options=["full"])
        with as_reviewer(signoff_conn, people["ops-olga"]) as olga:
            assert olga.approve(approval.id, chosen_options=["partial"]).current_step == 2
        with as_reviewer(signoff_conn, people[DAG_TEST_USER]) as finance:
            finance.approve(approval.id)

    run = run_dag_with_triggerer(dag, signoff_conn, chain)
    assert task_states(run) == {"ask": "success", "act": "success"}
    pushed = xcoms(run)[("ask", "return_value")]
    assert pushed["chosen_options"] == ["partial"]
    assert pushed["approved_by"] == ["ops-olga", DAG_TEST_USER]
    assert RECEIVED[dag_id]["chosen_options"] == ["partial"]


def branch_dag(dag_id: str, **kwargs: Any) -> Any:
    """ask_branch -> pay_now | pay_friday | hold, then a join that runs after any branch."""
    from airflow.sdk import DAG, task

    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        ask = ApprovalBranchOperator(
            task_id="ask",
            action="pay_invoice",
            summary="Pay invoice 42",
            details={"invoice": 42},
            options=["pay_now", "Pay on Friday", "hold"],
            options_mapping={"Pay on Friday": "pay_friday"},
            **kwargs,
        )

        @task
        def pay_now() -> None: ...

        @task
        def pay_friday() -> None: ...

        @task
        def hold() -> None: ...

        @task(trigger_rule="none_failed_min_one_success")
        def join() -> None: ...

        branches = [pay_now(), pay_friday(), hold()]
        ask >> branches
        branches >> join()
    return dag


@pytest.mark.parametrize(
    ("deferrable", "multiple", "chosen", "ran"),
    [
        (True, False, ["Pay on Friday"], {"pay_friday"}),
        (False, False, ["pay_now"], {"pay_now"}),
        (True, True, ["pay_now", "hold"], {"pay_now", "hold"}),
    ],
    ids=["deferrable-mapped", "worker-by-task-id", "multiple"],
)
def test_the_branch_operator_runs_the_chosen_and_skips_the_rest(
    signoff_conn: str, deferrable: bool, multiple: bool, chosen: list[str], ran: set[str]
) -> None:
    dag_id = f"branch_{deferrable}_{multiple}_{len(chosen)}"
    dag = branch_dag(dag_id, deferrable=deferrable, multiple=multiple)
    with Reviewer(signoff_conn, dag_id, approve(chosen_options=chosen)):
        run = run_dag(dag)
    branches = {"pay_now", "pay_friday", "hold"}
    assert task_states(run) == {
        "ask": "success",
        **{b: "success" for b in ran},
        **{b: "skipped" for b in branches - ran},
        "join": "success",
    }
    assert xcoms(run)[("ask", "return_value")]["chosen_options"] == chosen


def test_a_rejected_branch_runs_no_branch(signoff_conn: str) -> None:
    dag_id = "branch_rejected"
    with Reviewer(signoff_conn, dag_id, reject("not this month")):
        run = run_dag(branch_dag(dag_id))
    states = task_states(run)
    assert states["ask"] == "success"
    assert {states[b] for b in ("pay_now", "pay_friday", "hold", "join")} == {"skipped"}


class Refund(BaseModel):
    order: str
    amount: float = Field(gt=0, le=500)


def params_schema() -> dict[str, Any]:
    from airflow.sdk import Param

    return {
        "order": Param(type="string", description="the order refunded"),
        "amount": Param(type="number", exclusiveMinimum=0, maximum=500),
    }


@pytest.mark.parametrize("source", ["params", "pydantic"])
def test_details_schema_is_sent_and_a_bad_edit_refused(signoff_conn: str, source: str) -> None:
    dag_id = f"schema_{source}"
    schema = params_schema() if source == "params" else Refund
    dag = ask_dag(dag_id, details_schema=schema)

    def reviewer_edits(approval: Approval) -> None:
        sent = approval.details_schema
        assert sent is not None
        assert sent["properties"]["amount"]["maximum"] == 500
        assert set(sent["required"]) == {"order", "amount"}
        if source == "params":
            assert sent["additionalProperties"] is False
            assert sent["properties"]["order"]["description"] == "the order refunded"
        with as_reviewer(signoff_conn, REVIEWER_TOKEN) as alice:
            with pytest.raises(InvalidRequest) as refused:
                alice.approve(approval.id, modified_details={"order": "8842", "amount": "oops"})
            assert refused.value.status_code == 422
            assert "modifiedDetails.amount" in refused.value.error
            alice.approve(approval.id, modified_details={"order": "8842", "amount": 100})

    with OnPending(signoff_conn, dag_id, reviewer_edits):
        run = run_dag(dag)
    assert task_states(run) == {"ask": "success", "act": "success"}
    assert RECEIVED[dag_id]["details"] == {"order": "8842", "amount": 100}
    assert RECEIVED[dag_id]["modified"] is True


def test_details_breaking_their_schema_fail_without_retrying(signoff_conn: str) -> None:
    dag_id = "schema_broken_details"
    dag = ask_dag(
        dag_id,
        details={"order": "8842", "amount": 900},
        details_schema=params_schema(),
        retries=2,
        retry_delay=timedelta(0),
    )
    run = run_dag(dag)
    assert task_states(run) == {"ask": "failed", "act": "upstream_failed"}
    assert try_numbers(run)["ask"] == 1


def test_requested_by_is_the_triggering_user_and_nobody_on_a_scheduled_run() -> None:
    """The default template read against real runs: one a user triggered, one the
    scheduler made (no user), with Jinja's string and native rendering."""
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    manual = DagRun(
        dag_id="d",
        run_id="manual__1",
        run_type=DagRunType.MANUAL,
        triggered_by=DagRunTriggeredByType.UI,
        triggering_user_name="maria",
    )
    scheduled = DagRun(
        dag_id="d",
        run_id="scheduled__1",
        run_type=DagRunType.SCHEDULED,
        triggered_by=DagRunTriggeredByType.TIMETABLE,
    )
    assert (triggering_user(manual), triggering_user(scheduled)) == ("maria", None)
    for native in (False, True):
        with DAG(f"requester_{native}", schedule=None, render_template_as_native_obj=native):
            op = RequestApprovalOperator(task_id="ask", action="a", summary="s")
        assert op.requested_by == TRIGGERING_USER
        rendered = [
            op.render_template(op.requested_by, {"dag_run": dr}) for dr in (manual, scheduled)
        ]
        assert [requester(r) for r in rendered] == ["maria", None]


def test_mistakes_in_who_decides_fail_when_the_dag_is_parsed() -> None:
    common: dict[str, Any] = {"task_id": "t", "action": "a", "summary": "s"}
    with pytest.raises(ValueError, match="unknown key"):
        RequestApprovalOperator(**common, steps=[{"group": ["finance"]}])
    with pytest.raises(ValueError, match="not both"):
        RequestApprovalOperator(**common, groups=["finance"], steps=[{"groups": ["ops"]}])
    with pytest.raises(ValueError, match="only with options"):
        RequestApprovalOperator(**common, multiple=True)
    with pytest.raises(ValueError, match="needs defaults"):
        ApprovalBranchOperator(**common, options=["a", "b"], on_expiry="approve")
    with pytest.raises(ValueError, match="not among the options"):
        ApprovalBranchOperator(**common, options=["a"], options_mapping={"b": "b"})
