"""The suspended wait: a deployed flow run frees its process while it waits and is
resumed, with the decision as run input, by the signed callback through the receiver."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import uvicorn
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.settings import get_current_settings

from signoff.client import ApprovalsClient
from signoff.models import ApprovalStatus
from signoff.server.process import ServiceProcess, free_port
from signoff.signing import sign
from signoff_prefect import SignoffCredentials
from signoff_prefect.receiver import create_app
from signoff_prefect.suspend import ApprovalDecision, pause_key
from tests.conftest import API_KEY, REVIEWER, REVIEWER_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).parents[2]
DEADLINE = 240.0  # generous: a loaded 2-core machine; nothing is asserted about speed


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    """The receiver on a loopback port, talking to the test harness's Prefect API."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(SIGNING_SECRET), host="127.0.0.1", port=port, log_level="warning")
    )
    context = contextvars.copy_context()  # carries the harness's PREFECT_API_URL
    thread = threading.Thread(target=context.run, args=(server.run,), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    """``flow.serve`` in its own process: what a user's deployment runs on."""
    env = {
        **os.environ,
        **{
            k: v
            for k, v in get_current_settings().to_environment_variables(exclude_unset=True).items()
            if v is not None
        },
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PYTHONPATH": str(ROOT),
    }
    log = open(tmp_path_factory.mktemp("runner") / "runner.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "tests/prefect/suspended_flow.py", "test"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def approval_reads(service: ServiceProcess) -> int:
    """How many reads and waits the service has answered, from its /metrics."""
    text = httpx.get(f"{service.url}/metrics", headers={"x-api-key": API_KEY}).text
    total = 0
    for line in text.splitlines():
        if 'route="/api/approvals/{approval_id}"' in line and 'method="GET"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
        if 'route="/api/approvals/wait"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def wait_for_state(flow_run_id: UUID, *names: str) -> FlowRun:
    deadline = time.monotonic() + DEADLINE
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.name in names:
                return run
            assert time.monotonic() < deadline, f"flow run stuck in {run.state}"
            await asyncio.sleep(0.2)


async def run_input_of(flow_run_id: UUID, approval_id: str) -> ApprovalDecision:
    """The decision the receiver resumed the run with (Prefect keeps the run input)."""
    async with get_client() as client:
        stored = await client.read_flow_run_input(
            flow_run_id, f"suspended-{pause_key(approval_id)}-response"
        )
    return ApprovalDecision.model_validate_json(stored)


async def wait_for_deployment() -> None:
    deadline = time.monotonic() + DEADLINE
    async with get_client() as client:
        while True:
            try:
                await client.read_deployment_by_name("suspended-refund/test")
                return
            except Exception:
                assert time.monotonic() < deadline, "the runner never registered its deployment"
                await asyncio.sleep(0.2)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_suspended_flow_frees_its_process_and_resumes_with_the_decision(
    service: ServiceProcess,
    receiver_url: str,
    runner: subprocess.Popen[bytes],
    tmp_path: Path,
    decision: str,
) -> None:
    action = f"prefect_suspended_{decision}"
    SignoffCredentials(base_url=service.url, api_key=API_KEY).save("suspend-test", overwrite=True)
    runs_log = tmp_path / "runs.log"

    async def scenario() -> tuple[FlowRun, int, int]:
        await wait_for_deployment()
        started = await run_deployment(
            "suspended-refund/test",
            parameters={
                "credentials_block": "suspend-test",
                "receiver_url": receiver_url,
                "amount": 120.0,
                "runs_log": str(runs_log),
                "action": action,
                "options": ["refund_full", "refund_partial"],
            },
            timeout=0,
        )
        suspended = await wait_for_state(started.id, "Suspended")
        # The process that executed the run has exited: the infrastructure is free.
        pid = int(runs_log.read_text().split()[1])
        deadline = time.monotonic() + DEADLINE
        while alive(pid):
            assert time.monotonic() < deadline, f"flow run process {pid} is still running"
            await asyncio.sleep(0.1)
        reads_while_suspended = approval_reads(service)
        await asyncio.sleep(2)  # a window in which any poller would have shown up
        reads_before_decision = approval_reads(service)
        with ApprovalsClient(service.url, api_key=API_KEY, reviewer_token=REVIEWER_TOKEN) as c:
            pending = [
                a for a in c.list(ApprovalStatus.PENDING, limit=500).data if a.action == action
            ]
            assert len(pending) == 1
            assert pending[0].callback_url == f"{receiver_url}/flow-runs/{suspended.id}"
            if decision == "approve":
                c.approve(
                    pending[0].id,
                    modified_details={"amount": 90.0},
                    note="cap it",
                    chosen_options=["refund_partial"],
                )
            else:
                c.reject(pending[0].id, note="not this one")
        decided = time.time()
        finished = await wait_for_state(started.id, "Completed", "Failed", "Crashed")
        async with get_client() as client:  # a measurement, printed (not asserted)
            for state in await client.read_flow_run_states(started.id):
                if state.timestamp.timestamp() >= decided - 1:
                    lag = state.timestamp.timestamp() - decided
                    print(f"decision +{lag:5.2f}s  {state.name}")
        return finished, reads_while_suspended, reads_before_decision

    finished, reads_while_suspended, reads_before_decision = asyncio.run(scenario())
    assert reads_before_decision == reads_while_suspended  # nothing polled while suspended
    # Executed twice (before the suspend, after the resume) yet asked once.
    assert runs_log.read_text().count("started") == 2
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        mine = [a for a in client.list(limit=500).data if a.action == action]
        assert len(mine) == 1 and mine[0].is_decided
        deliveries = client.callbacks(mine[0].id)
    assert deliveries and deliveries[0].state == "delivered"
    assert finished.state is not None
    if decision == "reject":
        assert finished.state.name == "Failed", finished.state
        # The core's outcome exceptions do not survive pickling (see the report), so the
        # persisted exception is read through the state's message, not state.result().
        assert "ApprovalRejected" in str(finished.state.message)
        assert "not this one" in str(finished.state.message)
        return
    assert finished.state.name == "Completed", finished.state
    result = finished.state.result()  # persisted by the run's process, read back here
    assert result["approved"] is True and result["details"] == {"amount": 90.0}
    assert result["decided_by"] == REVIEWER and result["note"] == "cap it"
    assert result["approval_id"] == mine[0].id
    assert result["chosen_options"] == ["refund_partial"]  # what the flow branches on
    resumed_with = asyncio.run(run_input_of(finished.id, mine[0].id))
    assert resumed_with.chosen_options == ["refund_partial"]


def test_receiver_refuses_unsigned_and_forged_callbacks(receiver_url: str) -> None:
    body = b'{"approvalId": "req_x", "status": "approved", "modifiedDetails": null,'
    body += b' "decisionNote": null, "details": {}}'
    url = f"{receiver_url}/flow-runs/00000000-0000-0000-0000-000000000000"
    assert httpx.post(url, content=body).status_code == 401
    forged = sign(body, "not-the-secret")
    assert httpx.post(url, content=body, headers={"X-Signoff-Signature": forged}).status_code == 401
    genuine = sign(body, SIGNING_SECRET)
    answer = httpx.post(url, content=body, headers={"X-Signoff-Signature": genuine})
    assert answer.status_code == 410  # signed, but no such flow run: the service stops
