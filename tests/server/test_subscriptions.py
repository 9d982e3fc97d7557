"""Webhooks as code against the real service: plan, apply, drift, prune, converge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from signoff.client import WebhooksClient
from signoff.server.process import ServiceProcess
from signoff.subscriptions import AsyncSubscriptionsClient, SubscriptionsClient, loads
from tests.conftest import CKO_SECRET_KEY, StartService

SPEC = """\
webhooks:
  ledger:
    url: https://ledger.example.com/hooks
    event_types: [payment_captured, payment_refunded]
    headers:
      Authorization: ${env:LEDGER_TOKEN}
  audit:
    url: https://audit.example.com/hooks
    event_types: [approval_approved]
workflows:
  refunds:
    conditions:
      - type: event
        events: {gateway: [payment_refunded]}
    actions:
      - url: https://finance.example.com/hooks
        signature: {method: HMACSHA256, key: "${env:SIGNING_KEY}"}
"""
SMALLER = SPEC.replace(
    """  audit:
    url: https://audit.example.com/hooks
    event_types: [approval_approved]
""",
    """  removed:
    url: https://x.example.com/h
    event_types: [dispute_lost]
""",
)
ENV = {"LEDGER_TOKEN": "ledger-secret-value", "SIGNING_KEY": "signing-secret-value"}


@pytest.fixture
def fresh(start_service: StartService) -> ServiceProcess:
    return start_service()


def counting_client(service: ServiceProcess) -> tuple[SubscriptionsClient, list[str]]:
    methods: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda r: methods.append(r.method)]})
    return SubscriptionsClient(service.url, secret_key=CKO_SECRET_KEY, http_client=http), methods


def test_create_then_nothing_to_do(fresh: ServiceProcess) -> None:
    client, methods = counting_client(fresh)
    spec = loads(SPEC, "subs.yaml", ENV)
    plan = client.plan(spec)
    assert plan.counts() == {"create": 3, "update": 0, "delete": 0, "noop": 0}
    result = client.apply(plan)
    assert result.ok and [s.status for s in result.steps] == ["applied"] * 3

    methods.clear()
    again = client.plan(spec)
    assert not again.has_changes and again.counts()["noop"] == 3
    assert set(methods) == {"GET"}  # a no-change plan only reads
    methods.clear()
    assert client.apply(again).steps == [] and methods == []

    with WebhooksClient(fresh.url, secret_key=CKO_SECRET_KEY) as hooks:
        ledger = next(w for w in hooks.list() if w.url == "https://ledger.example.com/hooks")
    assert ledger.headers["Authorization"] == "ledger-secret-value"  # resolved, then sent
    assert ledger.headers["X-Signoff-Managed"] == "ledger"


def test_drift_shows_as_an_update_and_apply_repairs_it(fresh: ServiceProcess) -> None:
    client, _ = counting_client(fresh)
    spec = loads(SPEC, "subs.yaml", ENV)
    client.apply(client.plan(spec))
    with WebhooksClient(fresh.url, secret_key=CKO_SECRET_KEY) as hooks:
        audit = next(w for w in hooks.list() if w.url.startswith("https://audit"))
        hooks.patch(audit.id, {"active": False, "event_types": ["approval_rejected"]})
    plan = client.plan(spec)
    (change,) = plan.pending
    assert (change.action, change.name, change.id) == ("update", "audit", audit.id)
    assert {(c.field, str(c.before), str(c.after)) for c in change.changes} == {
        ("active", "False", "True"),
        ("event_types", "['approval_rejected']", "['approval_approved']"),
    }
    assert client.apply(plan).ok
    assert not client.plan(spec).has_changes


def test_changed_secret_is_an_update_that_never_shows_the_value(fresh: ServiceProcess) -> None:
    client, _ = counting_client(fresh)
    client.apply(client.plan(loads(SPEC, "subs.yaml", ENV)))
    rotated = loads(SPEC, "subs.yaml", {**ENV, "SIGNING_KEY": "rotated-secret-value"})
    plan = client.plan(rotated)
    (change,) = plan.pending
    assert change.name == "refunds"
    assert change.changes[0].field == "actions[0].signature"
    text = plan.model_dump_json()
    assert "secret-value" not in text and "(secret)" in text
    assert client.apply(plan).ok and not client.plan(rotated).has_changes


def test_prune_deletes_only_what_the_spec_made(fresh: ServiceProcess) -> None:
    client, _ = counting_client(fresh)
    client.apply(client.plan(loads(SPEC, "subs.yaml", ENV)))
    with WebhooksClient(fresh.url, secret_key=CKO_SECRET_KEY) as hooks:
        by_hand = hooks.create(
            {"url": "https://by-hand.example.com", "event_types": ["dispute_won"]}
        )
    # "audit" leaves the file, "removed" joins it (the workflow stays).
    smaller = loads(SMALLER, "subs.yaml", ENV)
    assert set(smaller.webhooks) == {"ledger", "removed"}

    kept = client.plan(smaller)
    assert [o.label for o in kept.orphaned] == ["audit"]
    assert [u.id for u in kept.unmanaged] == [by_hand.id]
    assert [c.action for c in kept.pending] == ["create"]

    pruned = client.plan(smaller, prune=True)
    assert sorted((c.action, c.name) for c in pruned.pending) == [
        ("create", "removed"),
        ("delete", "audit"),
    ]
    assert client.apply(pruned).ok
    everything = client.plan(smaller, prune=True, prune_unmanaged=True)
    assert [(c.action, c.id, c.managed) for c in everything.pending] == [
        ("delete", by_hand.id, False)
    ]
    assert client.apply(everything).ok
    with WebhooksClient(fresh.url, secret_key=CKO_SECRET_KEY) as hooks:
        assert sorted(w.url for w in hooks.list()) == [
            "https://ledger.example.com/hooks",
            "https://x.example.com/h",
        ]


def test_failure_midway_reports_and_rerun_converges(fresh: ServiceProcess) -> None:
    client, _ = counting_client(fresh)
    spec = loads(SPEC, "subs.yaml", ENV)
    plan = client.plan(spec)
    with WebhooksClient(fresh.url, secret_key=CKO_SECRET_KEY) as hooks:
        # Someone registers the audit URL by hand between plan and apply.
        hooks.create({"url": "https://audit.example.com/hooks", "event_types": ["dispute_won"]})
    result = client.apply(plan)
    assert not result.ok
    assert [s.status for s in result.steps] == ["applied", "failed", "not applied"]
    assert "already configured" in (result.steps[1].error or "")
    assert "1 of 3 changes applied" in result.summary()

    converging = client.plan(spec)  # adopts the hand-made webhook by its URL
    assert sorted((c.action, c.name) for c in converging.pending) == [
        ("create", "refunds"),
        ("update", "audit"),
    ]
    assert client.apply(converging).ok
    assert not client.plan(spec).has_changes


async def test_async_client_plans_the_same(fresh: ServiceProcess) -> None:
    spec = loads(SPEC, "subs.yaml", ENV)
    async with AsyncSubscriptionsClient(fresh.url, secret_key=CKO_SECRET_KEY) as client:
        plan = await client.plan(spec)
        assert plan.counts()["create"] == 3
        assert (await client.apply(plan)).ok
        assert not (await client.plan(spec)).has_changes


def test_cli_exit_codes_and_no_secret_in_any_output(fresh: ServiceProcess, tmp_path: Path) -> None:
    spec_file = tmp_path / "subs.yaml"
    spec_file.write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    env |= ENV | {"SIGNOFF_URL": fresh.url, "SIGNOFF_API_KEY": CKO_SECRET_KEY, "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "signoff", "subscriptions", *args, "-f", str(spec_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    outputs = []
    validate = run("validate")
    assert validate.returncode == 0 and "valid (2 webhooks, 1 workflows)" in validate.stdout
    plan = run("plan")
    outputs.append(plan)
    assert plan.returncode == 2 and "Plan: 3 to create, 0 to update, 0 to delete." in plan.stdout
    as_json = run("plan", "--json")
    outputs.append(as_json)
    assert as_json.returncode == 2 and '"action": "create"' in as_json.stdout
    applied = run("apply")
    outputs.append(applied)
    assert applied.returncode == 0 and "Apply complete: 3 of 3 changes applied" in applied.stdout
    again = run("plan")
    outputs.append(again)
    assert again.returncode == 0 and "No changes" in again.stdout
    for output in outputs:
        assert "secret-value" not in output.stdout + output.stderr

    spec_file.write_text(SPEC.replace("payment_captured, payment_refunded", "payment_teleported"))
    broken = run("plan")
    assert broken.returncode == 1
    assert (
        "subs.yaml:4: webhooks.ledger.event_types: unknown event type 'payment_teleported'"
        in broken.stderr
    )
    spec_file.write_text(SPEC)
    env.pop("LEDGER_TOKEN")
    missing = run("plan")
    assert (
        missing.returncode == 1 and "environment variable LEDGER_TOKEN is not set" in missing.stderr
    )
    assert run("validate").returncode == 0  # validation needs no secrets
