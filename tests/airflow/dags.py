"""Helpers to run DAGs under real Airflow (``dag.test()``) and to play the reviewer."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def first_event_in_triggerer(trigger: Any, ti: Any) -> Any:
    """The trigger's first event, run as in the triggerer's trigger process, whose requests
    (connections, XComs) its supervisor serves through the Execution API: here the
    in-process one ``dag.test()`` uses, reached the triggerer's way, by ``asend``."""
    import asyncio
    from uuid import UUID

    import psutil
    import structlog
    from airflow.sdk.execution_time.supervisor import (
        InProcessSupervisorComms,
        InProcessTestSupervisor,
        set_supervisor_comms,
    )

    class TriggerComms(InProcessSupervisorComms):
        async def asend(self, msg: Any) -> Any:
            return self.send(msg)

    supervisor = InProcessTestSupervisor(
        id=UUID(str(ti.id)),
        pid=os.getpid(),
        process=psutil.Process(),
        process_log=structlog.get_logger(logger_name="task").bind(),
        client=InProcessTestSupervisor._api_client(),
    )
    supervisor.comms = TriggerComms(supervisor=supervisor)

    async def first_event() -> Any:
        events = trigger.run()
        try:
            return await asyncio.wait_for(anext(events), 60)
        finally:
            await events.aclose()

    trigger.task_instance = ti  # as the triggerer does
    with set_supervisor_comms(supervisor.comms):
        return asyncio.run(first_event())


def run_dag_with_triggerer(
    dag: Any,
    url: str,
    *decisions: Callable[[ApprovalsClient, Approval], object] | None,
    **test_kwargs: Any,
) -> Any:
    """``run_dag``, but a deferred task's trigger event goes where the triggerer sends it:
    ``Trigger.submit_event``. A ``TaskSuccessEvent`` / ``TaskFailedEvent`` then ends the
    task (state, XCom, retry) in Airflow's own code; ``dag.test()`` alone would resume the
    task on the "worker" with the event's payload instead. A plain event resumes it.

    Each deferral first gets the next of ``decisions`` (``None``: nobody decides), applied
    once the task waits, so no decision can beat the task's check before deferring."""
    from unittest import mock

    from airflow.models.trigger import Trigger
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.definitions import dag as dag_module
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    run_task = dag_module._run_task
    pending = list(decisions)

    def run_task_then_trigger(*, ti: Any, task: Any, run_triggerer: bool = False) -> Any:
        while True:
            result = run_task(ti=ti, task=task, run_triggerer=False)
            ti.refresh_from_db()
            if ti.state != TaskInstanceState.DEFERRED:
                return result
            try:
                with create_session() as session:
                    row = session.get(Trigger, ti.trigger_id)
                    assert row is not None
                    trigger = import_string(row.classpath)(**row.kwargs)
                decide = pending.pop(0) if pending else None
                if decide is not None:
                    with ApprovalsClient(url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as c:
                        decide(c, c.get(trigger.approval_id))
                event = first_event_in_triggerer(trigger, ti)
                TRIGGER_EVENTS.append(event)
                Trigger.submit_event(trigger_id=ti.trigger_id, event=event)
            except BaseException as exc:
                HARNESS_ERRORS.append(exc)  # dag.test() would only log it, then wait forever
                ti.set_state(TaskInstanceState.FAILED)
                raise
            ti.refresh_from_db()
            if ti.state != TaskInstanceState.SCHEDULED:  # ended by the trigger
                return result

    # Where the DAG processor would have found the file; the callback request a task
    # ended by its trigger sends to the DAG processor names it.
    dag.relative_fileloc = os.path.basename(dag.fileloc)
    HARNESS_ERRORS.clear()
    with mock.patch.object(dag_module, "_run_task", run_task_then_trigger):
        run = run_dag(dag, **test_kwargs)
    if HARNESS_ERRORS:
        raise HARNESS_ERRORS[0]
    return run


HARNESS_ERRORS: list[BaseException] = []


@contextmanager
def deciding_when_deferred(
    url: str, *decisions: Callable[[ApprovalsClient, Approval], object] | None
) -> Iterator[None]:
    """Under plain ``dag.test()``: apply the next of ``decisions`` to each deferred
    approval just before ``dag.test()`` runs its trigger inline."""
    from unittest import mock

    from airflow.sdk.definitions import dag as dag_module

    run_inline = dag_module._run_inline_trigger
    pending = list(decisions)

    def decide_then_run(trigger: Any, task_sdk_ti: Any) -> Any:
        decide = pending.pop(0) if pending else None
        if decide is not None:
            with ApprovalsClient(url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as c:
                decide(c, c.get(trigger.approval_id))
        event = run_inline(trigger, task_sdk_ti)
        TRIGGER_EVENTS.append(event)
        return event

    with mock.patch.object(dag_module, "_run_inline_trigger", decide_then_run):
        yield


TRIGGER_EVENTS: list[Any] = []
"""Every event the triggers of ``run_dag_with_triggerer`` fired, in order."""


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
    ``dag_id`` and applies the next of ``decisions`` to it (``None`` leaves it alone),
    as the reviewer whose token is ``token`` (default: the configured ``alice``)."""

    def __init__(
        self,
        url: str,
        dag_id: str,
        *decisions: Callable[[ApprovalsClient, Approval], object] | None,
        token: str = REVIEWER_TOKEN,
    ) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.token = token
        self.dag_id = dag_id
        self.decisions = list(decisions)
        self.seen: list[Approval] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with ApprovalsClient(self.url, api_key=API_KEY, reviewer_token=self.token) as c:
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


def add_reviewer(url: str, name: str, *groups: str) -> str:
    """A stored reviewer in ``groups`` (the admin API, as ``signoff reviewers add``); their
    token. The module's service outlives a test: give each test names of its own."""
    import httpx

    from tests.conftest import ADMIN_KEY

    response = httpx.post(
        f"{url}/api/reviewers",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        json={"name": name, "groups": list(groups)},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


class OnPending(threading.Thread):
    """A person at work in another thread: once ``dag_id`` has a pending approval, runs
    ``script`` with it (the script decides with reviewers' clients of its own); its
    assertion errors are raised again when the ``with`` block ends. A failing script
    withdraws the approval, so that the DAG does not wait for ever."""

    def __init__(self, url: str, dag_id: str, script: Callable[[Approval], object]) -> None:
        super().__init__(daemon=True)
        self.url, self.dag_id, self.script = url, dag_id, script
        self.error: BaseException | None = None
        self.done = False

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 60
            with ApprovalsClient(self.url, api_key=API_KEY) as client:
                while time.monotonic() < deadline:
                    pending = [
                        a
                        for a in client.list(status=ApprovalStatus.PENDING, limit=200).data
                        if a.source and a.source.pipeline == self.dag_id
                    ]
                    if pending:
                        try:
                            self.script(client.get(pending[-1].id))
                        except BaseException:
                            client.withdraw(pending[-1].id, reason="the test's script failed")
                            raise
                        self.done = True
                        return
                    time.sleep(0.05)
            raise AssertionError(f"no pending approval of {self.dag_id} within 60 s")
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> OnPending:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.join(90)
        if self.error is not None:
            raise self.error
        assert self.done, "the script did not finish"
