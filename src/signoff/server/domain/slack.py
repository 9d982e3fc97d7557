"""A click in Slack: the Approve / Reject buttons of signoff's Slack app messages.

Slack posts each click to ``/slack/interactions`` (the router checks Slack's signature
first). Here the Slack user becomes a reviewer, by the email of their Slack profile
(``users.info``; matched case-insensitively against reviewers' emails), and decides
through :func:`approvals.review`, under every rule a decision made anywhere else obeys.
A refusal is told to that user alone (an ephemeral message). The message everyone sees
is not touched here: once the approval is decided, whoever or whatever decided it,
``notifications.decided`` queues its update through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

from signoff.models import Approval, DecisionRequest
from signoff.server.delivery import messages
from signoff.server.domain import approvals, eligibility
from signoff.server.domain.errors import AlreadyDecided, DomainError, Invalid
from signoff.server.services import Services
from signoff.server.store.credentials import Principal

log = logging.getLogger(__name__)

ACTIONS: dict[str, Literal["approve", "reject"]] = {
    messages.APPROVE_ACTION: "approve",
    messages.REJECT_ACTION: "reject",
}
"""The buttons that decide; any other action (the Open link's) is acknowledged and ignored."""

Outcome = Literal["ignored", "decided", "recorded", "refused"]


class Refused(Exception):
    """What the clicking user is told, and nothing was decided."""


@dataclass(frozen=True)
class Click:
    user: str
    """The Slack user id (``U0123``)."""
    decision: Literal["approve", "reject"]
    approval_id: str
    channel: str | None


def click_of(payload: dict[str, Any]) -> Click | None:
    """The decision a ``block_actions`` payload asks for; ``None`` for anything else."""
    if payload.get("type") != "block_actions":
        return None
    user, actions = payload.get("user"), payload.get("actions")
    if not isinstance(user, dict) or not isinstance(actions, list) or not actions:
        return None
    action = actions[0]
    if not isinstance(action, dict):
        return None
    decision = ACTIONS.get(str(action.get("action_id")))
    user_id, value = user.get("id"), action.get("value")
    if decision is None or not isinstance(user_id, str) or not isinstance(value, str):
        return None
    channel = payload.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    if not isinstance(channel_id, str):
        container = payload.get("container")
        found = container.get("channel_id") if isinstance(container, dict) else None
        channel_id = found if isinstance(found, str) else None
    return Click(user_id, decision, value, channel_id)


async def interact(services: Services, payload: dict[str, Any]) -> Outcome:
    """Act on one interaction whose signature was verified: decide as the reviewer whose
    email the Slack user has, or tell that user why not. What happened, for the log."""
    click = click_of(payload)
    if click is None:
        return "ignored"
    try:
        name = await reviewer_of(services, click.user)
        approval = await approvals.review(
            services,
            click.approval_id,
            DecisionRequest(decision=click.decision),
            Principal(kind="reviewer", name=name),
        )
    except Refused as exc:
        await tell(services, click, str(exc))
        return "refused"
    except AlreadyDecided as exc:
        said = messages.outcome(exc.approval)  # "Approved by bob", as the message now reads
        await tell(services, click, f"This approval was already decided: {said}.")
        return "refused"
    except Invalid as exc:  # options or a reason to pick: the page has the form for them
        await tell(services, click, f"{exc.message}. Open the review page to decide.")
        return "refused"
    except DomainError as exc:  # not eligible, approved twice, no such approval...
        await tell(services, click, exc.message)
        return "refused"
    if approval.is_decided:
        return "decided"  # the message itself is updated through the outbox
    await tell(services, click, progress(approval, name))
    return "recorded"


async def reviewer_of(services: Services, user_id: str) -> str:
    """The name of the reviewer whose email the Slack user's profile shows."""
    from slack_sdk.errors import SlackClientError

    try:
        answer = await services.worker.notifier.slack().users_info(user=user_id)
    except SlackClientError as exc:
        log.warning("Slack users.info for %s failed: %s", user_id, exc)
        raise Refused(f"signoff could not read your Slack profile ({_said(exc)})") from None
    except _unreachable() as exc:
        log.warning("Slack users.info for %s failed: %s", user_id, exc)
        raise Refused("signoff could not reach Slack to read your profile; try again") from None
    user = answer.get("user")
    profile = user.get("profile") if isinstance(user, dict) else None
    email = profile.get("email") if isinstance(profile, dict) else None
    if not isinstance(email, str) or not email.strip():
        raise Refused(
            "signoff cannot see the email of your Slack profile (the app needs the "
            "users:read.email scope), so it cannot tell which reviewer you are"
        )
    wanted = email.strip().casefold()
    found = [r for r in await services.reviewers.all() if (r.email or "").casefold() == wanted]
    if not found:
        raise Refused(f"no signoff reviewer has the email {email.strip()}")
    active = [r for r in found if r.active] or found  # a deactivated one: review says so
    if len(active) > 1:
        names = ", ".join(sorted(r.name for r in active))
        raise Refused(
            f"several signoff reviewers have the email {email.strip()} ({names}); "
            "an operator must leave it to one of them"
        )
    return active[0].name


def progress(approval: Approval, name: str) -> str:
    """What a counted approve that did not conclude tells its reviewer."""
    step = eligibility.open_step(approval)
    counted = len({a.reviewer for a in step.approvals if a.counted})
    where = f"step {step.number} of {len(approval.steps)}" if len(approval.steps) > 1 else "it"
    if any(a.reviewer == name and a.counted for a in step.approvals):
        return (
            f"Your approval is recorded; {where} has {counted} of "
            f"{step.required_approvals} approvals."
        )
    return f"Your approval is recorded; {where} now waits for other approvers."


async def tell(services: Services, click: Click, text: str) -> None:
    """An ephemeral message to the clicking user (best effort: never fails the click)."""
    from slack_sdk.errors import SlackClientError

    if click.channel is None:
        log.warning("cannot tell Slack user %s (no channel): %s", click.user, text)
        return
    failures: tuple[type[BaseException], ...] = (SlackClientError, *_unreachable())
    try:
        await services.worker.notifier.slack().chat_postEphemeral(
            channel=click.channel, user=click.user, text=text
        )
    except failures as exc:
        log.warning("Slack chat.postEphemeral to %s failed: %s", click.user, exc)


def _unreachable() -> tuple[type[BaseException], ...]:
    """What a Web API call raises when Slack cannot be reached or hangs up (aiohttp's
    errors are not all ``OSError``s)."""
    import aiohttp

    return (aiohttp.ClientError, OSError, asyncio.TimeoutError)


def _said(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    error = response.get("error") if response is not None else None
    return f"Slack answered {error}" if error else type(exc).__name__
