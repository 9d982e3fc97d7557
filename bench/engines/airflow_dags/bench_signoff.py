"""signoff's deferrable ``RequestApprovalOperator`` (default settings) >> a task that
writes the time of its first line. One extra DAG, ``bench_signoff_worker``, pins
``end_from_trigger=False`` when the installed operator has that argument."""

from __future__ import annotations

import inspect
import os
import time
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from signoff_airflow.operators.approval import RequestApprovalOperator


@task
def downstream(**context):  # type: ignore[no-untyped-def]
    started = time.time()  # the first line: what the benchmark measures up to
    out = Path(os.environ["SIGNOFF_BENCH_OUT"])
    tmp = out / f".{context['run_id']}.tmp"
    tmp.write_text(repr(started))
    tmp.rename(out / f"{context['run_id']}.t")


def _dag(dag_id: str, **operator_kwargs: object) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
        approve = RequestApprovalOperator(
            task_id="approve",
            action="bench_step",
            summary="bench {{ run_id }}",
            details={"run": "{{ run_id }}"},
            **operator_kwargs,
        )
        approve >> downstream()
    return dag


bench_signoff = _dag("bench_signoff")
if "end_from_trigger" in inspect.signature(RequestApprovalOperator.__init__).parameters:
    bench_signoff_worker = _dag("bench_signoff_worker", end_from_trigger=False)
