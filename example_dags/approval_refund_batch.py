"""An approval-gated refund batch: a person signs off before money moves.

``collect_refunds`` gathers the day's refunds; ``approve_refunds`` asks the ``finance``
group, where two different people must approve (never the person who triggered the run:
``requested_by``), and waits, deferred, costing no worker slot. The approvers may edit
amounts or drop lines (the edit must keep the batch's schema) and choose how to pay:
back to the card or as store credit. ``issue_refunds`` pays exactly what was approved
(``decision["details"]``) the way they chose (``decision["chosen_options"]``). A rejection
skips the payment; nobody answering within four hours fails the run (retried once,
asking again).

Who requested it is the ``requested_by`` param when the run is given one (a scheduled run
has no triggering user), else the user who triggered the run.

Needs a connection ``signoff_default`` of type ``signoff``, e.g.::

    export AIRFLOW_CONN_SIGNOFF_DEFAULT='{"conn_type": "signoff",
        "host": "http://127.0.0.1:8000", "password": "<API key>"}'

and reviewers in the ``finance`` group, e.g.
``signoff reviewers add ana --group finance`` and ``signoff reviewers add ben --group finance``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from pydantic import BaseModel, Field

from signoff_airflow.operators.approval import RequestApprovalOperator


class Refund(BaseModel):
    order: str
    customer: str
    amount: float = Field(gt=0, le=5000)
    reason: str


class RefundBatch(BaseModel):
    """What a reviewer's edit must keep: amounts stay positive numbers, no new fields."""

    model_config = {"extra": "forbid"}
    refunds: list[Refund]
    total: float


@dag(
    dag_id="approval_refund_batch",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["signoff", "example"],
    render_template_as_native_obj=True,
    params={"requested_by": Param(None, type=["null", "string"], description="who asks")},
)
def approval_refund_batch() -> None:
    @task
    def collect_refunds() -> dict[str, Any]:
        refunds = [
            {"order": "8842", "customer": "c_193", "amount": 120.00, "reason": "double charge"},
            {"order": "8851", "customer": "c_771", "amount": 35.50, "reason": "late delivery"},
            {"order": "8860", "customer": "c_402", "amount": 980.00, "reason": "damaged item"},
        ]
        return {"refunds": refunds, "total": round(sum(r["amount"] for r in refunds), 2)}

    batch = collect_refunds()

    approve_refunds = RequestApprovalOperator(
        task_id="approve_refunds",
        action="process_refund_batch",
        summary="Refund {{ ti.xcom_pull(task_ids='collect_refunds')['total'] }} "
        "across {{ ti.xcom_pull(task_ids='collect_refunds')['refunds'] | length }} orders",
        details="{{ ti.xcom_pull(task_ids='collect_refunds') }}",
        risk_level="high",
        justification="Refund batch of run {{ run_id }}; one line is over $500.",
        groups=["finance"],
        required_approvals=2,
        requested_by="{{ params.requested_by or dag_run.triggering_user_name }}",
        options=["refund_to_card", "store_credit"],
        reason_codes=["verified", "goodwill"],
        details_schema=RefundBatch,
        response_timeout=timedelta(hours=4),
        on_reject="skip",
        on_expiry="fail",
        retries=1,
    )

    @task
    def issue_refunds(decision: dict[str, Any]) -> float:
        refunds = decision["details"]["refunds"]
        [method] = decision["chosen_options"]
        for refund in refunds:
            print(f"refunding {refund['amount']:.2f} on order {refund['order']} as {method}")
        paid = round(sum(r["amount"] for r in refunds), 2)
        edited = " (as edited by the reviewers)" if decision["modified"] else ""
        approvers = " and ".join(decision["approved_by"])
        print(f"paid {paid:.2f}{edited}, approved by {approvers}: {decision['note']}")
        return paid

    batch >> approve_refunds
    issue_refunds(approve_refunds.output)


approval_refund_batch()
