"""Admin keys, revocable reviewer sessions, ``next`` after sign-in, failed-key limits and
keys read from files, all against the real ``signoff serve``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import HTTPException

from signoff.server.auth import admin
from signoff.server.process import ServiceProcess
from signoff.server.store.credentials import Principal
from tests.conftest import API_KEY, StartService


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    return subprocess.run(
        [sys.executable, "-m", "signoff", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def eventually(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def create_approval(service: ServiceProcess, key: str = API_KEY) -> httpx.Response:
    return httpx.post(
        f"{service.url}/api/approvals/request",
        json={"action": "sessions", "summary": "check"},
        headers={"x-api-key": key},
    )


# -- admin keys -------------------------------------------------------------------------


def test_admin_key_may_do_what_an_api_key_may_but_not_decide(
    start_service: StartService, database_url: str | None, tmp_path: Any
) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'signoff.db'}"
    service = start_service(url)
    made = run_cli("keys", "create", "--database-url", url, "--kind", "admin", "--name", "ops")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("so_adm_") and "created admin key" in made.stdout
    listed = run_cli("keys", "list", "--database-url", url)
    assert "admin" in listed.stdout and key not in listed.stdout

    # A running service loads it within seconds, as it does any stored key.
    created = eventually(lambda: (r := create_approval(service, key)).status_code == 201 and r)
    assert created, "the admin key was never accepted"
    approval_id = created.json()["id"]
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{service.url}/webhooks", headers=auth).status_code in (200, 204)
    read = httpx.get(f"{service.url}/api/approvals/{approval_id}", headers=auth)
    assert read.status_code == 200 and read.json()["status"] == "PENDING"
    decided = httpx.post(
        f"{service.url}/api/approvals/{approval_id}/decision",
        json={"decision": "approve"},
        headers=auth,
    )
    assert decided.status_code == 403 and decided.json()["error"]


def test_admin_caller_refuses_every_other_kind() -> None:
    for kind in ("api", "reviewer"):
        with pytest.raises(HTTPException) as refused:
            asyncio.run(admin(Principal(kind, "someone")))  # type: ignore[arg-type]
        assert refused.value.status_code == 403
    assert asyncio.run(admin(Principal("admin", "ops"))) == Principal("admin", "ops")
