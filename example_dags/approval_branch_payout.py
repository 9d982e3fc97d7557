"""A person picks the way forward: pay a supplier now, on Friday's run, or hold it.

``choose_payout`` asks the ``finance`` group (never the person who triggered the run) and
waits, deferred; the option the reviewer picks is the task that runs next, the others
are skipped (Airflow's branching, as with ``HITLBranchOperator``). A rejection skips
every branch. ``notify`` runs after whichever branch ran.

As soon as the approval opens, an Airflow notifier (``notifiers=``, as HITL operators
take: any ``BaseNotifier``, email here, or Slack, Teams, ...) mails the payables inbox the
link to decide; a retry that reuses the approval does not mail again.

Needs a connection ``signoff_default`` (see ``approval_refund_batch.py``) and reviewers
in the ``finance`` group (``signoff reviewers add ana --group finance``). The email goes
through Airflow's SMTP connection ``smtp_default``; without one, the failed email is
logged and the run goes on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
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
    # Rendered with the task's context plus the approval: approval_id, review_url, approval.
    tell_payables = SmtpNotifier(
        to="payables@example.com",
        from_email="airflow@example.com",
        subject="Payout to decide: {{ approval.summary }}",
        html_content='<a href="{{ review_url }}">Choose for {{ approval_id }}</a> '
        "({{ approval.options | join(', ') }}) within eight hours.",
    )
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
        notifiers=[tell_payables],
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
