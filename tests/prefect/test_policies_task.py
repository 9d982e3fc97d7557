"""The apply_policies task in real Prefect flows against a fresh embedded service each
(started with an admin key): plan and apply the example policy file, a broken file on
its lines, credentials without an admin key; and a refund the applied policy approves
at once, with nobody deciding."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from prefect import flow
from signoff.client import ApprovalsClient, PoliciesClient, Unauthorized
from signoff.policies.spec import SpecError, load
from signoff_prefect import (
    SignoffCredentials,
    apply_policies,
    request_approval_and_wait_for_decision,
)
from tests.conftest import ADMIN_KEY, API_KEY, StartService

POLICIES = Path(__file__).resolve().parents[2] / "example_dags" / "policies.yaml"


@pytest.fixture
def url(start_service: StartService) -> str:
    return start_service().url


def credentials_for(url: str, admin_key: str | None = ADMIN_KEY) -> SignoffCredentials:
    return SignoffCredentials(base_url=url, api_key=API_KEY, admin_key=admin_key)


def run(credentials: SignoffCredentials, path: Path | str, mode: str) -> dict[str, Any]:
    @flow
    async def apply(mode: str) -> dict[str, Any]:
        return await apply_policies(credentials, str(path), mode=mode)  # type: ignore[arg-type]

    return asyncio.run(apply(mode))


def test_plan_then_apply_then_nothing_to_do(url: str) -> None:
    credentials = credentials_for(url)
    planned = run(credentials, POLICIES, "plan")
    assert planned["changed"] is True and planned["version"] is None
    assert planned["counts"] == {"add": 4, "change": 0, "remove": 0, "move": 0}
    assert [(c["op"], c["kind"], c["name"]) for c in planned["changes"]] == [
        ("add", "group", "finance"),
        ("add", "group", "leads"),
        ("add", "policy", "small-refunds"),
        ("add", "policy", "big-refunds"),
    ]
    with PoliciesClient(url, admin_key=ADMIN_KEY) as client:
        assert client.active() is None  # plan changes nothing

    applied = run(credentials, POLICIES, "apply")
    assert applied["applied"] is True and applied["version"] == 1
    with PoliciesClient(url, admin_key=ADMIN_KEY) as client:
        active = client.active()
    assert active is not None and active.version == 1
    assert active.document == load(POLICIES).document()

    again = run(credentials, POLICIES, "apply")
    assert again["applied"] is False and again["changed"] is False
    assert again["version"] == 1 and again["changes"] == [] and again["summary"] == "no changes"


def test_a_broken_file_raises_with_the_file_lines(url: str, tmp_path: Path) -> None:
    broken = tmp_path / "policies.yaml"
    broken.write_text(
        "policies:\n"
        "  - name: small-refunds\n"
        "    when: details.total <\n"
        "    decide: approve\n"
        "  - name: big-refunds\n"
        "    when: details.total > 10000\n"
        "    groups: [treasury]\n"
    )
    with pytest.raises(SpecError) as raised:
        run(credentials_for(url), broken, "apply")
    text = str(raised.value)
    assert f"the service refused {broken} (HTTP 422):" in text
    assert f"{broken}:3: policies.0.when: not a valid CEL expression" in text
    assert f"{broken}:5: policies.1: no group named treasury" in text

    shape = tmp_path / "shape.yaml"
    shape.write_text("policies:\n  - name: small-refunds\n    decide: maybe\n")
    with pytest.raises(SpecError, match=rf"{shape}:3: policies\.0\.decide:"):
        run(credentials_for(url), shape, "plan")
    with PoliciesClient(url, admin_key=ADMIN_KEY) as client:
        assert client.active() is None


def test_without_an_admin_key_nothing_is_applied(url: str) -> None:
    with pytest.raises(ValueError, match="needs an admin key of signoff serve"):
        run(credentials_for(url, admin_key=None), POLICIES, "apply")
    with pytest.raises(Unauthorized):  # the pipeline's API key given as the admin key
        run(credentials_for(url, admin_key=API_KEY), POLICIES, "apply")
    with PoliciesClient(url, admin_key=ADMIN_KEY) as client:
        assert client.active() is None


def test_an_auto_approved_refund_returns_at_once(url: str) -> None:
    credentials = credentials_for(url)
    run(credentials, POLICIES, "apply")
    started = time.monotonic()
    outcome = asyncio.run(
        request_approval_and_wait_for_decision(
            credentials,
            "process_refund_batch",
            "Refund 12.00 across 1 order",
            {"refunds": [{"order": "9001", "amount": 12.0}], "total": 12.0},
            poll_frequency_seconds=30,  # a poll would take longer than the whole test allows
        )
    )
    assert time.monotonic() - started < 20
    assert outcome["approved"] is True and outcome["status"] == "APPROVED"
    assert outcome["decided_by"] == "policy:small-refunds"
    assert outcome["note"] == "Refund batches under $50 need nobody."
    with ApprovalsClient(url, api_key=API_KEY) as client:
        approval = client.get(outcome["approval_id"])
    assert approval.auto_decided is True and approval.auto_decision_rule_name == "small-refunds"
