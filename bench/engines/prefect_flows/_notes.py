"""What every benchmark flow shares: where the service is, and the line-per-event log."""

from __future__ import annotations

import os
import time

from signoff_prefect import SignoffCredentials


def credentials() -> SignoffCredentials:
    """An unsaved block, from the environment the benchmark gives each flow process."""
    return SignoffCredentials(
        base_url=os.environ["SIGNOFF_BENCH_URL"], api_key=os.environ["SIGNOFF_BENCH_API_KEY"]
    )


def note(path: str, *words: str) -> None:
    """Append ``WORD ... <time.time()>`` to the flow's log: the benchmark reads it."""
    with open(path, "a") as log:
        log.write(" ".join([*words, repr(time.time())]) + "\n")
        log.flush()
