"""Contender (c): signoff's suspended wait, in a deployment served by ``flow.serve``.

``python suspended_wait.py`` serves ``bench-suspended-wait/bench``. Each run asks for
sign-off with ``request_approval_and_suspend`` and suspends (its process exits); the
signed callback reaches ``signoff-prefect-receiver``, which resumes the run; the runner
starts it again from the top, and the line after the wait is timestamped.
"""

from __future__ import annotations

import os

from _notes import credentials, note

from prefect import flow
from signoff_prefect import request_approval_and_suspend


@flow(name="bench-suspended-wait", persist_result=True)
async def suspended_wait(out: str, receiver_url: str, action: str) -> None:
    note(out, "started", str(os.getpid()))  # once per execution of this flow run
    await request_approval_and_suspend(
        credentials(),
        receiver_url,
        action,
        "Benchmark: signoff's suspended wait",
        {"n": 1},
        max_wait_seconds=600,
    )
    note(out, "next")


if __name__ == "__main__":
    suspended_wait.serve(name="bench")
