"""A deployed refund flow that suspends while finance signs it off.

While the approval is pending the flow run holds no process, worker slot or pod: it is
``Suspended`` in Prefect. Two members of the ``finance`` group must approve, never the
person who asked (``requested_by``); the first to approve picks how to refund. When the
last approval is in, ``signoff serve`` posts the signed decision to the resume receiver,
which resumes the run; the deployment re-executes the flow, which picks up where it
stopped and takes the branch the reviewers chose.

    # 1. the receiver, next to your Prefect API (it needs PREFECT_API_URL)
    SIGNOFF_SIGNING_SECRET=whsec_... python -m signoff_prefect.receiver --port 8787
    # 2. the service must be allowed to call it (a private address needs this); an
    #    admin key manages reviewers (a pipeline's key cannot choose who approves)
    signoff serve --signing-secret whsec_... --outbound-allow 10.0.0.0/8 \
        --admin-key admin=$SIGNOFF_ADMIN_KEY
    # 3. the finance group: its members (each token is printed once)
    for who in dana sam lee; do signoff reviewers add $who --group finance; done
    # 4. a credentials block, then serve (or deploy to a work pool) this flow
    python example_dags/prefect_suspended_refund.py
    prefect deployment run suspended-refund/refunds \\
        -p receiver_url=http://receiver.internal:8787 -p amount=120 -p requested_by=dana
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from signoff_prefect import SignoffCredentials, request_approval_and_suspend


@task
def refund(details: dict[str, Any]) -> float:
    print(f"refunding {details['amount']:.2f} on order {details['order']}")
    return float(details["amount"])


@task
def store_credit(details: dict[str, Any]) -> float:
    print(f"crediting {details['amount']:.2f} to the customer of order {details['order']}")
    return 0.0


@flow(name="suspended-refund", persist_result=True)
async def suspended_refund(
    receiver_url: str,
    order: str = "8842",
    amount: float = 120.0,
    requested_by: str | None = None,
) -> float:
    credentials = await SignoffCredentials.aload("approvals")
    decision = await request_approval_and_suspend(
        credentials,
        receiver_url,
        "refund",
        f"Refund ${amount:,.2f} on order {order}",
        {"order": order, "amount": amount},
        risk_level="high",
        max_wait_seconds=24 * 3600,  # then the approval expires and the run fails
        groups=["finance"],
        required_approvals=2,
        requested_by=requested_by,  # the person who asked may not approve it
        options=["refund", "store_credit"],
    )
    if decision["chosen_options"] == ["store_credit"]:
        return store_credit(decision["details"])
    return refund(decision["details"])  # the reviewer's edit, if any


if __name__ == "__main__":
    suspended_refund.serve(name="refunds")
