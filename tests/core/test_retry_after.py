"""``Retry-After``: seconds or an HTTP date; anything else reads as absent, never raises."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from signoff.client import ApprovalsClient, RetryPolicy
from signoff.retry_after import retry_after_seconds
from tests.core.test_client import Answer, approval, peer


def answer(value: str) -> httpx.Response:
    return httpx.Response(503, headers={"Retry-After": value})


def test_seconds_and_dates() -> None:
    assert retry_after_seconds(answer("5")) == 5.0
    assert retry_after_seconds(answer(" 1.5 ")) == 1.5
    assert retry_after_seconds(answer("-3")) == 0.0
    assert retry_after_seconds(httpx.Response(503)) is None
    soon = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 50 < (retry_after_seconds(answer(soon)) or 0) <= 60
    assert retry_after_seconds(answer("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # past


@pytest.mark.parametrize(
    "value",
    ["soon", "Mon, 99 Foo", "Wed, 21 Oct 99999 07:28:00 GMT", "nan", "inf", "1e400", "1,2"],
)
def test_a_malformed_header_reads_as_absent(value: str) -> None:
    assert retry_after_seconds(answer(value)) is None


def test_a_client_retries_with_its_own_backoff_after_a_malformed_header() -> None:
    fast = RetryPolicy(attempts=3, base=0.01, cap=0.05)
    with peer(
        Answer(503, {"error": "busy"}, {"Retry-After": "soon"}), Answer(200, approval())
    ) as p:
        with ApprovalsClient(p.url, api_key="k", retry=fast) as client:
            assert client.get("req_1").id == "req_1"
    assert len(p.seen) == 2
