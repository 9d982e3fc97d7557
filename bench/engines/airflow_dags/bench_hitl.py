"""Airflow's own Human-in-the-loop ``ApprovalOperator`` >> a task that writes the time of
its first line."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, task


@task
def downstream(**context):  # type: ignore[no-untyped-def]
    started = time.time()  # the first line: what the benchmark measures up to
    out = Path(os.environ["SIGNOFF_BENCH_OUT"])
    tmp = out / f".{context['run_id']}.tmp"
    tmp.write_text(repr(started))
    tmp.rename(out / f"{context['run_id']}.t")


with DAG("bench_hitl", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    approve = ApprovalOperator(task_id="approve", subject="bench {{ run_id }}")
    approve >> downstream()
