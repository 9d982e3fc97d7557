"""Approval policies as code: plan, then apply ``policies.yaml``.

``plan`` shows what would change against the active policy of ``signoff serve`` (in its
log, and as the ``plan`` XCom) without changing anything; ``apply`` makes the file the
active policy, as a new version. Run it after every change to the file: a second run
finds nothing to do. A file the service cannot use (a condition that does not compile,
an unknown group) fails the task, naming the file's line.

With ``policies.yaml`` applied, a refund batch under $50 is approved at once (the
approval_refund_batch DAG continues without anyone: ``decided_by`` is
``policy:small-refunds``), and one over $10,000 waits for two of finance, with leads
allowed to decide once it has waited 30 minutes.

Needs a connection of type ``signoff`` whose ``admin_key`` extra is an admin key of the
service (``signoff serve --admin-key NAME=KEY``, or ``signoff keys create --kind
admin``; a pipeline's API key cannot manage policies). A connection of its own keeps the
admin key away from the DAGs that only ask for approvals, e.g.::

    export AIRFLOW_CONN_SIGNOFF_ADMIN='{"conn_type": "signoff",
        "host": "http://127.0.0.1:8000", "extra": {"admin_key": "<admin key>"}}'
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from signoff_airflow.operators.policies import ApplyPoliciesOperator

POLICIES = str(Path(__file__).resolve().parent / "policies.yaml")
CONN_ID = "signoff_admin"

with DAG(
    dag_id="apply_policies",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["signoff", "example"],
) as dag:
    plan = ApplyPoliciesOperator(
        task_id="plan", policy_path=POLICIES, mode="plan", signoff_conn_id=CONN_ID
    )
    apply = ApplyPoliciesOperator(
        task_id="apply", policy_path=POLICIES, mode="apply", signoff_conn_id=CONN_ID
    )
    plan >> apply
