"""``signoff policies`` against the real service: validate, plan, apply, show and test
with their exit codes (0 nothing to change, 2 changes, 1 error), the service's problems
on the file's lines, and an API key or a reviewer token refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from signoff.client import ApprovalsClient, AsyncPoliciesClient, InvalidRequest, Problem
from signoff.policies import loads
from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, API_KEY, REVIEWER_TOKEN, StartService

POLICIES = """\
groups:
  finance:
    members: [bob, carol]
  leads:
    members: [dana]
policies:
  - name: small-refunds
    when: action == "refund" && details.amount < 50
    decide: approve
    note: Refunds under $50 need nobody.
  - name: big-refunds
    when: action == "refund" && details.amount > 10000
    groups: [finance]
    required_approvals: 2
    sla: {within: 30m, escalate_to: [leads]}
"""

REORDERED = """\
groups:
  finance:
    members: [bob, carol, erin]
policies:
  - name: big-refunds
    when: action == "refund" && details.amount > 10000
    groups: [finance]
    required_approvals: 2
  - name: small-refunds
    when: action == "refund" && details.amount < 50
    decide: approve
    note: Refunds under $50 need nobody.
"""


def signoff(
    *args: str, service: ServiceProcess | None, admin_key: str | None = ADMIN_KEY
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    env["COLUMNS"] = "200"
    if service is not None:
        env["SIGNOFF_URL"] = service.url
    if admin_key is not None:
        env["SIGNOFF_ADMIN_KEY"] = admin_key
    return subprocess.run(
        [sys.executable, "-m", "signoff", "policies", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def write(tmp_path: Path, text: str, name: str = "policies.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_validate_plan_apply_show_round_trip(start_service: StartService, tmp_path: Path) -> None:
    service = start_service()
    path = write(tmp_path, POLICIES)

    shown = signoff("show", service=service)
    assert (shown.returncode, shown.stdout.strip()) == (
        0,
        "no policy applied yet (signoff policies apply FILE)",
    )
    assert json.loads(signoff("show", "--json", service=service).stdout) is None

    valid = signoff("validate", path, service=service)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.strip() == f"{path}: valid (2 policies, 2 groups)"
    as_json = signoff("validate", path, "--json", service=service)
    assert json.loads(as_json.stdout) == {"valid": True, "policies": 2, "groups": 2}

    plan = signoff("plan", path, service=service)
    assert plan.returncode == 2, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0] == f"{path} against {service.url} (nothing applied yet)"
    assert "  + group finance: add" in lines and "  + policy small-refunds: add" in lines
    assert "      required_approvals: 2" in lines
    assert lines[-1] == "Plan: 4 to add."
    planned = json.loads(signoff("plan", path, "--json", service=service).stdout)
    assert planned["version"] is None and planned["changed"] is True
    assert {(c["op"], c["kind"], c["name"]) for c in planned["changes"]} == {
        ("add", "group", "finance"),
        ("add", "group", "leads"),
        ("add", "policy", "small-refunds"),
        ("add", "policy", "big-refunds"),
    }

    applied = signoff("apply", path, service=service)
    assert applied.returncode == 2, applied.stderr
    assert applied.stdout.splitlines()[-1] == "Applied: version 1 is active (4 added)."
    again = signoff("apply", path, service=service)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"{path} against {service.url} (version 1, unchanged)",
        "No changes: the active policy matches the file.",
    ]
    settled = signoff("plan", path, service=service)
    assert settled.returncode == 0 and "No changes" in settled.stdout

    shown = signoff("show", service=service)
    assert shown.returncode == 0, shown.stderr
    first, _, rest = shown.stdout.partition("\n")
    assert first.startswith("version 1, applied 20") and first.endswith(" by admin")
    assert yaml.safe_load(rest) == loads(POLICIES).document()
    active = json.loads(signoff("show", "--json", service=service).stdout)
    assert active["version"] == 1 and active["createdBy"] == "admin"
    assert active["document"] == loads(POLICIES).document()

    # a changed group, a policy moved (order decides), one removed
    path = write(tmp_path, REORDERED)
    plan = signoff("plan", path, service=service)
    assert plan.returncode == 2, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0] == f"{path} against {service.url} (active version 1)"
    assert "  ~ group finance: change" in lines
    assert '      members: ["bob", "carol"] -> ["bob", "carol", "erin"]' in lines
    assert "  - group leads: remove" in lines
    assert "  ~ policy big-refunds: change" in lines  # its sla left
    assert any(line.startswith("      sla: {") and "-> (unset)" in line for line in lines)
    assert "  > policy small-refunds: move" in lines and "      position: 1 -> 2" in lines
    assert lines[-1] == "Plan: 2 to change, 1 to remove, 1 to move."
    applied = signoff("apply", path, "--json", service=service)
    assert applied.returncode == 2, applied.stderr
    assert json.loads(applied.stdout)["version"] == 2
    assert json.loads(signoff("show", "--json", service=service).stdout)["version"] == 2


def test_test_replays_history_against_a_draft(start_service: StartService, tmp_path: Path) -> None:
    service = start_service()
    assert signoff("apply", write(tmp_path, POLICIES), service=service).returncode == 2
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        small = client.create("refund", "Refund 12", {"amount": 12})
        medium = client.create("refund", "Refund 300", {"amount": 300})
        big = client.create("refund", "Refund 20000", {"amount": 20000})
        assert client.get(small.id).auto_decided  # decided at once by small-refunds
        assert [client.get(a.id).status.value for a in (medium, big)] == ["PENDING"] * 2

    same = signoff("test", write(tmp_path, POLICIES, "same.yaml"), "--since", "1d", service=service)
    assert same.returncode == 0, same.stderr  # the active policy again: nothing differs
    assert "0 of 3 would have been handled differently." in same.stdout

    draft = write(tmp_path, POLICIES.replace("amount < 50", "amount < 500"), "draft.yaml")
    tested = signoff("test", draft, "--since", "30d", service=service)
    assert tested.returncode == 2, tested.stderr
    assert f"{draft}: 3 approvals since" in tested.stdout
    row = next(line for line in tested.stdout.splitlines() if "small-refunds" in line)
    # matched, auto-approved, auto-rejected, routed, changed, errors
    assert [cell.strip() for cell in row.split("│")[2:8]] == ["2", "2", "0", "0", "1", "0"]
    assert medium.id in row
    assert "0 matched no rule; 1 of 3 would have been handled differently." in tested.stdout

    report = json.loads(signoff("test", draft, "--since", "12h", "--json", service=service).stdout)
    rules = {rule["name"]: rule for rule in report["rules"]}
    assert report["approvals"] == 3 and report["changed"] == 1
    assert rules["small-refunds"]["autoApproved"] == 2
    assert rules["small-refunds"]["examples"] == [medium.id]
    assert rules["big-refunds"]["routed"] == 1 and rules["big-refunds"]["changed"] == 0

    limited = json.loads(
        signoff("test", draft, "--since", "1h", "--limit", "1", "--json", service=service).stdout
    )
    assert limited["approvals"] == 1
    for bad in ("30 days", "400d", "0s"):
        refused = signoff("test", draft, "--since", bad, service=service)
        assert refused.returncode == 1 and "--since" in refused.stderr


def test_a_cel_syntax_error_is_shown_on_its_line(service: ServiceProcess, tmp_path: Path) -> None:
    broken = POLICIES.replace("details.amount > 10000", "details.amount >")
    path = write(tmp_path, broken)
    line = line_of(broken, "details.amount >")
    for command in ("validate", "plan", "apply", "test"):
        refused = signoff(command, path, service=service)
        assert refused.returncode == 1, (command, refused.stdout)
        assert refused.stderr.startswith(f"error: the service refused {path} (HTTP 422)\n")
        assert f"\n{path}:{line}: policies.1.when: not a valid CEL expression" in refused.stderr
        assert refused.stdout == ""

    unknown = POLICIES.replace("escalate_to: [leads]", "escalate_to: [nobody-has-this]")
    refused = signoff("plan", write(tmp_path, unknown, "unknown.yaml"), service=service)
    assert refused.returncode == 1
    assert (
        f"{tmp_path / 'unknown.yaml'}:{line_of(unknown, 'name: big-refunds')}: policies.1: "
        "no group named nobody-has-this"
    ) in refused.stderr


def test_the_async_client_reads_the_services_problems(service: ServiceProcess) -> None:
    async def run() -> None:
        async with AsyncPoliciesClient(service.url, admin_key=ADMIN_KEY) as client:
            valid = await client.validate(loads(POLICIES))
            assert (valid.policies, valid.groups) == (2, 2)
            broken = loads(POLICIES.replace("&&", "&& &&")).document()
            with pytest.raises(InvalidRequest) as caught:
                await client.plan(broken)
            assert [p.field for p in caught.value.problems] == [
                "policies.0.when",
                "policies.1.when",
            ]
            assert isinstance(caught.value.problems[0], Problem)

    asyncio.run(run())


def test_file_problems_are_found_without_the_service(tmp_path: Path) -> None:
    """Nothing listens on port 1: what is wrong with the file is said before any call."""
    bad = POLICIES.replace("    decide: approve", "    decide: approve\n    groups: [finance]")
    path = write(tmp_path, bad)
    for command in ("validate", "plan", "apply", "test"):
        refused = signoff(command, path, "--url", "http://127.0.0.1:1", service=None)
        assert refused.returncode == 1
        assert refused.stderr.splitlines() == [
            "invalid policy file",
            f"{path}:{line_of(bad, 'small-refunds')}: policies.0: decide: a policy that "
            "decides does not also route or set an sla",
        ]
    missing = signoff("plan", str(tmp_path / "nope.yaml"), service=None)
    assert missing.returncode == 1 and "nope.yaml: cannot read" in missing.stderr
    twice = write(tmp_path, POLICIES.replace("  leads:", "  finance:"), "twice.yaml")
    refused = signoff("validate", twice, "--offline", service=None)
    assert refused.returncode == 1 and f"{twice}:4: groups.finance: given twice" in refused.stderr

    offline = signoff("validate", write(tmp_path, POLICIES, "ok.yaml"), "--offline", service=None)
    assert offline.returncode == 0, offline.stderr
    assert "valid shape (2 policies, 2 groups; conditions not compiled)" in offline.stdout
    unreachable = signoff(
        "validate", str(tmp_path / "ok.yaml"), "--url", "http://127.0.0.1:1", service=None
    )
    assert unreachable.returncode == 1 and unreachable.stderr.startswith(
        "error: POST http://127.0.0.1:1/"
    )
    usage = signoff("plan", service=None)  # click's usage errors exit 1 here: 2 means changes
    assert usage.returncode == 1 and "Missing argument 'FILE'" in usage.stderr


@pytest.mark.parametrize(
    ("key", "status", "hint"),
    [
        (API_KEY, "HTTP 403", "an API key or a reviewer token cannot manage policies"),
        (REVIEWER_TOKEN, "HTTP 403", "an API key or a reviewer token cannot manage policies"),
        ("not-a-key", "HTTP 401", "check the admin key (--api-key or SIGNOFF_ADMIN_KEY)"),
    ],
)
def test_only_an_admin_key_manages_policies(
    service: ServiceProcess, tmp_path: Path, key: str, status: str, hint: str
) -> None:
    path = write(tmp_path, POLICIES)
    for args in (("apply", path), ("plan", path), ("show",), ("test", path)):
        refused = signoff(*args, "--api-key", key, service=service)
        assert refused.returncode == 1, args
        assert status in refused.stderr and hint in refused.stderr
        assert key not in refused.stdout + refused.stderr
    nobody = signoff("show", service=service, admin_key=None)
    assert nobody.returncode == 1
    assert "an admin key is needed: --api-key or SIGNOFF_ADMIN_KEY" in nobody.stderr
