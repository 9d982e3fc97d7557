"""The webhook and workflow operators under real Airflow against the real service.

A real local receiver stands where the subscriber's endpoint would and gets the test
events; the DAG waits for them before it goes on to change and delete what it made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from signoff.client import NotFound, WebhooksClient, WorkflowsClient
from signoff_airflow.operators.webhooks import (
    CreateWebhookOperator,
    CreateWorkflowOperator,
    DeleteWebhookOperator,
    DeleteWorkflowOperator,
    TestWebhookOperator,
    TestWorkflowOperator,
    UpdateWebhookOperator,
    UpdateWorkflowOperator,
)
from tests.airflow.dags import run_dag, task_states, xcoms
from tests.conftest import CKO_SECRET_KEY
from tests.receiver import Receiver, receiver

pytestmark = pytest.mark.usefixtures("airflow_db", "webhooks_conn")

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
TOKEN = "hook-token-value-8d1e"
SIGNING_KEY = "signing-key-value-77aa"
ARRIVED: dict[str, list[dict[str, Any]]] = {}
"""The events the receiver got, as the DAG's ``arrived`` task saw them, by dag_id."""


@pytest.fixture
def endpoint() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def wait_for_event(dag_id: str, endpoint: Receiver) -> Any:
    """A task that holds the DAG until the receiver has the test event (or 30 s pass)."""
    from airflow.sdk import task

    @task(task_id="arrived")
    def arrived() -> None:
        ARRIVED[dag_id] = [json.loads(r.body) for r in endpoint.wait_for(1)]

    return arrived()


def test_create_test_update_delete_a_webhook(
    webhooks_conn: str, endpoint: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk import DAG

    webhook_id = "{{ ti.xcom_pull(task_ids='create', key='webhook_id') }}"
    with DAG("webhook_ops", schedule=None, start_date=START, params={"token": TOKEN}) as dag:
        create = CreateWebhookOperator(
            task_id="create",
            url=endpoint.url,
            event_types=["payment_captured"],
            headers={"Authorization": "Bearer {{ params.token }}", "X-Team": "ledger"},
        )
        test = TestWebhookOperator(
            task_id="test", webhook_id=webhook_id, event_types=["payment_captured"]
        )
        update = UpdateWebhookOperator(
            task_id="update",
            webhook_id=webhook_id,
            event_types=["payment_captured", "payment_refunded"],
            active=False,
        )
        delete = DeleteWebhookOperator(task_id="delete", webhook_id=webhook_id)
        create >> test >> wait_for_event("webhook_ops", endpoint) >> update >> delete
    run = run_dag(dag)

    assert task_states(run) == dict.fromkeys(
        ["create", "test", "arrived", "update", "delete"], "success"
    )
    pushed = xcoms(run)
    created = pushed[("create", "return_value")]
    assert created["id"] == pushed[("create", "webhook_id")] and created["url"] == endpoint.url
    # Every header value is a secret (signoff.secrets: the one rule plan output follows too).
    assert created["headers"] == {"Authorization": "(secret)", "X-Team": "(secret)"}
    assert pushed[("test", "return_value")] == {
        "webhook_id": created["id"],
        "event_types": ["payment_captured"],
    }
    [event] = ARRIVED["webhook_ops"]
    assert event["type"] == "payment_captured"
    assert endpoint.received[0].headers["authorization"] == f"Bearer {TOKEN}"  # sent, not shown
    updated = pushed[("update", "return_value")]
    assert updated["active"] is False
    assert updated["event_types"] == ["payment_captured", "payment_refunded"]
    with WebhooksClient(webhooks_conn, secret_key=CKO_SECRET_KEY) as client:
        with pytest.raises(NotFound):
            client.get(created["id"])
    assert TOKEN not in capsys.readouterr().out + json.dumps(list(pushed.values()), default=str)


def test_create_test_update_delete_a_workflow(
    webhooks_conn: str, endpoint: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk import DAG

    workflow_id = "{{ ti.xcom_pull(task_ids='create', key='workflow_id') }}"
    with DAG("workflow_ops", schedule=None, start_date=START) as dag:
        create = CreateWorkflowOperator(
            task_id="create",
            name="refunds to {{ dag.dag_id }}",
            conditions=[{"type": "event", "events": {"gateway": ["payment_refunded"]}}],
            actions=[
                {
                    "type": "webhook",
                    "url": endpoint.url,
                    "signature": {"method": "HMACSHA256", "key": SIGNING_KEY},
                }
            ],
        )
        test = TestWorkflowOperator(
            task_id="test", workflow_id=workflow_id, event_types=["payment_refunded"]
        )
        update = UpdateWorkflowOperator(
            task_id="update", workflow_id=workflow_id, name="refunds (paused)", active=False
        )
        delete = DeleteWorkflowOperator(task_id="delete", workflow_id=workflow_id)
        create >> test >> wait_for_event("workflow_ops", endpoint) >> update >> delete
    run = run_dag(dag)

    assert task_states(run) == dict.fromkeys(
        ["create", "test", "arrived", "update", "delete"], "success"
    )
    pushed = xcoms(run)
    created = pushed[("create", "return_value")]
    assert created["id"] == pushed[("create", "workflow_id")]
    assert created["name"] == "refunds to workflow_ops" and created["active"] is True
    [action] = created["actions"]
    assert action["url"] == endpoint.url and action["signature"]["key"] == "(secret)"
    assert created["conditions"][0]["events"] == {"gateway": ["payment_refunded"]}
    [event] = ARRIVED["workflow_ops"]
    assert event["type"] == "payment_refunded"
    updated = pushed[("update", "return_value")]
    assert updated["name"] == "refunds (paused)" and updated["active"] is False
    with WorkflowsClient(webhooks_conn, secret_key=CKO_SECRET_KEY) as client:
        with pytest.raises(NotFound):
            client.get(created["id"])
    assert SIGNING_KEY not in capsys.readouterr().out + json.dumps(
        list(pushed.values()), default=str
    )


def test_api_errors_fail_the_task_with_the_status_and_the_api_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.sdk import DAG

    with DAG("webhook_errors", schedule=None, start_date=START) as dag:
        CreateWebhookOperator(
            task_id="unknown_type",
            url="https://ledger.example.com/hooks",
            event_types=["payment_teleported"],
            retries=3,  # a refused request is not retried
        )
        DeleteWebhookOperator(task_id="delete_missing", webhook_id="wh_nobody")
        DeleteWebhookOperator(task_id="delete_missing_ok", webhook_id="wh_nobody", missing_ok=True)
        DeleteWorkflowOperator(task_id="delete_missing_workflow", workflow_id="wf_nobody")
    run = run_dag(dag)

    assert task_states(run) == {
        "unknown_type": "failed",
        "delete_missing": "failed",
        "delete_missing_ok": "success",
        "delete_missing_workflow": "failed",
    }
    log = capsys.readouterr().out
    assert (
        "SignoffRequestRefused: creating a webhook for https://ledger.example.com/hooks failed: "
        "HTTP 400: event_types: unknown event type 'payment_teleported'" in log
    )
    assert "SignoffRequestRefused: deleting webhook wh_nobody failed: HTTP 404" in log
    assert "SignoffRequestRefused: deleting workflow wf_nobody failed: HTTP 404" in log


def test_update_needs_something_to_change() -> None:
    with pytest.raises(ValueError, match="at least one"):
        UpdateWebhookOperator(task_id="u", webhook_id="wh_1")
    with pytest.raises(ValueError, match="at least one"):
        UpdateWorkflowOperator(task_id="u", workflow_id="wf_1")
