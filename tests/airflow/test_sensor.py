"""ApprovalSensor waits on an approval something else asked for."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from signoff.client import ApprovalsClient
from signoff_airflow.sensors.approval import ApprovalSensor
from tests.airflow.dags import run_dag, task_states
from tests.conftest import API_KEY, REVIEWER_TOKEN

pytestmark = pytest.mark.usefixtures("airflow_db")

RECEIVED: dict[str, Any] = {}


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "poke"])
def test_sensor_returns_the_decision(signoff_conn: str, deferrable: bool) -> None:
    from airflow.sdk import DAG, task

    dag_id = f"sensor_{deferrable}"
    with ApprovalsClient(signoff_conn, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as c:
        created = c.create("deploy", "Deploy v2", {"version": "2"})

        with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc)):

            @task
            def asked() -> str:
                return created.id

            @task
            def act(decision: dict[str, Any]) -> None:
                RECEIVED[dag_id] = decision

            wait = ApprovalSensor(
                task_id="wait",
                approval_id="{{ ti.xcom_pull(task_ids='asked') }}",
                deferrable=deferrable,
                poke_interval=0.2,
            )
            asked() >> wait
            act(wait.output)

        if not deferrable:
            c.approve(created.id, modified_details={"version": "2.1"})
        import threading

        decider = threading.Timer(0.5, c.approve, [created.id], {"note": "go"})
        if deferrable:
            decider.start()
        run = run_dag(wait.dag)
        decider.cancel()
    assert task_states(run) == {"asked": "success", "wait": "success", "act": "success"}
    decision = RECEIVED[dag_id]
    assert decision["approval_id"] == created.id and decision["approved"] is True
    if not deferrable:
        assert decision["details"] == {"version": "2.1"}
