"""The example DAG a user copies runs as documented: finance decides, the edit and the
chosen way of paying reach the payment, and the one who triggered it cannot approve it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signoff.client import ApprovalsClient, InvalidRequest, Unauthorized
from signoff.models import Approval, ApprovalStatus
from tests.airflow.dags import (
    OnPending,
    Reviewer,
    add_reviewer,
    approve,
    reject,
    run_dag,
    task_states,
)
from tests.mailbox import Mailbox, mailbox

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
REQUESTER = "dag_test"
"""The user ``dag.test()`` triggers the run as: the requester, a finance member too."""


@pytest.fixture(scope="module")
def finance(service: Any) -> dict[str, str]:
    return {name: add_reviewer(service.url, name, "finance") for name in (REQUESTER, "ana", "ben")}


@pytest.fixture
def payables_inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """Airflow's ``smtp_default`` connection, to a real SMTP server: the payout DAG's
    notifier mails the payables inbox there."""
    with mailbox() as box:
        conn = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": box.port,
            "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0},
        }
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
        yield box


def load_refund_dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / "approval_refund_batch.py"))
    assert not bag.import_errors
    return bag.get_dag("approval_refund_batch")


def test_refund_batch_pays_what_two_of_finance_approved(
    signoff_conn: str, finance: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    dag = load_refund_dag()
    line = {"order": "8842", "customer": "c_193", "amount": 100.0, "reason": "double charge"}
    edit = {"refunds": [line], "total": 100.0}
    asked: list[Approval] = []

    def finance_decides(approval: Approval) -> None:
        asked.append(approval)
        with ApprovalsClient(signoff_conn, reviewer_token=finance[REQUESTER]) as requester:
            with pytest.raises(Unauthorized, match="requested this approval"):
                requester.approve(approval.id, chosen_options=["refund_to_card"])
        with ApprovalsClient(signoff_conn, reviewer_token=finance["ana"]) as ana:
            bad = {"refunds": [{**line, "amount": "a lot"}], "total": 100.0}
            with pytest.raises(InvalidRequest, match=r"modifiedDetails\.refunds\[0\]\.amount"):
                ana.approve(approval.id, modified_details=bad, chosen_options=["store_credit"])
            first = ana.approve(approval.id, modified_details=edit, chosen_options=["store_credit"])
        assert first.status is ApprovalStatus.PENDING
        time.sleep(1)
        with ApprovalsClient(signoff_conn, reviewer_token=finance["ben"]) as ben:
            ben.approve(approval.id, note="checked", reason_code="verified")

    with OnPending(signoff_conn, dag.dag_id, finance_decides):
        run = run_dag(dag)
    assert task_states(run) == {
        "collect_refunds": "success",
        "approve_refunds": "success",
        "issue_refunds": "success",
    }
    [approval] = asked
    assert approval.summary == "Refund 1135.5 across 3 orders"
    assert approval.details["total"] == 1135.5 and len(approval.details["refunds"]) == 3
    assert (approval.groups, approval.required_approvals) == (["finance"], 2)
    assert approval.requested_by == REQUESTER
    out = capsys.readouterr().out.splitlines()
    printed = [text for text in out if text.startswith(("refund", "paid"))]
    assert printed == [
        "refunding 100.00 on order 8842 as store_credit",
        "paid 100.00 (as edited by the reviewers), approved by ana and ben: checked",
    ]


def test_refund_batch_rejected_pays_nothing(signoff_conn: str, finance: dict[str, str]) -> None:
    dag = load_refund_dag()
    with Reviewer(signoff_conn, dag.dag_id, reject("not today"), token=finance["ben"]):
        run = run_dag(dag)
    states = task_states(run)
    assert states["approve_refunds"] == "success" and states["issue_refunds"] == "skipped"


def test_branch_payout_runs_the_branch_finance_chose(
    signoff_conn: str,
    finance: dict[str, str],
    payables_inbox: Mailbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / "approval_branch_payout.py"))
    assert not bag.import_errors
    dag = bag.get_dag("approval_branch_payout")
    chose = approve(chosen_options=["Pay on Friday"], reason_code="cash_flow")
    with Reviewer(signoff_conn, dag.dag_id, chose, token=finance["ana"]) as reviewer:
        run = run_dag(dag)
    assert task_states(run) == {
        "choose_payout": "success",
        "pay_now": "skipped",
        "pay_friday": "success",
        "hold": "skipped",
        "notify": "success",
    }
    assert "['Pay on Friday'] chosen by ana" in capsys.readouterr().out
    # The notifier mailed where to decide, once, as the approval opened.
    [approval] = reviewer.seen
    [mail] = payables_inbox.to("payables@example.com")
    assert mail.subject == "Payout to decide: Pay invoice INV-204 to Acme Ltd (4,200.00 EUR)"
    assert (
        f'<a href="{approval.review_url}">Choose for {approval.id}</a> '
        "(Pay now, Pay on Friday, Hold) within eight hours."
    ) in mail.html
