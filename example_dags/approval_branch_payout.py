"""A person picks the way forward: pay a supplier now, on Friday's run, or hold it.

``choose_payout`` asks the ``finance`` group (never the person who triggered the run) and
waits, deferred; the option the reviewer picks is the task that runs next, the others
are skipped (Airflow's branching, as with ``HITLBranchOperator``). A rejection skips
every branch. ``notify`` runs after whichever branch ran.

Needs a connection ``signoff_default`` (see ``approval_refund_batch.py``) and reviewers
in the ``finance`` group (``signoff reviewers add ana --group finance``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from signoff_airflow.operators.branch import ApprovalBranchOperator


@dag(
    dag_id="approval_branch_payout",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["signoff", "example"],
)
def approval_branch_payout() -> None:
    choose = ApprovalBranchOperator(
        task_id="choose_payout",
        action="supplier_payout",
        summary="Pay invoice INV-204 to Acme Ltd (4,200.00 EUR)",
        details={"invoice": "INV-204", "supplier": "Acme Ltd", "amount": 4200.0},
        groups=["finance"],
        options=["Pay now", "Pay on Friday", "Hold"],
        options_mapping={"Pay now": "pay_now", "Pay on Friday": "pay_friday", "Hold": "hold"},
        reason_codes=["cash_flow", "disputed", "routine"],
        response_timeout=timedelta(hours=8),
    )

    @task
    def pay_now() -> str:
        return "paid today"

    @task
    def pay_friday() -> str:
        return "queued for Friday"

    @task
    def hold() -> str:
        return "held"

    @task(trigger_rule="none_failed_min_one_success")
    def notify(**context: Any) -> None:
        decision = context["ti"].xcom_pull(task_ids="choose_payout")
        print(f"{decision['chosen_options']} chosen by {decision['decided_by']}")

    branches = [pay_now(), pay_friday(), hold()]
    choose >> branches
    branches >> notify()


approval_branch_payout()
