"""``signoff reviewers``, ``signoff groups`` and deciding with options, reason codes and
steps from the command line, against the real service (as tests/server/test_cli.py)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time

import pytest

from signoff.client import (
    ApprovalsClient,
    AsyncReviewersClient,
    InvalidRequest,
    NotFound,
    ReviewersClient,
    Unauthorized,
)
from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, API_KEY, REVIEWER, REVIEWER_TOKEN, StartService
from tests.receiver import receiver

_serial = itertools.count()


def unique(name: str) -> str:
    """The module shares one service: every test names its own reviewers."""
    return f"{name}{os.getpid()}-{next(_serial)}"


def signoff(
    *args: str,
    service: ServiceProcess,
    admin_key: str | None = ADMIN_KEY,
    reviewer_token: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    env["COLUMNS"] = "200"
    env["SIGNOFF_URL"] = service.url
    env["SIGNOFF_API_KEY"] = API_KEY  # what the approvals commands read with
    if admin_key is not None:
        env["SIGNOFF_ADMIN_KEY"] = admin_key
    if reviewer_token is not None:
        env["SIGNOFF_REVIEWER_TOKEN"] = reviewer_token
    return subprocess.run(
        [sys.executable, "-m", "signoff", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def add(service: ServiceProcess, name: str, *options: str) -> str:
    """``signoff reviewers add``; the token it prints once."""
    added = signoff("reviewers", "add", name, *options, service=service)
    assert added.returncode == 0, added.stderr
    label, token = added.stdout.strip().splitlines()[-2:]
    assert label == f"reviewer token for {name} (shown once, store it now):"
    return token


def test_add_prints_a_token_once_that_decides(service: ServiceProcess) -> None:
    name = unique("bob")
    group = unique("finance")
    added = signoff(
        "reviewers", "add", name, "--email", "bob@example.com", "--group", group, service=service
    )
    assert added.returncode == 0, added.stderr
    lines = added.stdout.strip().splitlines()
    assert lines[0] == f"added reviewer {name} <bob@example.com>, {group}"
    assert lines[1] == f"reviewer token for {name} (shown once, store it now):"
    token = lines[2]
    assert token.startswith("so_rev_") and len(lines) == 3
    assert ADMIN_KEY not in added.stdout + added.stderr

    listed = signoff("reviewers", "list", service=service)
    as_json = signoff("reviewers", "list", "--json", service=service)
    assert token not in listed.stdout + as_json.stdout  # shown once means once

    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = client.create("refund", "Refund batch", {"n": 3}, groups=[group])
    refused = signoff(
        "approvals", "approve", created.id, service=service, reviewer_token=REVIEWER_TOKEN
    )
    assert refused.returncode == 1 and "403" in refused.stderr  # alice is not in the group
    approved = signoff("approvals", "approve", created.id, service=service, reviewer_token=token)
    assert approved.returncode == 0, approved.stderr
    assert f"approved {created.id} as {name}" in approved.stdout


def test_list_set_groups_and_groups_list(service: ServiceProcess) -> None:
    name = unique("carol")
    ops, audit, finance = unique("ops"), unique("audit"), unique("finance")
    add(service, name, "--group", ops)

    changed = signoff("reviewers", "set-groups", name, finance, audit, service=service)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == f"{name}: {', '.join(sorted([audit, finance]))}"

    listed = json.loads(signoff("reviewers", "list", "--json", service=service).stdout)
    by_name = {r["name"]: r for r in listed}
    assert by_name[name]["groups"] == sorted([audit, finance])
    assert by_name[name]["active"] is True and by_name[name]["configured"] is False
    assert by_name[REVIEWER]["configured"] is True  # --reviewer-token alice=..., no record

    table = signoff("reviewers", "list", service=service)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if name in line)
    assert "audit" in row and "finance" in row and "yes" in row
    alice = next(line for line in table.stdout.splitlines() if f" {REVIEWER} " in line)
    assert alice.count("yes") == 2  # active, configured

    groups = json.loads(signoff("groups", "list", "--json", service=service).stdout)
    members = {g["name"]: g["members"] for g in groups}
    assert name in members[finance] and name in members[audit] and ops not in members
    shown = signoff("groups", "list", service=service)
    assert shown.returncode == 0 and finance in shown.stdout

    bare = signoff("reviewers", "set-groups", name, service=service)
    assert bare.returncode == 2 and "--none" in bare.stderr
    both = signoff("reviewers", "set-groups", name, ops, "--none", service=service)
    assert both.returncode == 2 and "not both" in both.stderr
    cleared = signoff("reviewers", "set-groups", name, "--none", service=service)
    assert cleared.returncode == 0 and cleared.stdout.strip() == f"{name}: no groups"
    with ReviewersClient(service.url, admin_key=ADMIN_KEY) as admin:
        assert admin.get(name).groups == []
        assert finance not in {g.name for g in admin.groups()}


def test_removed_reviewer_token_stops_working(service: ServiceProcess) -> None:
    name = unique("dave")
    token = add(service, name)
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = client.create("a", "s")

    removed = signoff("reviewers", "remove", name, service=service)
    assert removed.returncode == 0, removed.stderr
    assert f"removed reviewer {name}" in removed.stdout
    assert "--reviewer-token" not in removed.stdout  # a stored token: revoked, no caveat

    with ApprovalsClient(service.url, reviewer_token=token) as reviewer:
        with pytest.raises(Unauthorized) as refused:
            reviewer.approve(created.id)
    assert refused.value.status_code == 401
    cli = signoff("approvals", "approve", created.id, service=service, reviewer_token=token)
    assert cli.returncode == 1 and "401" in cli.stderr

    listed = json.loads(signoff("reviewers", "list", "--json", service=service).stdout)
    assert {r["name"]: r["active"] for r in listed}[name] is False
    again = signoff("reviewers", "add", name, service=service)  # the name stays taken
    assert again.returncode == 1 and "already exists" in again.stderr and "409" in again.stderr


def test_removing_a_configured_reviewer_says_their_flag_still_authenticates(
    start_service: StartService,
) -> None:
    service = start_service()
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = client.create("a", "s")
    removed = signoff("reviewers", "remove", REVIEWER, service=service)
    assert removed.returncode == 0, removed.stderr
    assert "--reviewer-token still authenticates" in removed.stdout
    refused = signoff(
        "approvals", "approve", created.id, service=service, reviewer_token=REVIEWER_TOKEN
    )
    assert refused.returncode == 1 and "403" in refused.stderr


REFUSED = [
    (API_KEY, ("reviewers", "add", "mallory", "--group", "finance")),
    (API_KEY, ("reviewers", "set-groups", REVIEWER, "finance")),
    (REVIEWER_TOKEN, ("reviewers", "set-groups", REVIEWER, "finance")),
    (REVIEWER_TOKEN, ("reviewers", "remove", REVIEWER)),
    (API_KEY, ("groups", "list")),
]


@pytest.mark.parametrize(
    ("key", "args"),
    REFUSED,
    ids=[
        f"{'api key' if k == API_KEY else 'reviewer token'}: {' '.join(a[:2])}" for k, a in REFUSED
    ],
)
def test_an_api_key_or_reviewer_token_is_refused(
    service: ServiceProcess, key: str, args: tuple[str, ...]
) -> None:
    """Nobody who asks for approvals or decides them may choose who decides."""
    result = signoff(*args, "--api-key", key, service=service, admin_key=None)
    assert result.returncode == 1, result.stdout
    assert "this call needs an admin key (HTTP 403)" in result.stderr
    assert "SIGNOFF_ADMIN_KEY" in result.stderr  # says what to give instead
    assert key not in result.stdout + result.stderr
    assert not result.stdout
    with ReviewersClient(service.url, admin_key=ADMIN_KEY) as admin:
        alice = admin.get(REVIEWER)
        assert alice.active and "finance" not in alice.groups
        assert "mallory" not in {r.name for r in admin.list()}


def test_a_missing_or_wrong_admin_key(service: ServiceProcess) -> None:
    missing = signoff("reviewers", "list", service=service, admin_key=None)
    assert missing.returncode == 2 and "--api-key" in missing.stderr
    wrong = signoff("groups", "list", service=service, admin_key="not-a-key")
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr
    assert "not-a-key" not in wrong.stderr


def test_readable_errors(service: ServiceProcess) -> None:
    name = unique("erin")
    add(service, name)
    exists = signoff("reviewers", "add", name, service=service)
    assert exists.returncode == 1
    assert f"reviewer {name} already exists (HTTP 409)" in exists.stderr

    bad_name = signoff("reviewers", "add", "no spaces", service=service)
    assert bad_name.returncode == 1 and "name: 'no spaces' is not a name" in bad_name.stderr
    assert "Traceback" not in bad_name.stderr
    bad_group = signoff("reviewers", "set-groups", name, "-x", service=service)
    assert bad_group.returncode == 2  # click reads it as an option: refused before sending
    bad_email = signoff("reviewers", "add", unique("frank"), "--email", "nope", service=service)
    assert bad_email.returncode == 1 and "email" in bad_email.stderr

    for args in (
        ("reviewers", "remove", "nobody-at-all"),
        ("reviewers", "set-groups", "nobody-at-all", "finance"),
    ):
        unknown = signoff(*args, service=service)
        assert unknown.returncode == 1
        assert "no reviewer with id 'nobody-at-all' (HTTP 404)" in unknown.stderr

    spaced = signoff("reviewers", "set-groups", name, "finance", "no spaces", service=service)
    assert spaced.returncode == 1 and "groups.1: 'no spaces' is not a name" in spaced.stderr
    # The service's own 422 (nothing the client checks) is an InvalidRequest with its words.
    with ReviewersClient(service.url, admin_key=ADMIN_KEY) as admin:
        with pytest.raises(InvalidRequest, match="give email, groups, notify or active"):
            admin.update(name)


def test_notify_targets_added_shown_masked_replaced_and_cleared(service: ServiceProcess) -> None:
    """``--notify`` on add and ``set-notify`` later: the service is told at exactly those
    targets (a real Apprise json:// POST), and shows them with their secrets masked."""
    name, group = unique("hana"), unique("ops")
    with receiver() as hook:
        secret = f"json://hook:s3cret-pw@127.0.0.1:{hook.port}/first"
        masked = f"json://hook:****@127.0.0.1:{hook.port}/first"
        added = signoff(
            "reviewers", "add", name, "--email", "hana@example.com", "--group", group,
            "--notify", secret, service=service,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert added.stdout.splitlines()[0] == (
            f"added reviewer {name} <hana@example.com>, {group}, told at {masked}"
        )
        table = signoff("reviewers", "list", service=service)
        row = next(line for line in table.stdout.splitlines() if name in line)
        assert masked in row
        listed = json.loads(signoff("reviewers", "list", "--json", service=service).stdout)
        assert {r["name"]: r["notify"] for r in listed}[name] == [masked]
        assert "s3cret-pw" not in added.stdout + table.stdout + json.dumps(listed)

        with ApprovalsClient(service.url, api_key=API_KEY) as client:
            first = client.create("rotate", "Rotate keys", groups=[group])
        (posted,) = hook.wait_for(1)
        assert posted.path == "/first"
        assert json.loads(posted.body)["title"] == "[signoff] Approval needed: Rotate keys"

        second = f"json://127.0.0.1:{hook.port}/second"
        third = f"json://127.0.0.1:{hook.port}/third"
        replaced = signoff("reviewers", "set-notify", name, second, third, service=service)
        assert replaced.returncode == 0, replaced.stderr
        assert replaced.stdout.strip() == f"{name}: {second}, {third}"
        with ApprovalsClient(service.url, api_key=API_KEY) as client:
            client.create("rotate", "Rotate again", groups=[group])
        received = hook.wait_for(3)
        assert sorted(r.path for r in received[1:]) == ["/second", "/third"]

        cleared = signoff("reviewers", "set-notify", name, "--none", service=service)
        assert cleared.returncode == 0 and cleared.stdout.strip() == f"{name}: no chat targets"
        with ApprovalsClient(service.url, api_key=API_KEY) as client:
            last = client.create("rotate", "Rotate once more", groups=[group])
            time.sleep(1)  # a send to a cleared target would have happened by now
        assert len(hook.received) == 3
    with ReviewersClient(service.url, admin_key=ADMIN_KEY) as admin:
        kept = admin.get(name)
        assert kept.notify == [] and kept.email == "hana@example.com" and kept.groups == [group]
        assert admin.update(name, notify=[second]).notify == [second]  # the client, alike
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        assert client.get(first.id).status.value == "PENDING"
        assert client.get(last.id).status.value == "PENDING"

    bare = signoff("reviewers", "set-notify", name, service=service)
    assert bare.returncode == 2 and "--none" in bare.stderr
    both = signoff("reviewers", "set-notify", name, second, "--none", service=service)
    assert both.returncode == 2 and "not both" in both.stderr


def test_notify_targets_the_service_cannot_send_to_are_refused(service: ServiceProcess) -> None:
    name = unique("ivan")
    unknown = signoff("reviewers", "add", name, "--notify", "nope://x", service=service)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert "nope:// is not a notification URL Apprise knows" in unknown.stderr
    assert "(HTTP 422)" in unknown.stderr
    shape = signoff("reviewers", "add", name, "--notify", "not a target", service=service)
    assert shape.returncode == 1  # refused before sending: the shape of a target
    assert "notify.0: 'not a target' is not a notification target" in shape.stderr
    email = signoff("reviewers", "add", name, "--notify", "ivan@example.com", service=service)
    assert email.returncode == 1 and "give it as the email (HTTP 422)" in email.stderr
    with ReviewersClient(service.url, admin_key=ADMIN_KEY) as admin:
        assert name not in {r.name for r in admin.list()}  # nothing was added

    add(service, name)
    later = signoff("reviewers", "set-notify", name, "json://ok/x", "nope://x", service=service)
    assert later.returncode == 1 and "nope://" in later.stderr and "(HTTP 422)" in later.stderr
    unknown_name = signoff(
        "reviewers", "set-notify", "nobody-at-all", "json://h/x", service=service
    )
    assert unknown_name.returncode == 1 and "(HTTP 404)" in unknown_name.stderr
    with ReviewersClient(service.url, admin_key=ADMIN_KEY) as admin:
        assert admin.get(name).notify == []  # all or nothing
        with pytest.raises(ValueError, match="is not a notification target"):
            admin.add(unique("ivo"), notify=["not a target"])
        with pytest.raises(InvalidRequest, match="nope://"):
            admin.add(unique("ivo"), notify=["nope://x"])


def test_approve_with_options_and_a_reason_code(service: ServiceProcess) -> None:
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        one = client.create(
            "backfill", "Backfill", options=["full", "partial"], reason_codes=["ok", "risky"]
        )
        several = client.create(
            "notify", "Notify", options=["email", "slack", "page"], multiple=True
        )

        wrong = signoff(
            "approvals", "approve", one.id, "--option", "nope", service=service,
            reviewer_token=REVIEWER_TOKEN,
        )  # fmt: skip
        assert wrong.returncode == 1 and "422" in wrong.stderr and "Traceback" not in wrong.stderr

        approved = signoff(
            "approvals", "approve", one.id, "--option", "partial", "--reason-code", "ok",
            service=service, reviewer_token=REVIEWER_TOKEN,
        )  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        assert f"approved {one.id} as {REVIEWER} (chose partial)" in approved.stdout
        decided = client.get(one.id)
        assert decided.chosen_options == ["partial"] and decided.reason_code == "ok"

        shown = signoff("approvals", "show", one.id, service=service)
        assert shown.returncode == 0, shown.stderr
        assert _row(shown.stdout, "options") == "full, partial (one)"
        assert _row(shown.stdout, "chosen options") == "partial"
        assert _row(shown.stdout, "reason code") == "ok"

        picked = signoff(
            "approvals", "approve", several.id, "--option", "email", "--option", "page",
            service=service, reviewer_token=REVIEWER_TOKEN,
        )  # fmt: skip
        assert picked.returncode == 0, picked.stderr
        assert client.get(several.id).chosen_options == ["email", "page"]


def test_reject_with_a_reason_code(service: ServiceProcess) -> None:
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = client.create("refund", "Refund", reason_codes=["duplicate", "fraud"])
        rejected = signoff(
            "approvals", "reject", created.id, "--reason-code", "duplicate", "--note", "seen it",
            service=service, reviewer_token=REVIEWER_TOKEN,
        )  # fmt: skip
        assert rejected.returncode == 0, rejected.stderr
        assert f"rejected {created.id} as {REVIEWER} (duplicate)" in rejected.stdout
        decided = client.get(created.id)
    assert decided.status.value == "REJECTED" and decided.reason_code == "duplicate"
    assert decided.decision_note == "seen it"
    shown = signoff("approvals", "show", created.id, service=service)
    assert _row(shown.stdout, "reason code") == "duplicate"


def test_a_two_step_chain_decided_from_the_cli(service: ServiceProcess) -> None:
    """A lead, then 2 finance reviewers; the requester is shown; progress after each."""
    finance = unique("finance")
    first, second = unique("fin-a"), unique("fin-b")
    tokens = {name: add(service, name, "--group", finance) for name in (first, second)}
    with ApprovalsClient(service.url, api_key=API_KEY) as client:
        created = client.create(
            "refund_batch",
            "Refund batch",
            steps=[{"reviewers": [REVIEWER]}, {"groups": [finance], "requiredApprovals": 2}],
            requested_by="requester-zed",
        )

    shown = signoff("approvals", "show", created.id, service=service)
    assert shown.returncode == 0, shown.stderr
    assert _row(shown.stdout, "requested by") == "requester-zed"
    assert _step(shown.stdout, "1/2") == [REVIEWER, "0 of 1", "-", "open"]
    assert _step(shown.stdout, "2/2") == [f"group {finance}", "0 of 2", "-", "waiting"]

    lead = signoff(
        "approvals", "approve", created.id, service=service, reviewer_token=REVIEWER_TOKEN
    )
    assert lead.returncode == 0, lead.stderr
    assert (
        f"approval counted on {created.id} as {REVIEWER}; now at step 2 of 2, "
        "0 of 2 approvals; still pending"
    ) in lead.stdout
    one = signoff("approvals", "approve", created.id, service=service, reviewer_token=tokens[first])
    assert one.returncode == 0, one.stderr
    assert "1 of 2 approvals; still pending" in one.stdout
    two = signoff(
        "approvals", "approve", created.id, service=service, reviewer_token=tokens[second]
    )
    assert two.returncode == 0, two.stderr
    assert f"approved {created.id} as {second}" in two.stdout

    done = signoff("approvals", "show", created.id, service=service)
    assert _row(done.stdout, "status") == "APPROVED"
    assert _step(done.stdout, "1/2") == [REVIEWER, "1 of 1", REVIEWER, "done"]
    assert _step(done.stdout, "2/2") == [f"group {finance}", "2 of 2", f"{first}, {second}", "done"]


def test_the_async_client_does_the_same(service: ServiceProcess) -> None:
    """One implementation: the async client adds, updates, lists and removes alike."""
    name, group = unique("gina"), unique("ops")

    async def go() -> None:
        async with AsyncReviewersClient(service.url, admin_key=ADMIN_KEY) as admin:
            created = await admin.add(name, email="gina@example.com")
            assert created.token.startswith("so_rev_") and created.groups == []
            updated = await admin.update(name, groups=[group])
            assert updated.groups == [group] and updated.email == "gina@example.com"
            told = await admin.update(name, notify=["json://u:pw@chat.example.com/gina"])
            assert told.notify == ["json://u:****@chat.example.com/gina"]
            assert told.groups == [group]
            assert (await admin.update(name, notify=[])).notify == []
            other = await admin.add(unique("gil"), notify=("json://chat.example.com/gil",))
            assert other.notify == ["json://chat.example.com/gil"]
            cleared = await admin.update(name, {"email": None})
            assert cleared.email is None and cleared.groups == [group]
            assert {g.name: g.members for g in await admin.groups()}[group] == [name]
            assert (await admin.remove(name)).active is False
            assert not (await admin.get(name)).active
            assert name in {r.name for r in await admin.list()}
            with pytest.raises(NotFound):
                await admin.get(unique("nobody"))

    asyncio.run(go())


def _row(output: str, name: str) -> str:
    """The value of one ``name  value`` row of ``approvals show``."""
    for line in output.splitlines():
        if line.strip().startswith(name + "  "):
            return line.strip()[len(name) :].strip()
    raise AssertionError(f"no {name!r} row in:\n{output}")


def _step(output: str, number: str) -> list[str]:
    """The cells after the step number of one row of the steps table."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == number:
            return cells[1:]
    raise AssertionError(f"no step {number} in:\n{output}")
