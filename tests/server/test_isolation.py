"""No caller reaches another's data: cancel and callback replay belong to the submitting
key (or an admin key), and a callback URL's password is never shown to anyone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from signoff.server.process import ServiceProcess, free_port
from tests.conftest import API_KEY, CKO_SECRET_KEY, REVIEWER_TOKEN, StartService
from tests.receiver import receiver

OWNER = {"x-api-key": API_KEY}
OTHER = {"x-api-key": CKO_SECRET_KEY}
"""Two pipelines: both are API keys of the same service (``api-1`` and ``api-2``)."""
REVIEWER = {"Authorization": f"Bearer {REVIEWER_TOKEN}"}


def admin_key(database_url: str) -> str:
    """An admin key made with the CLI before the service starts (so it is loaded at once)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    made = subprocess.run(
        [sys.executable, "-m", "signoff", "keys", "create", "--database-url", database_url,
         "--kind", "admin", "--name", "ops"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    return next(word for word in made.stdout.split() if word.startswith("so_adm_"))


def submit(service: ServiceProcess, headers: dict[str, str], **extra: Any) -> str:
    body = {"action": "refund.batch", "summary": "Refund 3 orders", **extra}
    created = httpx.post(f"{service.url}/api/approvals/request", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def read(service: ServiceProcess, approval_id: str) -> dict[str, Any]:
    found = httpx.get(f"{service.url}/api/approvals/{approval_id}", headers=REVIEWER)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def eventually(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError("condition never held")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'isolation.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_only_the_submitting_key_or_an_admin_may_cancel(
    start_service: StartService, database: str
) -> None:
    admin = {"x-api-key": admin_key(database)}
    service = start_service(database)
    approval_id = submit(service, OWNER)

    refused = httpx.post(f"{service.url}/api/approvals/{approval_id}/cancel", headers=OTHER)
    assert refused.status_code == 403
    assert "submitted" in refused.json()["error"]
    assert read(service, approval_id)["status"] == "PENDING"

    cancelled = httpx.post(f"{service.url}/api/approvals/{approval_id}/cancel", headers=OWNER)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["decisionReasonCode"] == "CANCELLED"

    theirs = submit(service, OTHER)
    by_admin = httpx.post(f"{service.url}/api/approvals/{theirs}/cancel", headers=admin)
    assert by_admin.status_code == 200, by_admin.text
    assert read(service, theirs)["decidedBy"] == "ops"

    unknown = httpx.post(f"{service.url}/api/approvals/req_nope/cancel", headers=OWNER)
    assert unknown.status_code == 404


def test_callback_replay_is_the_owners_and_never_of_a_pending_delivery(
    start_service: StartService, database: str
) -> None:
    admin = {"x-api-key": admin_key(database)}
    service = start_service(database)
    with receiver() as hook:
        delivered = submit(service, OWNER, webhookUrl=hook.url)
        closed = submit(service, OWNER, webhookUrl=f"http://127.0.0.1:{free_port()}/cb")
        for approval_id in (delivered, closed):
            decided = httpx.post(
                f"{service.url}/api/approvals/{approval_id}/decision",
                json={"decision": "approve"},
                headers=REVIEWER,
            )
            assert decided.status_code == 200, decided.text
        hook.wait_for(1)

        def callback(approval_id: str, state: str) -> str | None:
            found = httpx.get(
                f"{service.url}/api/approvals/{approval_id}/callbacks", headers=OWNER
            ).json()["data"]
            return next((d["id"] for d in found if d["state"] == state), None)

        done = eventually(lambda: callback(delivered, "delivered"))
        pending = eventually(lambda: callback(closed, "pending"))

        replay = f"{service.url}/deliveries/{{}}/replay"
        other = httpx.post(replay.format(done), headers=OTHER)
        assert other.status_code == 403 and other.json()["error"]
        still = httpx.post(replay.format(pending), headers=OWNER)
        assert still.status_code == 409 and "still being tried" in still.json()["error"]

        own = httpx.post(replay.format(done), headers=OWNER)
        assert own.status_code == 202, own.text
        assert httpx.post(replay.format(done), headers=admin).status_code == 202
        assert len(hook.wait_for(3)) == 3  # the first send and both replays, nothing else


def test_a_callback_password_is_never_shown(start_service: StartService, database: str) -> None:
    service = start_service(database)
    with receiver() as hook:
        secret_url = hook.url.replace("http://", "http://pipeline:s3cr3t-pw@")
        approval_id = submit(service, OWNER, webhookUrl=secret_url)
        shown = read(service, approval_id)
        assert shown["callbackUrl"] == hook.url.replace("http://", "http://pipeline:***@")
        listed = httpx.get(f"{service.url}/api/approvals", headers=REVIEWER).text
        assert "s3cr3t-pw" not in listed

        httpx.post(
            f"{service.url}/api/approvals/{approval_id}/decision",
            json={"decision": "approve"},
            headers=REVIEWER,
        ).raise_for_status()
        (received,) = hook.wait_for(1)
        assert received.headers["authorization"].startswith("Basic ")  # still sent with it
        callbacks = httpx.get(
            f"{service.url}/api/approvals/{approval_id}/callbacks", headers=REVIEWER
        )
        assert "s3cr3t-pw" not in callbacks.text and "pipeline:***@" in callbacks.text

        with httpx.Client(base_url=service.url, follow_redirects=True) as browser:
            signin = browser.get("/signin")
            csrf = signin.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            browser.post("/signin", data={"token": REVIEWER_TOKEN, "csrf": csrf})
            page = browser.get(f"/review/{approval_id}")
            assert page.status_code == 200 and approval_id in page.text
            assert "s3cr3t-pw" not in page.text
