"""Run an approval-gated Prefect flow against ``signoff serve``.

    .venvs/prefect/bin/python example_dags/demo_prefect.py [--auto-decide]

Starts the embedded service on a free port and, unless ``PREFECT_API_URL`` names a
Prefect server to use (in the environment or the active Prefect profile), a throw-away
one (``prefect_test_harness``); runs a refund flow that asks for sign-off and waits
in-process (one long-poll, woken the moment the reviewer decides), prints the review URL
and the command that decides it, and pays what the reviewer approved. The details are
typed by a pydantic model, sent as the approval's ``details_schema``: an edit that breaks
it (a negative amount, a missing order) is refused, so the flow only ever pays a valid
batch. With ``--auto-decide`` a stand-in reviewer approves with an edit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from prefect.settings import get_current_settings
from prefect.testing.utilities import prefect_test_harness
from pydantic import BaseModel, Field

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry writes
from prefect import flow, task
from signoff.client import ApprovalsClient
from signoff.models import ApprovalStatus
from signoff.server.process import ServiceProcess
from signoff_prefect import (
    ApprovalRejected,
    SignoffCredentials,
    request_approval,
    wait_for_decision,
)

REFUNDS = [
    {"order": "8842", "amount": 120.00},
    {"order": "8851", "amount": 35.50},
    {"order": "8860", "amount": 980.00},
]


class Refund(BaseModel):
    order: str
    amount: float = Field(gt=0)


class RefundBatch(BaseModel):
    refunds: list[Refund]


@task
def pay(batch: RefundBatch) -> float:
    for refund in batch.refunds:
        print(f"refunding {refund.amount:.2f} on order {refund.order}")
    return sum(r.amount for r in batch.refunds)


@flow(name="refund-batch")
async def refund_batch(credentials: SignoffCredentials) -> float:
    created = await request_approval(
        credentials,
        "refund_batch",
        f"Refund {len(REFUNDS)} orders, ${sum(r['amount'] for r in REFUNDS):,.2f}",
        {"refunds": REFUNDS},
        risk_level="high",
        expires_in_seconds=3600,
        details_schema=RefundBatch,  # a reviewer's edit must keep it
    )
    print(f"\nreview it at {created['review_url']}\n", flush=True)
    decision = await wait_for_decision(credentials, str(created["approval_id"]))
    return pay(RefundBatch.model_validate(decision["details"]))


def stand_in_reviewer(url: str, token: str) -> None:
    with ApprovalsClient(url, reviewer_token=token) as client:
        for _ in range(600):
            pending = [a for a in client.list(ApprovalStatus.PENDING).data]
            if pending:
                time.sleep(1)
                edited = {"refunds": [r for r in REFUNDS if r["amount"] < 500]}
                client.approve(
                    pending[0].id, modified_details=edited, note="the $980 one needs a photo"
                )
                print("==> --auto-decide: approved without the $980 refund", flush=True)
                return
            time.sleep(0.1)


@contextlib.contextmanager
def prefect_server() -> Iterator[None]:
    """The Prefect server that ``PREFECT_API_URL`` names (the flow run then shows in its
    UI), else a throw-away one for the length of the demo."""
    url = get_current_settings().api.url  # the environment, else the active profile
    if url:
        print(f"using the Prefect server at {url} (PREFECT_API_URL)", flush=True)
        yield
        return
    print("starting a throw-away Prefect server ...", flush=True)
    with prefect_test_harness(server_startup_timeout=180):
        yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auto-decide", action="store_true", help="approve with an edit")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="signoff-prefect-demo-"))
    api_key, token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    service = ServiceProcess(
        database_url=f"sqlite:///{work / 'signoff.db'}",
        api_keys=[api_key],
        reviewer_tokens=[f"reviewer={token}"],
        log_path=work / "serve.log",
    )
    with service:
        print(f"signoff serve is up at {service.url}")
        print("decide from another terminal with:")
        print(f"  export SIGNOFF_URL={service.url} SIGNOFF_REVIEWER_TOKEN={token}")
        print("  signoff approvals list --status pending")
        print("  signoff approvals approve ID --details '<edited JSON>' --note '...'")
        print("  signoff approvals reject ID --note '...'")
        if args.auto_decide:
            threading.Thread(
                target=stand_in_reviewer, args=(service.url, token), daemon=True
            ).start()
        with prefect_server():
            credentials = SignoffCredentials(base_url=service.url, api_key=api_key)
            try:
                paid = asyncio.run(refund_batch(credentials))
            except ApprovalRejected as rejected:
                print(f"rejected: {rejected}")
                return 0
    print(f"paid {paid:.2f}, as approved by the reviewer")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
