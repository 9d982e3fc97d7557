"""The ``signoff`` command as an operator uses it, against the real service."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from cheqpoint import CheqpointClient

from signoff.client import ApprovalsClient
from signoff.server.process import ServiceProcess, free_port
from tests.conftest import API_KEY, REVIEWER, REVIEWER_TOKEN


def signoff(
    *args: str, service: ServiceProcess | None = None, token: bool = True, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    env["COLUMNS"] = str(columns)
    if service is not None:
        env["SIGNOFF_URL"] = service.url
        env["SIGNOFF_API_KEY"] = API_KEY
        if token:
            env["SIGNOFF_REVIEWER_TOKEN"] = REVIEWER_TOKEN
    return subprocess.run(
        [sys.executable, "-m", "signoff", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_list_show_and_json(service: ServiceProcess) -> None:
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = client.create("deploy_prod", "Deploy v42", {"version": 42}, risk_level="critical")
    listed = signoff("approvals", "list", "--status", "pending", service=service)
    assert listed.returncode == 0, listed.stderr
    assert created.id in listed.stdout and "critical" in listed.stdout
    as_json = json.loads(signoff("approvals", "list", "--json", service=service).stdout)
    assert created.id in {a["id"] for a in as_json}
    shown = signoff("approvals", "show", created.id, service=service)
    assert shown.returncode == 0
    assert "Deploy v42" in shown.stdout and '"version": 42' in shown.stdout


def test_ids_are_never_cut_in_a_narrow_terminal(service: ServiceProcess) -> None:
    """An id in a table is there to be copied: in 80 columns the other cells give way."""
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = [
            client.create(
                "deploy_the_payments_service_to_every_region",
                f"Deploy version {n} of the payments service to all regions, with a long note",
                risk_level="critical",
            ).id
            for n in range(3)
        ]
    listed = signoff("approvals", "list", service=service, columns=80)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    shown = set(re.findall(r"\b(req_\w+)", listed.stdout))
    assert set(created) <= shown
    assert all(len(i) == len(created[0]) for i in shown)  # none cut short
    assert "req_…" not in listed.stdout


def test_approve_with_edits_reaches_the_official_sdk(service: ServiceProcess) -> None:
    """The README promise: the SDK's checkpoint() returns what the reviewer edited."""
    sdk = CheqpointClient(api_key=API_KEY, base_url=service.url)
    result: dict = {}
    waiter = threading.Thread(
        target=lambda: result.update(
            r=sdk.checkpoint(
                action="cli_refund", summary="Refund", details={"amount": 120}, poll_interval=0.2
            )
        )
    )
    waiter.start()
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        for _ in range(200):
            pending = [a for a in client.list().data if a.action == "cli_refund"]
            if pending:
                break
            time.sleep(0.05)
    approved = signoff(
        "approvals",
        "approve",
        pending[0].id,
        "--details",
        '{"amount": 100}',
        "--note",
        "partial",
        service=service,
    )
    assert approved.returncode == 0, approved.stderr
    assert f"approved {pending[0].id} as {REVIEWER}" in approved.stdout
    waiter.join(30)
    assert result["r"].modified_details == {"amount": 100}
    assert result["r"].response_notes == "partial"


def test_reject_and_errors(service: ServiceProcess, tmp_path: Path) -> None:
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = client.create("a", "s")
    rejected = signoff("approvals", "reject", created.id, "--note", "no", service=service)
    assert rejected.returncode == 0 and "rejected" in rejected.stdout

    again = signoff("approvals", "approve", created.id, service=service)
    assert again.returncode == 1
    assert "already REJECTED" in again.stderr and "409" in again.stderr

    unknown = signoff("approvals", "show", "req_nope", service=service)
    assert unknown.returncode == 1 and "no approval with id 'req_nope'" in unknown.stderr

    bad_json = signoff("approvals", "approve", created.id, "--details", "{oops", service=service)
    assert bad_json.returncode == 2 and "not valid JSON" in bad_json.stderr

    no_token = signoff("approvals", "approve", created.id, service=service, token=False)
    assert no_token.returncode == 1 and "reviewer token" in no_token.stderr

    down = signoff("approvals", "list", "--url", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "error" in down.stderr


def test_serve_creates_keys_once_and_prints_them_once(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    cmd = [
        sys.executable,
        "-m",
        "signoff",
        "serve",
        "--port",
        str(port),
        "--database-url",
        f"sqlite:///{tmp_path / 'keys.db'}",
    ]

    def run_once() -> str:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
        finally:
            proc.terminate()
            output, _ = proc.communicate(timeout=20)
        return output.decode()

    first = run_once()
    api_key = first.split("created API key (shown once): ")[1].split()[0]
    token = first.split("created reviewer token (shown once): ")[1].split()[0]
    assert api_key.startswith("so_live_") and token.startswith("so_rev_")
    second = run_once()
    assert "shown once" not in second
    assert api_key not in second

    with (
        ServiceProcess(
            database_url=f"sqlite:///{tmp_path / 'keys.db'}", api_keys=[], reviewer_tokens=[]
        ) as service,
        ApprovalsClient(service.url, api_key=api_key, reviewer_token=token) as client,
    ):
        created = client.create("a", "s")
        assert client.approve(created.id).decided_by == "reviewer"


def test_serve_refuses_a_bad_database_url() -> None:
    result = signoff("serve", "--database-url", "mysql://localhost/x")
    assert result.returncode == 2
    assert "unsupported database 'mysql'" in result.stderr


def test_demo_walks_one_approval_through() -> None:
    result = signoff("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "APPROVED by alice" in result.stdout
    assert '"amount": 100.0' in result.stdout


def test_webhooks_and_workflows_commands(service: ServiceProcess) -> None:
    from signoff.client import WebhooksClient, WorkflowsClient
    from tests.conftest import CKO_SECRET_KEY
    from tests.receiver import receiver

    with receiver() as hook:
        with WebhooksClient(service.url, secret_key=CKO_SECRET_KEY) as hooks:
            webhook = hooks.create(
                {
                    "url": hook.url,
                    "event_types": ["payment_approved"],
                    "headers": {"Authorization": "s3cret"},
                }
            )
        with WorkflowsClient(service.url, secret_key=CKO_SECRET_KEY) as flows:
            workflow = flows.create(
                {"name": "cli flow", "actions": [{"type": "webhook", "url": hook.url}]}
            )

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return signoff(*args, "--url", service.url, "--api-key", CKO_SECRET_KEY)

        listed = run("webhooks", "list")
        assert listed.returncode == 0 and webhook.id in listed.stdout
        shown = run("webhooks", "show", webhook.id)
        assert "payment_approved" in shown.stdout and "s3cret" not in shown.stdout
        tested = run("webhooks", "test", webhook.id, "--event-type", "payment_captured")
        assert tested.returncode == 0
        assert run("workflows", "list").stdout.count(workflow.id) == 1
        assert "cli flow" in run("workflows", "show", workflow.id).stdout
        assert run("workflows", "test", workflow.id, "--event-type", "dispute_won").returncode == 0
        received = hook.wait_for(2)
        assert {json.loads(r.body)["type"] for r in received} == {"payment_captured", "dispute_won"}

        missing = run("workflows", "show", "wf_nope")
        assert missing.returncode == 1 and "no workflow with id 'wf_nope'" in missing.stderr
        bad = run("webhooks", "test", webhook.id, "--event-type", "nope")
        assert bad.returncode == 1 and "unknown event type" in bad.stderr


def test_one_version_everywhere(service: ServiceProcess) -> None:
    """The installed distribution's version: the CLI, /healthz and the OpenAPI document."""
    from importlib.metadata import version

    from signoff._version import __version__

    assert __version__ == version("signoff")
    shown = signoff("--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"signoff, version {__version__}"
    assert httpx.get(f"{service.url}/healthz").json()["version"] == __version__
    assert httpx.get(f"{service.url}/openapi.json").json()["info"]["version"] == __version__
