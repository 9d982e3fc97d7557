"""ApplySubscriptionsOperator and the example DAG under real Airflow, against a fresh
service each: plan, apply, nothing to do, drift, a bad file, a failed step; and no
secret in any log or XCom."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from signoff.client import WebhooksClient, WorkflowsClient
from signoff_airflow.operators.subscriptions import ApplySubscriptionsOperator
from tests.airflow.conftest import WEBHOOKS_CONN_ENV
from tests.airflow.dags import run_dag, task_states, xcoms
from tests.conftest import CKO_SECRET_KEY, StartService

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
SECRETS = {
    "LEDGER_WEBHOOK_TOKEN": "ledger-token-value-5c2f",
    "CKO_SIGNING_KEY": "signing-key-value-91be",
}
CREATES = {"create": 3, "update": 0, "delete": 0, "noop": 0}
NOTHING = {"create": 0, "update": 0, "delete": 0, "noop": 3}


@pytest.fixture
def account(start_service: StartService, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty account; the connection points at it and the secrets are set."""
    url = start_service().url
    conn = {"conn_type": "signoff_webhooks", "host": url, "password": CKO_SECRET_KEY}
    monkeypatch.setenv(WEBHOOKS_CONN_ENV, json.dumps(conn))
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return url


def example_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / "apply_subscriptions.py"))
    assert not bag.import_errors
    return bag.get_dag("apply_subscriptions")


def one_task_dag(dag_id: str, **kwargs: Any) -> Any:
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, catchup=False) as dag:
        ApplySubscriptionsOperator(task_id="subscriptions", **kwargs)
    return dag


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for name, value in SECRETS.items():
            assert value not in text, f"the value of {name} leaked"


def test_example_dag_plans_applies_then_has_nothing_to_do(
    account: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dag = example_dag()
    first = run_dag(dag)
    assert task_states(first) == {"plan": "success", "apply": "success"}
    pushed = xcoms(first)
    plan = pushed[("plan", "plan")]
    assert plan["mode"] == "plan" and plan["counts"] == CREATES and plan["has_changes"]
    assert plan["summary"] == "3 to create, 0 to update, 0 to delete"
    assert sorted((c["action"], c["kind"], c["name"]) for c in plan["changes"]) == [
        ("create", "webhook", "approvals-audit"),
        ("create", "webhook", "ledger-payments"),
        ("create", "workflow", "refunds-to-finance"),
    ]
    assert pushed[("plan", "return_value")] == plan
    applied = pushed[("apply", "return_value")]
    assert [s["status"] for s in applied["steps"]] == ["applied"] * 3
    assert all(s["id"] for s in applied["steps"])

    with WebhooksClient(account, secret_key=CKO_SECRET_KEY) as hooks:
        made = {w.url: w for w in hooks.list()}
    ledger = made["https://ledger.example.com/hooks/payments"]
    assert ledger.headers["Authorization"] == SECRETS["LEDGER_WEBHOOK_TOKEN"]  # resolved, sent
    assert "https://audit.example.com/hooks/approvals" in made
    with WorkflowsClient(account, secret_key=CKO_SECRET_KEY) as workflows:
        assert len(workflows.list().data) == 1

    second = run_dag(dag)
    assert task_states(second) == {"plan": "success", "apply": "success"}
    again = xcoms(second)
    assert again[("plan", "plan")]["counts"] == NOTHING
    assert again[("plan", "plan")]["has_changes"] is False
    assert again[("apply", "return_value")]["steps"] == []

    log = capsys.readouterr().out
    assert "3 to create, 0 to update, 0 to delete" in log
    assert "create webhook ledger-payments" in log
    assert_no_secret(log, json.dumps([*pushed.values(), *again.values()], default=str))


def test_drift_shows_in_the_plan_and_fail_on_changes_fails(
    account: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(EXAMPLES / "subscriptions.yaml")
    assert task_states(run_dag(one_task_dag("subs_setup", spec_path=spec, mode="apply"))) == {
        "subscriptions": "success"
    }
    with WebhooksClient(account, secret_key=CKO_SECRET_KEY) as hooks:
        ledger = next(w for w in hooks.list() if "ledger" in w.url)
        hooks.patch(ledger.id, {"event_types": ["payment_captured"]})  # changed by hand

    check = run_dag(
        one_task_dag("subs_drift", spec_path="{{ params.spec }}", fail_on_changes=True),
        run_conf={"spec": spec},
    )
    assert task_states(check) == {"subscriptions": "failed"}
    plan = xcoms(check)[("subscriptions", "plan")]
    assert plan["counts"]["update"] == 1
    [change] = plan["changes"]
    assert (change["action"], change["name"], change["id"]) == (
        "update",
        "ledger-payments",
        ledger.id,
    )
    assert change["changes"] == [
        {
            "field": "event_types",
            "before": ["payment_captured"],
            "after": ["payment_captured", "payment_refunded"],
        }
    ]
    log = capsys.readouterr().out
    assert "SubscriptionsChangesPending" in log
    assert f"differs from {spec}: 0 to create, 1 to update, 0 to delete" in log
    assert_no_secret(log, json.dumps(plan))


def test_a_changed_secret_is_an_update_that_never_shows_the_value(
    account: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(EXAMPLES / "subscriptions.yaml")
    run_dag(one_task_dag("subs_rotate_1", spec_path=spec, mode="apply"))
    rotated = "rotated-signing-key-value-0d4c"
    monkeypatch.setenv("CKO_SIGNING_KEY", rotated)
    run = run_dag(one_task_dag("subs_rotate_2", spec_path=spec, mode="apply"))
    assert task_states(run) == {"subscriptions": "success"}
    result = xcoms(run)[("subscriptions", "return_value")]
    [change] = result["changes"]
    assert (change["action"], change["kind"]) == ("update", "workflow")
    assert "(secret)" in json.dumps(change["changes"])
    text = capsys.readouterr().out + json.dumps(result)
    assert rotated not in text
    assert_no_secret(text)


def test_a_bad_spec_fails_with_the_file_line_and_field(
    account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "webhooks:\n"
        "  ledger:\n"
        "    url: https://ledger.example.com/hooks\n"
        "    event_types: [payment_teleported]\n"
    )
    missing = tmp_path / "secret.yaml"
    missing.write_text(
        "webhooks:\n"
        "  ledger:\n"
        "    url: https://ledger.example.com/hooks\n"
        "    event_types: [payment_captured]\n"
        "    headers: {Authorization: '${env:NOT_SET_ANYWHERE}'}\n"
    )
    from airflow.sdk import DAG

    with DAG("subs_bad", schedule=None, catchup=False) as dag:
        ApplySubscriptionsOperator(task_id="bad", spec_path=str(bad), retries=2)
        ApplySubscriptionsOperator(task_id="unset", spec_path=str(missing))
    run = run_dag(dag)
    assert task_states(run) == {"bad": "failed", "unset": "failed"}
    log = capsys.readouterr().out
    assert (
        f"invalid subscription spec: {bad}:4: webhooks.ledger.event_types: "
        "unknown event type 'payment_teleported'" in log
    )
    assert f"invalid subscription spec: {missing}:5: webhooks.ledger.headers" in log
    assert "NOT_SET_ANYWHERE" in log


def test_a_failed_step_fails_the_task_with_the_step_report(
    account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "twice.yaml"  # two names, one URL: the service refuses the second
    spec.write_text(
        "webhooks:\n"
        "  first:\n"
        "    url: https://ledger.example.com/hooks\n"
        "    event_types: [payment_captured]\n"
        "  second:\n"
        "    url: https://ledger.example.com/hooks\n"
        "    event_types: [payment_refunded]\n"
    )
    run = run_dag(one_task_dag("subs_fail", spec_path=str(spec), mode="apply"))
    assert task_states(run) == {"subscriptions": "failed"}
    assert xcoms(run)[("subscriptions", "plan")]["counts"]["create"] == 2  # pushed before
    log = capsys.readouterr().out
    assert "SubscriptionsApplyFailed" in log
    assert "1 of 2 changes applied; failed: webhook second:" in log
    assert "  applied: create webhook first" in log
    assert "  failed: create webhook second: " in log


def test_arguments_are_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="mode"):
        ApplySubscriptionsOperator(task_id="t", spec_path="s.yaml", mode="destroy")
    with pytest.raises(ValueError, match="prune"):
        ApplySubscriptionsOperator(task_id="t", spec_path="s.yaml", prune_unmanaged=True)
    with pytest.raises(ValueError, match="fail_on_changes"):
        ApplySubscriptionsOperator(
            task_id="t", spec_path="s.yaml", mode="apply", fail_on_changes=True
        )
