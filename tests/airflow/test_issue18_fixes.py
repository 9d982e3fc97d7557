"""Issue 18, what a real deployment showed: the examples run however a run starts, an
approval by default on expiry says so, and triggers back off while the service is away."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from signoff.client import ApprovalsClient, Conflict
from signoff.models import Approval
from tests.airflow.conftest import CONN_ENV, WEBHOOKS_CONN_ENV
from tests.airflow.dags import Reviewer, add_reviewer, run_dag, task_states
from tests.conftest import ADMIN_KEY, API_KEY, CKO_SECRET_KEY, StartService
from tests.mailbox import mailbox

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"

AIRFLOW_EXAMPLES = {
    "approval_refund_batch": {
        "collect_refunds": "success",
        "approve_refunds": "success",
        "issue_refunds": "success",
    },
    "approval_branch_payout": {
        "choose_payout": "success",
        "pay_now": "success",
        "pay_friday": "skipped",
        "hold": "skipped",
        "notify": "success",
    },
    "apply_policies": {"plan": "success", "apply": "success"},
    "apply_subscriptions": {"plan": "success", "apply": "success"},
}
"""Every example DAG, and how its run ends when approved."""


def test_every_airflow_example_is_listed() -> None:
    """A new example DAG must join the runs below."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert not bag.import_errors
    assert sorted(bag.dag_ids) == sorted(AIRFLOW_EXAMPLES)


@pytest.fixture
def connected(start_service: StartService, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh service, with every connection and secret the example DAGs name."""
    url = start_service().url
    conns = {
        CONN_ENV: {"conn_type": "signoff", "host": url, "password": API_KEY},
        "AIRFLOW_CONN_SIGNOFF_ADMIN": {
            "conn_type": "signoff",
            "host": url,
            "extra": {"admin_key": ADMIN_KEY},
        },
        WEBHOOKS_CONN_ENV: {
            "conn_type": "signoff_webhooks",
            "host": url,
            "password": CKO_SECRET_KEY,
        },
    }
    for name, conn in conns.items():
        monkeypatch.setenv(name, json.dumps(conn))
    monkeypatch.setenv("LEDGER_WEBHOOK_TOKEN", "ledger-token")
    monkeypatch.setenv("CKO_SIGNING_KEY", "signing-key")
    with mailbox() as box:
        smtp = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": box.port,
            "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0},
        }
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
        yield url


def _approve_all(client: ApprovalsClient, approval: Approval) -> object:
    """Approve with the first option (if any), as every reviewer still needed."""
    chosen = approval.options[:1] if approval.options else None
    try:
        return client.approve(approval.id, chosen_options=chosen)
    except Conflict:  # the other reviewer was enough
        return None


@pytest.mark.parametrize("dag_id", sorted(AIRFLOW_EXAMPLES))
def test_example_runs_without_a_logical_date(dag_id: str, connected: str) -> None:
    """``airflow dags trigger`` and ``POST /api/v2/dags/{dag}/dagRuns`` start a run with no
    logical date (hence no ``ds``, ``ts`` or data interval): every example still runs."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / f"{dag_id}.py"))
    assert not bag.import_errors
    dag = bag.get_dag(dag_id)
    tokens = [add_reviewer(connected, name, "finance") for name in ("ana", "ben")]
    reviewers = [Reviewer(connected, dag_id, _approve_all, token=token) for token in tokens]
    for reviewer in reviewers:
        reviewer.start()
    try:
        run = run_dag(dag, logical_date=None)
    finally:
        for reviewer in reviewers:
            reviewer.__exit__()
    assert run.logical_date is None
    assert task_states(run) == AIRFLOW_EXAMPLES[dag_id]
