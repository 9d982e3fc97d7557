"""A flow deployed by ``flow.serve`` in the suspended-wait test (run as a script).

python tests/prefect/suspended_flow.py   # serves the deployment "suspended-refund/test"
"""

from __future__ import annotations

import os
import sys
from typing import Any

from prefect import flow
from signoff_prefect import SignoffCredentials
from signoff_prefect.suspend import request_approval_and_suspend


@flow(name="suspended-refund", persist_result=True)
async def suspended_refund(
    credentials_block: str,
    receiver_url: str,
    amount: float,
    runs_log: str,
    action: str = "prefect_suspended_refund",
    options: list[str] | None = None,
) -> dict[str, Any]:
    with open(runs_log, "a") as log:  # one line per execution of this flow run
        log.write(f"started {os.getpid()}\n")
    credentials = await SignoffCredentials.aload(credentials_block)
    return await request_approval_and_suspend(
        credentials,
        receiver_url,
        action,
        f"Refund {amount:.2f}",
        {"amount": amount},
        max_wait_seconds=600,
        options=options,
    )


if __name__ == "__main__":
    suspended_refund.serve(name=sys.argv[1] if len(sys.argv) > 1 else "test")
