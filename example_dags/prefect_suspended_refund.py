"""A deployed refund flow that suspends while it waits for sign-off.

While the approval is pending the flow run holds no process, worker slot or pod: it is
``Suspended`` in Prefect. When the reviewer decides, ``signoff serve`` posts the signed
decision to the resume receiver, which resumes the run with the decision as run input;
the deployment re-executes the flow, which picks up where it stopped.

    # 1. the receiver, next to your Prefect API (it needs PREFECT_API_URL)
    SIGNOFF_SIGNING_SECRET=whsec_... python -m signoff_prefect.receiver --port 8787
    # 2. the service must be allowed to call it (a private address needs this)
    signoff serve --signing-secret whsec_... --outbound-allow 10.0.0.0/8
    # 3. a credentials block, then serve (or deploy to a work pool) this flow
    python example_dags/prefect_suspended_refund.py
    prefect deployment run suspended-refund/refunds \\
        -p receiver_url=http://receiver.internal:8787 -p amount=120
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from signoff_prefect import SignoffCredentials, request_approval_and_suspend


@task
def pay(details: dict[str, Any]) -> float:
    print(f"refunding {details['amount']:.2f} on order {details['order']}")
    return float(details["amount"])


@flow(name="suspended-refund", persist_result=True)
async def suspended_refund(receiver_url: str, order: str = "8842", amount: float = 120.0) -> float:
    credentials = await SignoffCredentials.aload("approvals")
    decision = await request_approval_and_suspend(
        credentials,
        receiver_url,
        "refund",
        f"Refund ${amount:,.2f} on order {order}",
        {"order": order, "amount": amount},
        risk_level="high",
        max_wait_seconds=24 * 3600,  # then the approval expires and the run fails
    )
    return pay(decision["details"])  # the reviewer's edit, if any


if __name__ == "__main__":
    suspended_refund.serve(name="refunds")
