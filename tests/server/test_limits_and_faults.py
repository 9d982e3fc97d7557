"""Limits, rate limiting, key rotation, outbound safety, outages, and secrets kept out of logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from signoff.client import ApprovalsClient, WorkflowsClient
from signoff.server.process import ServiceProcess, free_port
from tests.conftest import (
    API_KEY,
    CKO_SECRET_KEY,
    REVIEWER_TOKEN,
    SIGNING_SECRET,
    StartService,
)
from tests.pg import Cluster
from tests.receiver import receiver


def eventually(check: Callable[[], Any], tries: int = 300, pause: float = 0.1) -> Any:
    for _ in range(tries):
        value = check()
        if value:
            return value
        time.sleep(pause)
    return check()


def post(service: ServiceProcess, body: dict, key: str = API_KEY) -> httpx.Response:
    return httpx.post(
        f"{service.url}/api/approvals/request", json=body, headers={"x-api-key": key}, timeout=30
    )


def test_details_are_bounded_in_depth_and_size(service: ServiceProcess) -> None:
    deep: dict = {}
    cursor = deep
    for _ in range(40):
        cursor["a"] = {}
        cursor = cursor["a"]
    too_deep = post(service, {"action": "a", "summary": "s", "details": deep})
    assert too_deep.status_code == 422
    assert too_deep.json()["error"] == "details: nested deeper than 32 levels"
    too_big = post(service, {"action": "a", "summary": "s", "details": {"x": "y" * 300_000}})
    assert too_big.status_code == 422 and "larger than 256 KiB" in too_big.json()["error"]
    assert (
        post(service, {"action": "a", "summary": "s", "details": {"x": "y" * 1000}}).status_code
        == 201
    )


def test_rate_limit_per_key_answers_429_with_retry_after(start_service: StartService) -> None:
    service = start_service(None, "--rate-limit", "2")
    answers = [post(service, {"action": "a", "summary": "s"}) for _ in range(8)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert "rate limit" in limited[0].json()["error"]
    # Another key has its own bucket.
    other = httpx.get(
        f"{service.url}/api/approvals", headers={"Authorization": f"Bearer {REVIEWER_TOKEN}"}
    )
    assert other.status_code == 200


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "signoff", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_keys_rotate_without_a_restart(start_service: StartService, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'rotate.db'}"
    service = start_service(database_url)
    created = run_cli(
        "keys", "create", "--database-url", database_url, "--kind", "api", "--name", "ci-2026"
    )
    assert created.returncode == 0, created.stderr
    new_key = created.stdout.strip().splitlines()[-1]
    key_id = created.stdout.split("created api key ")[1].split()[0]
    # The running service picks the new key up by itself.
    assert eventually(
        lambda: post(service, {"action": "a", "summary": "s"}, new_key).status_code == 201
    )
    listed = run_cli("keys", "list", "--database-url", database_url)
    assert key_id in listed.stdout and new_key not in listed.stdout
    assert run_cli("keys", "revoke", "--database-url", database_url, key_id).returncode == 0
    assert eventually(
        lambda: post(service, {"action": "a", "summary": "s"}, new_key).status_code == 401
    )
    assert post(service, {"action": "a", "summary": "s"}).status_code == 201  # others unaffected
    again = run_cli("keys", "revoke", "--database-url", database_url, key_id)
    assert again.returncode == 1 and "no active key" in again.stderr


@pytest.mark.parametrize("host", ["localhost", "169.254.169.254", "[::1]", "10.1.2.3"])
def test_outbound_guard_refuses_private_addresses_after_resolving(
    tmp_path: Path, host: str
) -> None:
    with (
        ServiceProcess(
            database_url=f"sqlite:///{tmp_path / 'guard.db'}",
            api_keys=[API_KEY],
            reviewer_tokens=[REVIEWER_TOKEN],
            log_path=tmp_path / "serve.log",
        ) as service,
        ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as client,
    ):
        created = client.create("a", "s", callback_url=f"http://{host}:{free_port()}/hook")
        client.approve(created.id)
        (delivery,) = eventually(
            lambda: [d for d in client.callbacks(created.id) if d.state == "failed"]
        )
    assert "private or reserved address" in (delivery.attempts[0].error or "")
    assert delivery.attempt_count == 1  # refused, not retried


def test_database_outage_gives_503_and_recovers_without_restart(
    start_service: StartService,
) -> None:
    cluster = Cluster()
    cluster.start()
    try:
        service = start_service(cluster.url)
        with ApprovalsClient(service.url, api_key=API_KEY) as client:
            created = client.create("a", "before the outage")
        cluster.stop()
        during = httpx.get(
            f"{service.url}/api/approvals/{created.id}", headers={"x-api-key": API_KEY}, timeout=30
        )
        assert during.status_code == 503
        assert during.json() == {"error": "database unavailable, try again shortly"}
        assert during.headers["Retry-After"] == "1"
        assert httpx.get(f"{service.url}/healthz", timeout=30).status_code == 503
        write = post(service, {"action": "a", "summary": "during"})
        assert write.status_code == 503
        cluster.start()
        assert eventually(
            lambda: httpx.get(f"{service.url}/healthz", timeout=30).status_code == 200
        )
        with ApprovalsClient(service.url, api_key=API_KEY) as client:
            assert client.get(created.id).summary == "before the outage"
            assert all(a.summary != "during" for a in client.list().data)
            assert client.create("a", "after").id
    finally:
        cluster.remove()


def test_no_secret_reaches_the_logs(start_service: StartService, tmp_path: Path) -> None:
    service = start_service()
    header_secret, signature_key = "Bearer hdr-secret-5fa1", "sig-secret-9c2e"
    with receiver(answers=[500]) as hook:
        with ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as client:
            created = client.create("a", "s", callback_url=hook.url)
            client.approve(created.id)
            post(service, {"action": "a", "summary": "s", "apiKey": API_KEY})
            httpx.get(f"{service.url}/api/approvals", headers={"x-api-key": "wrong-key-7d3b"})
        with WorkflowsClient(service.url, secret_key=CKO_SECRET_KEY) as flows:
            workflow = flows.create(
                {
                    "name": "secrets",
                    "actions": [
                        {
                            "type": "webhook",
                            "url": hook.url,
                            "headers": {"Authorization": header_secret},
                            "signature": {"method": "HMACSHA256", "key": signature_key},
                        }
                    ],
                }
            )
            flows.test(workflow.id, ["payment_approved"])
        hook.wait_for(3)
        eventually(lambda: len(hook.received) >= 3)
    service.stop()
    logs = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    assert "delivery" in logs  # the failed delivery was logged ...
    for secret in (
        API_KEY,
        REVIEWER_TOKEN,
        SIGNING_SECRET,
        CKO_SECRET_KEY,
        header_secret,
        signature_key,
        "wrong-key-7d3b",
    ):
        assert secret not in logs  # ... without any secret
    received = json.loads(hook.received[0].body)
    assert received["approvalId"] == created.id
