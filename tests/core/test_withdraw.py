"""``withdraw``: cancel if still pending; a decision that got there first is no error."""

from __future__ import annotations

import pytest

from signoff.client import ApprovalsClient, AsyncApprovalsClient, Conflict
from signoff.models import DecisionReason
from signoff.server.process import ServiceProcess
from tests.conftest import API_KEY, REVIEWER_TOKEN


def test_withdraws_a_pending_approval_and_keeps_a_decided_one(service: ServiceProcess) -> None:
    with ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as client:
        pending = client.create("refund", "Refund 1")
        withdrawn = client.withdraw(pending.id, reason="stopped")
        assert withdrawn is not None and withdrawn.decision_reason_code is DecisionReason.CANCELLED

        decided = client.create("refund", "Refund 2")
        client.reject(decided.id, note="no")
        with pytest.raises(Conflict):
            client.cancel(decided.id)  # what withdraw absorbs
        assert client.withdraw(decided.id) is None
        assert client.get(decided.id).decision_reason_code is not DecisionReason.CANCELLED

        assert client.withdraw("req_no_such_approval") is None


async def test_the_async_form_is_the_same_call(service: ServiceProcess) -> None:
    async with AsyncApprovalsClient(
        service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN
    ) as client:
        pending = await client.create("refund", "Refund 3")
        withdrawn = await client.withdraw(pending.id)
        assert withdrawn is not None and withdrawn.is_cancelled
        decided = await client.create("refund", "Refund 4")
        await client.approve(decided.id)
        assert await client.withdraw(decided.id) is None
        assert await client.withdraw("req_no_such_approval") is None
