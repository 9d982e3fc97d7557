"""ApplyPoliciesOperator and the example DAG under real Airflow, against a fresh service
each (started with an admin key): plan, apply, nothing to do, a broken file on its line,
a missing or wrong key; then the applied example policy deciding real DAGs' refunds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from signoff.client import ApprovalsClient, PoliciesClient, Unauthorized
from signoff.models import Approval, ApprovalStatus
from signoff.policies.spec import load
from signoff_airflow.operators.approval import RequestApprovalOperator
from signoff_airflow.operators.policies import ApplyPoliciesOperator
from tests.airflow.conftest import CONN_ENV
from tests.airflow.dags import (
    TRIGGER_EVENTS,
    OnPending,
    add_reviewer,
    deciding_when_deferred,
    run_dag,
    task_states,
    try_numbers,
    xcoms,
)
from tests.conftest import ADMIN_KEY, API_KEY, REVIEWER_TOKEN, StartService

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
POLICIES = EXAMPLES / "policies.yaml"
ADMIN_CONN_ENV = "AIRFLOW_CONN_SIGNOFF_ADMIN"
"""The connection the example DAG names: ``signoff_admin``, with the admin key only."""
ADDS = {"add": 4, "change": 0, "remove": 0, "move": 0}


@pytest.fixture
def fresh(start_service: StartService, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh service with no policy; ``signoff_admin`` carries the admin key (and no
    API key), ``signoff_default`` the pipeline's API key (and no admin key)."""
    url = start_service().url
    admin = {"conn_type": "signoff", "host": url, "extra": {"admin_key": ADMIN_KEY}}
    monkeypatch.setenv(ADMIN_CONN_ENV, json.dumps(admin))
    monkeypatch.setenv(
        CONN_ENV, json.dumps({"conn_type": "signoff", "host": url, "password": API_KEY})
    )
    return url


def example_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / "apply_policies.py"))
    assert not bag.import_errors
    return bag.get_dag("apply_policies")


def apply_example(url: str) -> None:
    assert task_states(run_dag(example_dag())) == {"plan": "success", "apply": "success"}
    with PoliciesClient(url, admin_key=ADMIN_KEY) as client:
        active = client.active()
    assert active is not None and active.version == 1


def test_example_dag_plans_applies_then_has_nothing_to_do(
    fresh: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dag = example_dag()
    first = run_dag(dag)
    assert task_states(first) == {"plan": "success", "apply": "success"}
    pushed = xcoms(first)
    plan = pushed[("plan", "plan")]
    assert plan["mode"] == "plan" and plan["changed"] is True and plan["version"] is None
    assert plan["counts"] == ADDS and plan["summary"] == "4 to add"
    assert plan["policy_file"] == str(POLICIES)
    assert [(c["op"], c["kind"], c["name"]) for c in plan["changes"]] == [
        ("add", "group", "finance"),
        ("add", "group", "leads"),
        ("add", "policy", "small-refunds"),
        ("add", "policy", "big-refunds"),
    ]
    big = plan["changes"][3]["after"]
    assert big["groups"] == ["finance"] and big["required_approvals"] == 2
    assert big["sla"] == {"within": "30m", "escalate_to": ["leads"]}
    assert pushed[("plan", "return_value")] == plan
    applied = pushed[("apply", "return_value")]
    assert applied["mode"] == "apply" and applied["applied"] is True
    assert applied["version"] == 1 and applied["counts"] == ADDS
    with PoliciesClient(fresh, admin_key=ADMIN_KEY) as client:
        active = client.active()
    assert active is not None and active.version == 1
    assert active.document == load(POLICIES).document()

    second = run_dag(dag)
    assert task_states(second) == {"plan": "success", "apply": "success"}
    again = xcoms(second)
    assert again[("plan", "plan")]["changed"] is False
    assert again[("plan", "plan")]["version"] == 1 and again[("plan", "plan")]["changes"] == []
    assert again[("apply", "return_value")] == {
        **again[("plan", "plan")],
        "mode": "apply",
        "applied": False,
    }
    with PoliciesClient(fresh, admin_key=ADMIN_KEY) as client:
        assert client.active().version == 1  # type: ignore[union-attr]

    log = capsys.readouterr().out
    assert f"Plan for {POLICIES} against {fresh} (nothing applied yet): 4 to add" in log
    assert "add policy small-refunds" in log
    assert "Applied: version 1 is active (4 added)" in log
    assert "Nothing to apply: version 1 is active" in log
    assert ADMIN_KEY not in log


def test_a_changed_file_is_planned_as_a_change_and_fail_on_changes_fails(
    fresh: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_example(fresh)
    edited = tmp_path / "policies.yaml"
    edited.write_text(
        POLICIES.read_text().replace("required_approvals: 2", "required_approvals: 3")
    )
    from airflow.sdk import DAG

    with DAG("policies_drift", schedule=None, catchup=False) as dag:
        ApplyPoliciesOperator(
            task_id="check",
            policy_path="{{ params.path }}",
            fail_on_changes=True,
            signoff_conn_id="signoff_admin",
        )
    run = run_dag(dag, run_conf={"path": str(edited)})
    assert task_states(run) == {"check": "failed"}
    plan = xcoms(run)[("check", "plan")]
    assert plan["version"] == 1 and plan["counts"]["change"] == 1
    [change] = plan["changes"]
    assert (change["op"], change["kind"], change["name"]) == ("change", "policy", "big-refunds")
    assert (change["before"]["required_approvals"], change["after"]["required_approvals"]) == (2, 3)
    log = capsys.readouterr().out
    assert "PoliciesChangesPending" in log
    assert f"differs from {edited}: 1 to change" in log
    assert "required_approvals: 2 -> 3" in log
    with PoliciesClient(fresh, admin_key=ADMIN_KEY) as client:
        assert client.active().version == 1  # type: ignore[union-attr]


def test_a_broken_file_fails_at_once_with_the_file_line_and_field(
    fresh: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shape = tmp_path / "shape.yaml"  # wrong here: the file's shape
    shape.write_text(
        "policies:\n  - name: small-refunds\n    when: details.total < 50\n    decide: maybe\n"
    )
    condition = tmp_path / "condition.yaml"  # wrong for the service: CEL, and a group
    condition.write_text(
        "policies:\n"
        "  - name: small-refunds\n"
        "    when: details.total <\n"
        "    decide: approve\n"
        "  - name: big-refunds\n"
        "    when: details.total > 10000\n"
        "    groups: [treasury]\n"
    )
    from airflow.sdk import DAG

    with DAG("policies_broken", schedule=None, catchup=False) as dag:
        for task_id, path in [("shape", shape), ("condition", condition)]:
            ApplyPoliciesOperator(
                task_id=task_id,
                policy_path=str(path),
                mode="apply",
                retries=2,
                signoff_conn_id="signoff_admin",
            )
    run = run_dag(dag)
    assert task_states(run) == {"shape": "failed", "condition": "failed"}
    assert try_numbers(run) == {"shape": 1, "condition": 1}  # not retried
    log = capsys.readouterr().out
    assert "PolicyFileInvalid" in log
    assert f"invalid policy file: {shape}:4: policies.0.decide:" in log
    assert f"the service refused {condition} (HTTP 422):" in log
    assert f"{condition}:3: policies.0.when: not a valid CEL expression" in log
    assert f"{condition}:5: policies.1: no group named treasury" in log
    with PoliciesClient(fresh, admin_key=ADMIN_KEY) as client:
        assert client.active() is None  # nothing applied


def test_an_api_key_cannot_manage_policies(fresh: str, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow.sdk import DAG

    with DAG("policies_keys", schedule=None, catchup=False) as dag:
        ApplyPoliciesOperator(task_id="no_admin_key", policy_path=str(POLICIES), retries=2)
    run = run_dag(dag)
    assert task_states(run) == {"no_admin_key": "failed"}
    assert try_numbers(run) == {"no_admin_key": 1}
    log = capsys.readouterr().out
    assert "connection signoff_default: managing policies needs an admin key" in log
    assert "in the extra admin_key" in log


def test_a_wrong_admin_key_fails_without_retrying(
    fresh: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = {"conn_type": "signoff", "host": fresh, "extra": {"admin_key": API_KEY}}
    monkeypatch.setenv(ADMIN_CONN_ENV, json.dumps(wrong))  # the pipeline's key, as admin key
    run = run_dag(example_dag())
    assert task_states(run)["plan"] == "failed"
    assert try_numbers(run)["plan"] == 1
    log = capsys.readouterr().out
    assert "SignoffRequestRefused" in log
    assert "HTTP 403" in log or "HTTP 401" in log
    assert "the policies API takes only an admin key of signoff serve" in log


def refund_dag(dag_id: str, total: float) -> Any:
    """A refund batch as approval_refund_batch asks for it (action, details with a
    ``total``), naming nobody: who decides is the policy's to say."""
    from airflow.sdk import DAG

    line = {"order": "9001", "customer": "c_1", "amount": total, "reason": "double charge"}
    with DAG(dag_id, schedule=None, catchup=False, render_template_as_native_obj=True) as dag:
        RequestApprovalOperator(
            task_id="approve_refunds",
            action="process_refund_batch",
            summary=f"Refund {total}",
            details={"refunds": [line], "total": total},
        )
    return dag


def test_a_small_refund_continues_at_once_decided_by_the_policy(fresh: str) -> None:
    apply_example(fresh)
    dag = refund_dag("policies_small_refund", 12.0)
    deferred = len(TRIGGER_EVENTS)
    started = time.monotonic()
    with deciding_when_deferred(fresh):  # records a trigger's run, if the task deferred
        run = run_dag(dag)
    assert task_states(run) == {"approve_refunds": "success"}
    assert len(TRIGGER_EVENTS) == deferred, "the task waited for a decision"
    assert time.monotonic() - started < 30
    decision = xcoms(run)[("approve_refunds", "return_value")]
    assert decision["status"] == "APPROVED" and decision["approved"] is True
    assert decision["decided_by"] == "policy:small-refunds"
    assert decision["note"] == "Refund batches under $50 need nobody."
    with ApprovalsClient(fresh, api_key=API_KEY) as client:
        approval = client.get(decision["approval_id"])
    assert approval.auto_decided is True
    assert approval.auto_decision_rule_name == "small-refunds"


def test_a_big_refund_waits_for_two_of_finance(fresh: str) -> None:
    apply_example(fresh)
    tokens = {name: add_reviewer(fresh, name) for name in ("ana", "ben")}  # finance by policy
    dag = refund_dag("policies_big_refund", 20000.0)
    seen: list[Approval] = []

    def finance_decides(approval: Approval) -> None:
        seen.append(approval)
        assert (approval.groups, approval.required_approvals) == (["finance"], 2)
        with ApprovalsClient(fresh, reviewer_token=REVIEWER_TOKEN) as alice:  # not finance
            with pytest.raises(Unauthorized):
                alice.approve(approval.id)
        with ApprovalsClient(fresh, reviewer_token=tokens["ana"]) as ana:
            assert ana.approve(approval.id).status is ApprovalStatus.PENDING
        time.sleep(1)  # the task is still waiting for the second approval
        with ApprovalsClient(fresh, api_key=API_KEY) as client:
            assert client.get(approval.id).status is ApprovalStatus.PENDING
        with ApprovalsClient(fresh, reviewer_token=tokens["ben"]) as ben:
            ben.approve(approval.id, note="checked")

    with OnPending(fresh, dag.dag_id, finance_decides):
        run = run_dag(dag)
    assert task_states(run) == {"approve_refunds": "success"}
    [approval] = seen
    assert approval.auto_decided is False
    decision = xcoms(run)[("approve_refunds", "return_value")]
    assert decision["approved"] is True and decision["approved_by"] == ["ana", "ben"]
    assert decision["note"] == "checked"


def test_a_big_refund_past_its_sla_may_be_decided_by_leads(fresh: str, tmp_path: Path) -> None:
    """The example file with a 3-second SLA instead of 30 minutes: lee (leads) may not
    approve before it passes, and may once it has (the escalation)."""
    quick = tmp_path / "policies.yaml"
    quick.write_text(POLICIES.read_text().replace("within: 30m", "within: 3s"))
    from airflow.sdk import DAG

    with DAG("policies_quick_sla", schedule=None, catchup=False) as setup:
        ApplyPoliciesOperator(
            task_id="apply", policy_path=str(quick), mode="apply", signoff_conn_id="signoff_admin"
        )
    assert task_states(run_dag(setup)) == {"apply": "success"}
    tokens = {name: add_reviewer(fresh, name) for name in ("ana", "lee")}
    dag = refund_dag("policies_sla_refund", 25000.0)

    def escalated(approval: Approval) -> None:
        assert approval.sla_due_at is not None and approval.sla_breached_at is None
        with ApprovalsClient(fresh, reviewer_token=tokens["lee"]) as lee:
            with pytest.raises(Unauthorized):
                lee.approve(approval.id)  # not finance, and the SLA has not passed
            with ApprovalsClient(fresh, api_key=API_KEY) as client:
                deadline = time.monotonic() + 30
                while client.get(approval.id).sla_breached_at is None:
                    assert time.monotonic() < deadline, "the SLA was never marked breached"
                    time.sleep(0.2)
            assert lee.approve(approval.id).status is ApprovalStatus.PENDING
        with ApprovalsClient(fresh, reviewer_token=tokens["ana"]) as ana:
            ana.approve(approval.id)

    with OnPending(fresh, dag.dag_id, escalated):
        run = run_dag(dag)
    assert task_states(run) == {"approve_refunds": "success"}
    decision = xcoms(run)[("approve_refunds", "return_value")]
    assert decision["approved_by"] == ["lee", "ana"]


def test_arguments_are_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="mode"):
        ApplyPoliciesOperator(task_id="t", policy_path="p.yaml", mode="destroy")
    with pytest.raises(ValueError, match="fail_on_changes"):
        ApplyPoliciesOperator(task_id="t", policy_path="p.yaml", mode="apply", fail_on_changes=True)


def test_the_provider_registers_the_operator_and_the_admin_key_field() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    info = pm.providers["signoff"].data
    assert "signoff_airflow.operators.policies" in info["operators"][0]["python-modules"]
    assert "extra__signoff__admin_key" in pm.connection_form_widgets
