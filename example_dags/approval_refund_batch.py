"""An approval-gated refund batch: a person signs off before money moves.

``collect_refunds`` gathers the day's refunds; ``approve_refunds`` asks a reviewer (who may
edit amounts or drop lines) and waits, deferred, costing no worker slot; ``issue_refunds``
pays exactly what the reviewer approved (``decision["details"]``). A rejection skips the
payment; nobody answering within four hours fails the run (retried once, asking again).

Needs a connection ``signoff_default`` of type ``signoff``, e.g.::

    export AIRFLOW_CONN_SIGNOFF_DEFAULT='{"conn_type": "signoff",
        "host": "http://127.0.0.1:8000", "password": "<API key>"}'
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from signoff_airflow.operators.approval import RequestApprovalOperator


@dag(
    dag_id="approval_refund_batch",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["signoff", "example"],
    render_template_as_native_obj=True,
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
        justification="Daily refund batch ({{ ds }}); one line is over $500.",
        response_timeout=timedelta(hours=4),
        on_reject="skip",
        on_expiry="fail",
        retries=1,
    )

    @task
    def issue_refunds(decision: dict[str, Any]) -> float:
        refunds = decision["details"]["refunds"]
        for refund in refunds:
            print(f"refunding {refund['amount']:.2f} on order {refund['order']}")
        paid = round(sum(r["amount"] for r in refunds), 2)
        edited = " (as edited by the reviewer)" if decision["modified"] else ""
        print(f"paid {paid:.2f}{edited}, approved by {decision['decided_by']}: {decision['note']}")
        return paid

    batch >> approve_refunds
    issue_refunds(approve_refunds.output)


approval_refund_batch()
