"""signoff's Slack app against the real service and a local stand-in for Slack (Slack
itself cannot be reached from here): a group's approval posted to its channel with
Approve / Reject buttons, a click deciding as the reviewer with that Slack user's email
(the message then updated with the outcome), refusals told to the clicking user alone,
Slack's request signatures enforced, and Slack's refusal shown on the notification."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, API_KEY, StartService, launcher
from tests.slack_standin import (
    BOT_TOKEN,
    SIGNING_SECRET,
    Call,
    SlackStandIn,
    click,
    interaction,
    post_interaction,
    signature,
    slack_standin,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
PIPELINE = {"x-api-key": API_KEY}
APPROVE, REJECT, OPEN = "signoff_approve", "signoff_reject", "signoff_open"

REVIEWERS = {
    "bob": "bob@example.com",
    "carol": "Carol@Example.com",
    "olga": "olga@example.com",  # a reviewer, but not in finance
}
SLACK_USERS: dict[str, str | None] = {
    "U0BOB": "bob@example.com",
    "U0CAROL": "carol@example.COM",  # the case differs from the reviewer's: still carol
    "U0OLGA": "olga@example.com",
    "U0STRANGER": "stranger@example.com",
    "U0HIDDEN": None,  # the app cannot see this profile's email
}
POLICY = {
    "groups": {"finance": {"members": ["bob", "carol"], "notify": ["slack-app:#finance"]}},
    "policies": [
        {
            "name": "big-refunds",
            "when": 'action == "big_refund"',
            "groups": ["finance"],
            "required_approvals": 2,
        },
        {"name": "refunds", "when": 'action == "refund_batch"', "groups": ["finance"]},
    ],
}


def slack_flags(standin: SlackStandIn, token: str = BOT_TOKEN) -> list[str]:
    return [
        "--slack-bot-token",
        token,
        "--slack-signing-secret",
        SIGNING_SECRET,
        "--slack-api-url",
        standin.api_url,
    ]


def set_up(url: str) -> None:
    """The finance policy applied and its reviewers made, each with their email."""
    applied = httpx.put(f"{url}/api/policies", json={"document": POLICY}, headers=ADMIN)
    assert applied.status_code == 200, applied.text
    for name, email in REVIEWERS.items():
        made = httpx.post(
            f"{url}/api/reviewers", json={"name": name, "email": email}, headers=ADMIN
        )
        assert made.status_code == 201, made.text


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandIn]:
    with slack_standin(SLACK_USERS, channels=("general", "finance")) as slack:
        yield slack


@pytest.fixture(scope="module")
def slack_service(
    tmp_path_factory: pytest.TempPathFactory, standin: SlackStandIn
) -> Iterator[ServiceProcess]:
    with launcher(tmp_path_factory.mktemp("slack")) as start:
        service = start(None, *slack_flags(standin))
        set_up(service.url)
        yield service


def submit(url: str, action: str = "refund_batch", **fields: Any) -> str:
    body = {"action": action, "summary": "Refunds for March", "details": {"amount": 120}}
    made = httpx.post(f"{url}/api/approvals/request", json={**body, **fields}, headers=PIPELINE)
    assert made.status_code == 201, made.text
    approval_id: str = made.json()["id"]
    return approval_id


def read(url: str, approval_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/approvals/{approval_id}", headers=PIPELINE)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def actions_of(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])]


def asks_about(approval_id: str) -> Any:
    def match(call: Call) -> bool:
        return any(e.get("value") == approval_id for e in actions_of(call.args.get("blocks", [])))

    return match


def posted(standin: SlackStandIn, approval_id: str) -> Call:
    """The message asking about the approval, once the service has posted it."""
    call = standin.wait_for_call("chat.postMessage", asks_about(approval_id))
    assert call is not None, f"nothing posted about {approval_id}"
    assert call.answer["ok"] is True
    return call


def updated(standin: SlackStandIn, message: Call) -> Call:
    channel, ts = message.answer["channel"], message.answer["ts"]
    call = standin.wait_for_call(
        "chat.update", lambda c: c.args.get("channel") == channel and c.args.get("ts") == ts
    )
    assert call is not None, "the message was not updated"
    return call


def press(
    service: ServiceProcess, message: Call, user: str, action: str, approval_id: str
) -> httpx.Response:
    answer = click(
        service.url,
        SIGNING_SECRET,
        user,
        action,
        approval_id,
        message.answer["channel"],
        message.answer["ts"],
    )
    assert answer.status_code == 200, answer.text
    return answer


def told(standin: SlackStandIn, user: str) -> list[str]:
    """What the user was told alone (ephemeral messages), oldest first."""
    return [
        c.args["text"] for c in standin.calls_of("chat.postEphemeral") if c.args.get("user") == user
    ]


def test_a_click_approves_as_the_reviewer_with_that_email_and_the_message_says_so(
    slack_service: ServiceProcess, standin: SlackStandIn
) -> None:
    approval_id = submit(slack_service.url)
    message = posted(standin, approval_id)
    assert message.token == BOT_TOKEN
    assert message.args["channel"] == "#finance"
    assert message.answer["channel"] == standin.channels["finance"]
    assert "Refunds for March" in message.args["text"]
    buttons = {e["action_id"]: e for e in actions_of(message.args["blocks"])}
    assert set(buttons) == {APPROVE, REJECT, OPEN}
    assert buttons[APPROVE]["value"] == buttons[REJECT]["value"] == approval_id
    assert buttons[APPROVE]["text"]["text"] == "Approve"
    assert buttons[REJECT]["text"]["text"] == "Reject"
    assert buttons[OPEN]["url"].endswith(f"/review/{approval_id}")
    before = len(told(standin, "U0BOB"))

    press(slack_service, message, "U0BOB", APPROVE, approval_id)

    approval = read(slack_service.url, approval_id)
    assert approval["status"] == "APPROVED"
    assert approval["decidedBy"] == "bob"
    assert [a["reviewer"] for a in approval["approvals"]] == ["bob"]
    assert len(told(standin, "U0BOB")) == before  # the decider is told by the message
    update = updated(standin, message)
    assert update.answer["ok"] is True
    assert "Approved by bob" in update.args["text"]
    assert actions_of(update.args["blocks"]) == []  # the buttons are gone
    shown = standin.messages[(message.answer["channel"], message.answer["ts"])]
    assert "Approved by bob" in shown["text"] and actions_of(shown["blocks"]) == []

    # A click on the old buttons afterwards (another client had not refreshed): told why.
    press(slack_service, message, "U0CAROL", APPROVE, approval_id)
    said = told(standin, "U0CAROL")[-1]
    assert "already decided" in said and "Approved by bob" in said
    after = read(slack_service.url, approval_id)
    assert after["decidedBy"] == "bob" and len(after["approvals"]) == 1
    updates = [c for c in standin.calls_of("chat.update") if c.args["ts"] == message.answer["ts"]]
    assert len(updates) == 1


def test_who_may_not_decide_is_told_alone_and_nothing_is_decided(
    slack_service: ServiceProcess, standin: SlackStandIn
) -> None:
    approval_id = submit(slack_service.url, requestedBy="carol@example.com")
    message = posted(standin, approval_id)

    press(slack_service, message, "U0STRANGER", APPROVE, approval_id)
    assert told(standin, "U0STRANGER")[-1] == (
        "no signoff reviewer has the email stranger@example.com"
    )
    press(slack_service, message, "U0OLGA", REJECT, approval_id)
    said = told(standin, "U0OLGA")[-1]
    assert "olga may not decide this approval" in said and "group finance" in said
    press(slack_service, message, "U0CAROL", APPROVE, approval_id)  # she asked for it
    assert "carol requested this approval" in told(standin, "U0CAROL")[-1]
    press(slack_service, message, "U0HIDDEN", APPROVE, approval_id)
    assert "users:read.email" in told(standin, "U0HIDDEN")[-1]
    ephemeral = [
        c
        for c in standin.calls_of("chat.postEphemeral")
        if c.args["user"] in ("U0STRANGER", "U0OLGA", "U0CAROL", "U0HIDDEN")
    ]
    assert {c.args["channel"] for c in ephemeral} == {message.answer["channel"]}
    assert all(c.answer["ok"] for c in ephemeral)

    # The Open button is a link; Slack reports its click too: acknowledged, ignored.
    calls = len(standin.calls)
    press(slack_service, message, "U0BOB", OPEN, approval_id)
    assert len(standin.calls) == calls

    approval = read(slack_service.url, approval_id)
    assert approval["status"] == "PENDING" and approval["approvals"] == []

    press(slack_service, message, "U0BOB", REJECT, approval_id)
    approval = read(slack_service.url, approval_id)
    assert approval["status"] == "REJECTED" and approval["decidedBy"] == "bob"
    assert "Rejected by bob" in updated(standin, message).args["text"]


def test_an_approve_that_does_not_conclude_is_recorded_and_said(
    slack_service: ServiceProcess, standin: SlackStandIn
) -> None:
    approval_id = submit(slack_service.url, action="big_refund")
    message = posted(standin, approval_id)

    press(slack_service, message, "U0BOB", APPROVE, approval_id)
    assert told(standin, "U0BOB")[-1] == "Your approval is recorded; it has 1 of 2 approvals."
    press(slack_service, message, "U0BOB", APPROVE, approval_id)
    assert told(standin, "U0BOB")[-1] == "bob has already approved this approval"
    assert read(slack_service.url, approval_id)["status"] == "PENDING"

    press(slack_service, message, "U0CAROL", APPROVE, approval_id)
    approval = read(slack_service.url, approval_id)
    assert approval["status"] == "APPROVED" and approval["decidedBy"] == "carol"
    assert [a["reviewer"] for a in approval["approvals"]] == ["bob", "carol"]
    assert "Approved by carol" in updated(standin, message).args["text"]


def test_requests_slack_did_not_sign_now_are_refused_and_decide_nothing(
    slack_service: ServiceProcess, standin: SlackStandIn
) -> None:
    approval_id = submit(slack_service.url)
    message = posted(standin, approval_id)
    channel, ts = message.answer["channel"], message.answer["ts"]
    payload = interaction("U0BOB", APPROVE, approval_id, channel, ts)
    lookups = len(standin.calls_of("users.info"))
    stale = int(time.time()) - 6 * 60

    refused = [
        post_interaction(
            slack_service.url, payload, SIGNING_SECRET, signature_header="v0=" + "0" * 64
        ),
        post_interaction(slack_service.url, payload, "another-apps-secret"),
        post_interaction(slack_service.url, payload, SIGNING_SECRET, timestamp=stale),  # replayed
        post_interaction(slack_service.url, payload, None),  # no signature at all
        post_interaction(
            slack_service.url, payload, SIGNING_SECRET, signature_header="v0=", timestamp=None
        ),
    ]
    body = b"payload=%7B%7D"
    for headers in (
        {
            "X-Slack-Request-Timestamp": "soon",
            "X-Slack-Signature": signature(SIGNING_SECRET, "soon", body),
        },
        {"X-Slack-Signature": signature(SIGNING_SECRET, str(int(time.time())), body)},
    ):
        refused.append(
            httpx.post(
                f"{slack_service.url}/slack/interactions",
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            )
        )
    for answer in refused:
        assert answer.status_code == 401, answer.text
        assert "signed" in answer.json()["error"]

    assert read(slack_service.url, approval_id)["status"] == "PENDING"
    assert len(standin.calls_of("users.info")) == lookups  # nothing was read as a click

    # Signed, but not Slack's form: 400 (and still nothing decided).
    stamp = str(int(time.time()))
    for junk in (b"payload=not-json", b"nothing=here", b"payload=%5B1%5D"):
        answer = httpx.post(
            f"{slack_service.url}/slack/interactions",
            content=junk,
            headers={
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature(SIGNING_SECRET, stamp, junk),
            },
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]
    # Another kind of interaction, or an action signoff does not know: acknowledged only.
    other = {**payload, "type": "view_submission"}
    assert post_interaction(slack_service.url, other, SIGNING_SECRET).status_code == 200
    unknown = interaction("U0BOB", "somebody_elses_button", approval_id, channel, ts)
    assert post_interaction(slack_service.url, unknown, SIGNING_SECRET).status_code == 200
    assert read(slack_service.url, approval_id)["status"] == "PENDING"

    press(slack_service, message, "U0BOB", APPROVE, approval_id)  # the real one still works
    assert read(slack_service.url, approval_id)["decidedBy"] == "bob"


def test_slack_refusing_the_bot_token_shows_on_the_notification(
    start_service: StartService, standin: SlackStandIn
) -> None:
    service = start_service(None, *slack_flags(standin, token="xoxb-revoked"))
    set_up(service.url)
    approval_id = submit(service.url)
    url = f"{service.url}/api/approvals/{approval_id}/notifications"
    deadline = time.monotonic() + 30
    while True:
        found = httpx.get(url, headers=PIPELINE).json()["data"]
        if (found and found[0]["state"] != "pending") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(found) == 1, found
    notification = found[0]
    assert notification["kind"] == "slack" and notification["to"] == "#finance"
    assert notification["group"] == "finance"
    assert notification["state"] == "failed"
    assert notification["attempts"][-1]["error"] == "Slack answered invalid_auth"
    refused = [c for c in standin.calls_of("chat.postMessage") if c.token == "xoxb-revoked"]
    assert refused and refused[0].answer == {"ok": False, "error": "invalid_auth"}


def test_without_a_signing_secret_there_is_no_slack_endpoint(
    start_service: StartService, standin: SlackStandIn
) -> None:
    service = start_service()
    answer = click(service.url, SIGNING_SECRET, "U0BOB", APPROVE, "req_x", "C1", "1.2")
    assert answer.status_code == 404
    assert "Slack app mode is off" in answer.json()["error"]
