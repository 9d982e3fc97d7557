"""Webhook subscriptions as code: plan, then apply ``subscriptions.yaml``.

``plan`` shows what would change (in its log, and as the ``plan`` XCom) without changing
anything; ``apply`` makes the account match the file. Run it after every change to the
file: a second run finds nothing to do, and anything changed by hand shows up as an
update (drift) and is put back.

Needs a connection ``signoff_webhooks_default`` of type ``signoff_webhooks`` (``host``:
``sandbox``, ``production`` or the URL of ``signoff serve``; ``password``: the secret
key), e.g.::

    export AIRFLOW_CONN_SIGNOFF_WEBHOOKS_DEFAULT='{"conn_type": "signoff_webhooks",
        "host": "http://127.0.0.1:8000", "password": "<secret key>"}'

and, on the workers, the secrets the spec refers to: ``LEDGER_WEBHOOK_TOKEN`` and
``CKO_SIGNING_KEY`` (never written in the file, never shown in a log or XCom).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from signoff_airflow.operators.subscriptions import ApplySubscriptionsOperator

SPEC = str(Path(__file__).resolve().parent / "subscriptions.yaml")

with DAG(
    dag_id="apply_subscriptions",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["signoff", "example"],
) as dag:
    plan = ApplySubscriptionsOperator(task_id="plan", spec_path=SPEC, mode="plan")
    apply = ApplySubscriptionsOperator(task_id="apply", spec_path=SPEC, mode="apply")
    plan >> apply
