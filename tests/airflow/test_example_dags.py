"""The example DAG a user copies runs as documented: the edit reaches the payment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.airflow.dags import Reviewer, approve, reject, run_dag, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


def load_refund_dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / "approval_refund_batch.py"))
    assert not bag.import_errors
    return bag.get_dag("approval_refund_batch")


def test_refund_batch_pays_what_the_reviewer_approved(
    signoff_conn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dag = load_refund_dag()
    edit = {"refunds": [{"order": "8842", "amount": 100.0}], "total": 100.0}
    with Reviewer(signoff_conn, dag.dag_id, approve(modified_details=edit, note="partial")) as r:
        run = run_dag(dag)
    assert task_states(run) == {
        "collect_refunds": "success",
        "approve_refunds": "success",
        "issue_refunds": "success",
    }
    asked = r.seen[0]
    assert asked.summary == "Refund 1135.5 across 3 orders"
    assert asked.details["total"] == 1135.5 and len(asked.details["refunds"]) == 3
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("refund")]
    assert printed == ["refunding 100.00 on order 8842"]


def test_refund_batch_rejected_pays_nothing(signoff_conn: str) -> None:
    dag = load_refund_dag()
    with Reviewer(signoff_conn, dag.dag_id, reject("not today")):
        run = run_dag(dag)
    states = task_states(run)
    assert states["approve_refunds"] == "success" and states["issue_refunds"] == "skipped"
