"""Run the approval-gated refund DAG under real Airflow against ``signoff serve``.

    .venvs/airflow/bin/python example_dags/demo_airflow.py [--auto-decide]

Starts the embedded service on a free port, runs ``approval_refund_batch`` with
``dag.test()`` (a throw-away AIRFLOW_HOME; the deferred task's trigger runs in-line),
prints the review URL and the command that decides it, and ends when someone decides.
With ``--auto-decide`` a reviewer thread approves with an edit (the $980 line dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAG_ID = "approval_refund_batch"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auto-decide", action="store_true", help="approve with an edit")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="signoff-airflow-demo-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(HERE),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    api_key, token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)

    from signoff.server.process import ServiceProcess

    service = ServiceProcess(
        database_url=f"sqlite:///{work / 'signoff.db'}",
        api_keys=[api_key],
        reviewer_tokens=[f"reviewer={token}"],
        log_path=work / "serve.log",
    )
    with service:
        os.environ["AIRFLOW_CONN_SIGNOFF_DEFAULT"] = json.dumps(
            {"conn_type": "signoff", "host": service.url, "password": api_key}
        )
        print(f"signoff serve is up at {service.url} (log: {work / 'serve.log'})")
        print("preparing Airflow's metadata database ...", flush=True)
        from airflow.utils import db

        db.resetdb()
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(HERE / "approval_refund_batch.py")).get_dag(DAG_ID)
        if dag is None:
            print(f"could not load {DAG_ID} from {HERE}", file=sys.stderr)
            return 1

        announcer = threading.Thread(
            target=announce, args=(service.url, api_key, token, args.auto_decide), daemon=True
        )
        announcer.start()
        run = dag.test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    print(f"\nrun {run.run_id}: {run.state}")
    for task_id in ("collect_refunds", "approve_refunds", "issue_refunds"):
        print(f"  {task_id:16} {states.get(task_id)}")
    return 0 if run.state == "success" else 1


def announce(url: str, api_key: str, token: str, auto_decide: bool) -> None:
    """Wait for the DAG's approval to appear, say how to decide it, maybe decide it."""
    from signoff.client import ApprovalsClient
    from signoff.models import ApprovalStatus

    with ApprovalsClient(url, api_key=api_key, reviewer_token=token) as client:
        while True:
            pending = [
                a
                for a in client.list(status=ApprovalStatus.PENDING).data
                if a.source and a.source.pipeline == DAG_ID
            ]
            if pending:
                approval = pending[0]
                break
            time.sleep(0.2)
        print(
            f"""
==> The DAG is waiting for a sign-off (the task is deferred: no worker slot is held).
    Review it:  {approval.review_url}   (reviewer token: {token})
    Or decide from another terminal:
      export SIGNOFF_URL={url} SIGNOFF_REVIEWER_TOKEN={token}
      signoff approvals show {approval.id}
      signoff approvals approve {approval.id} --details '<edited JSON>' --note "..."
      signoff approvals reject {approval.id} --note "..."
""",
            flush=True,
        )
        if auto_decide:
            time.sleep(1)
            details = dict(approval.details)
            kept = [r for r in details["refunds"] if r["amount"] < 500]
            edit = {"refunds": kept, "total": round(sum(r["amount"] for r in kept), 2)}
            client.approve(approval.id, modified_details=edit, note="the $980 one needs a photo")
            print("==> --auto-decide: approved without the $980 refund", flush=True)


if __name__ == "__main__":
    sys.exit(main())
