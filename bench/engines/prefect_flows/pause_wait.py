"""Contender (b): Prefect's own ``pause_flow_run``, default ``poll_interval`` (10 s).

``python pause_wait.py OUT``: pause, and once resumed (``resume_flow_run``, sent by the
benchmark) the flow's next line.
"""

from __future__ import annotations

import sys

from _notes import note
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run

from prefect import flow


@flow(name="bench-pause-wait")
def pause_wait(out: str) -> None:
    note(out, "ready", str(flow_run.id))
    pause_flow_run(timeout=300)
    note(out, "next")


if __name__ == "__main__":
    pause_wait(sys.argv[1])
