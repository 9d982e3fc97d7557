"""The idempotency key of a task instance's attempt cycle, for every creating call.

The approval operator keys its approval on it and the webhook and workflow operators
their creates, so that a retry (or a worker crash, or a re-run of the same try) replays
what the first try made instead of making a second one.

The cycle's first try is ``max_tries - retries + 1`` (Airflow's own formula, used for
sensor reschedules): retries keep it (``max_tries`` does not move), while clearing a
task sets ``max_tries = try_number + retries``, so a cleared task gets a new key.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk.types import RuntimeTaskInstanceProtocol


def first_try(ti: RuntimeTaskInstanceProtocol, retries: int) -> int:
    """The try number that began this task instance's attempt cycle."""
    max_tries = int(getattr(ti, "max_tries", 0) or 0)
    return max(1, min(ti.try_number, max_tries - retries + 1))


def idempotency_key(ti: RuntimeTaskInstanceProtocol, retries: int) -> str:
    """The key of this task instance's attempt cycle (see the module docstring)."""
    who = json.dumps([ti.dag_id, ti.run_id, ti.task_id, ti.map_index])
    return f"airflow:{hashlib.sha256(who.encode()).hexdigest()[:40]}:try{first_try(ti, retries)}"
