"""Helpers to run DAGs under real Airflow (``dag.test()``) and to play the reviewer."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from signoff.client import ApprovalsClient
from signoff.models import Approval, ApprovalStatus
from tests.conftest import API_KEY, REVIEWER_TOKEN


def run_dag(dag: Any, **test_kwargs: Any) -> Any:
    """Serialize ``dag`` into the metadata DB (as the DAG processor would), then test it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(dag_folder=tempfile.mkdtemp())
    bag.bag_dag(dag)
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    return dag.test(**test_kwargs)


def clear_and_rerun(dag: Any, run: Any) -> Any:
    """Clear every task of a finished run (Airflow's own clear, as the UI does) and run it
    to the end again in this process, the way ``dag.test()`` runs one; ``dag.test()``
    itself would delete the run and start a new one instead."""
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.definitions.dag import SerializedDAG
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    SerializedDAG.clear_dags(
        dags=[scheduler_dag],
        start_date=run.logical_date,
        end_date=run.logical_date,
        dag_run_state=DagRunState.QUEUED,
    )
    with create_session() as session:
        dr = session.scalar(select(DagRun).where(DagRun.run_id == run.run_id))
        assert dr is not None
        dr.dag = scheduler_dag
        dr.state = DagRunState.RUNNING  # what the scheduler does with a queued run
        session.commit()
        while dr.state == DagRunState.RUNNING:
            session.expire_all()
            schedulable, _ = dr.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in dr.get_task_instances(session=session):
                if ti.state == TaskInstanceState.SCHEDULED:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
        return dr


def task_states(run: Any) -> dict[str, str | None]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def xcoms(run: Any) -> dict[tuple[str, str], Any]:
    """Every XCom the run's tasks pushed, by (task_id, key), as stored."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.run_id == run.run_id)).all()
        return {(row.task_id, row.key): row.value for row in rows}


def try_numbers(run: Any) -> dict[str, int]:
    return {ti.task_id: ti.try_number for ti in run.get_task_instances()}


def approvals_of(url: str, dag_id: str) -> list[Approval]:
    with ApprovalsClient(url, api_key=API_KEY) as client:
        found: list[Approval] = []
        cursor = None
        while True:
            page = client.list(limit=200, cursor=cursor)
            found += [a for a in page.data if a.source and a.source.pipeline == dag_id]
            cursor = page.next_cursor
            if not cursor:
                return found


class Reviewer(threading.Thread):
    """A person deciding from another thread: waits for each new pending approval of
    ``dag_id`` and applies the next of ``decisions`` to it (``None`` leaves it alone)."""

    def __init__(
        self,
        url: str,
        dag_id: str,
        *decisions: Callable[[ApprovalsClient, Approval], object] | None,
    ) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.dag_id = dag_id
        self.decisions = list(decisions)
        self.seen: list[Approval] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with ApprovalsClient(self.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as c:
                while self.decisions and not self.stop.is_set():
                    seen = {a.id for a in self.seen}
                    pending = [
                        a
                        for a in c.list(status=ApprovalStatus.PENDING, limit=200).data
                        if a.source and a.source.pipeline == self.dag_id and a.id not in seen
                    ]
                    for approval in reversed(pending):  # oldest first
                        self.seen.append(approval)
                        decide = self.decisions.pop(0)
                        if decide is not None:
                            decide(c, approval)
                        if not self.decisions:
                            return
                    time.sleep(0.05)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Reviewer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(10)
        if self.error is not None:
            raise self.error


def approve(**kwargs: Any) -> Callable[[ApprovalsClient, Approval], object]:
    return lambda client, approval: client.approve(approval.id, **kwargs)


def reject(note: str | None = None) -> Callable[[ApprovalsClient, Approval], object]:
    return lambda client, approval: client.reject(approval.id, note=note)
