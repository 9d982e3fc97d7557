"""Contender (a): signoff's in-process wait, the default way.

``python signoff_wait.py OUT``: ``request_approval``, then ``wait_for_decision`` (one
long-poll the service answers when the reviewer decides), then the flow's next line.
"""

from __future__ import annotations

import asyncio
import sys

from _notes import credentials, note

from prefect import flow
from signoff_prefect import request_approval, wait_for_decision


@flow(name="bench-signoff-wait")
async def signoff_wait(out: str) -> None:
    block = credentials()
    created = await request_approval(
        block, "bench_prefect_wait", "Benchmark: signoff's wait", {"n": 1}
    )
    note(out, "ready", str(created["approval_id"]))
    await wait_for_decision(block, str(created["approval_id"]), max_wait_seconds=300)
    note(out, "next")


if __name__ == "__main__":
    asyncio.run(signoff_wait(sys.argv[1]))
