"""Telling people: who hears of an approval, when, and what each message carries.

An approval *opens* for someone when it is created, when its next step opens, and when
its SLA is breached (the escalation groups may decide from then on); each of those, and
every reminder, tells the reviewers it waits for (by their email and their own chat
targets, each with their own signed decision links) and the groups' shared targets (the
review link only: a channel is not a reviewer). Once decided, everyone told hears who
decided. Every message is a row in the outbox, written in the transaction that causes
it: retried, logged, and never lost to a crash.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from signoff.models import Approval, DeliveryAttempt
from signoff.models.notifications import Notification
from signoff.server.delivery import messages
from signoff.server.delivery.targets import Target, mask_target, target_of
from signoff.server.domain import eligibility, links
from signoff.server.services import Services
from signoff.server.store import outbox
from signoff.server.store.kinds import DeliveryKind, DeliveryState
from signoff.server.store.reviewers import ReviewerRecord

log = logging.getLogger(__name__)

OPENED = ("requested", "step", "escalated", "reminder")


@dataclass(frozen=True)
class Recipient:
    target: Target
    reviewer: str | None = None
    """Set for a reviewer's own target: the message carries their decision links."""
    group: str | None = None


def sendable(services: Services, target: Target) -> bool:
    """Targets whose channel the operator set up (no ``--smtp-url``: no email)."""
    if target.kind is DeliveryKind.EMAIL:
        return services.settings.smtp_url is not None
    if target.kind is DeliveryKind.SLACK:
        return services.settings.slack_bot_token is not None
    return True


async def audience(
    services: Services, approval: Approval, conn: AsyncConnection | None = None
) -> list[Recipient]:
    """Whom an approval waits for now, each target once: reviewers who may decide it and
    whose approve would still count (never its requester), then the shared targets of
    the groups its open step (and, once breached, its escalation) names."""
    compiled = services.policies.compiled
    step = eligibility.open_step(approval)
    records = await services.reviewers.all(conn)
    found: dict[str, Recipient] = {}
    for record in records:
        record = replace(record, groups=record.groups | compiled.groups_of(record.name))
        if not _waits_for(approval, record):
            continue
        own = [record.email] if record.email else []
        for value in (*own, *record.notify):
            _add(found, services, value, reviewer=record.name)
    groups = list(step.groups)
    if approval.sla_breached_at is not None:
        groups += [g for g in approval.escalated_groups if g not in groups]
    for group in groups:
        spec = compiled.file.groups.get(group)
        for value in spec.notify if spec else []:
            _add(found, services, value, group=group)
    if approval.sla_breached_at is not None and approval.policy_rule:
        rule = next((r for r in compiled.rules if r.spec.name == approval.policy_rule), None)
        for value in rule.spec.sla.notify if rule and rule.spec.sla else []:
            _add(found, services, value, group=None)
    return list(found.values())


def _waits_for(approval: Approval, record: ReviewerRecord) -> bool:
    if not record.active or eligibility.refusal(approval, record) is not None:
        return False
    if eligibility.already_approved(approval, record.name):
        return False
    return eligibility.open_step(approval).is_open_to_all or eligibility.is_waiting_for(
        approval, record
    )


def _add(
    found: dict[str, Recipient],
    services: Services,
    value: str,
    reviewer: str | None = None,
    group: str | None = None,
) -> None:
    try:
        target = target_of(value)
    except ValueError:  # stored before this version checked it: skip, never fail
        log.warning("skipping a notification target that is not one: %s", mask_target(value))
        return
    if sendable(services, target) and target.url not in found:
        found[target.url] = Recipient(target, reviewer, group)


async def opened(conn: AsyncConnection, services: Services, approval: Approval, reason: str) -> int:
    """Tell everyone the approval now waits for (``reason``: one of :data:`OPENED`), in
    the caller's transaction; how many messages were queued."""
    recipients = await audience(services, approval, conn)
    review_url = approval.review_url or f"{services.settings.base_url}/review/{approval.id}"
    queued = []
    for recipient in recipients:
        link = links.make(services, approval, recipient.reviewer) if recipient.reviewer else None
        message = messages.opened(
            approval, reason, review_url, link, recipient.reviewer, recipient.group
        )
        queued.append(_row(recipient, message))
    return await outbox.enqueue_many(conn, approval.id, queued)


async def decided(conn: AsyncConnection, services: Services, approval: Approval) -> int:
    """Tell everyone told before who decided (the decider's own targets excepted); a
    Slack app message is updated in place, its buttons replaced by the outcome."""
    told = await outbox.notifications_of(conn, approval.id)
    review_url = approval.review_url or f"{services.settings.base_url}/review/{approval.id}"
    seen: set[str] = set()
    queued = []
    for sent in told:
        meta = _meta(sent.payload)
        if sent.url in seen or meta.get("reason") == "decided":
            continue
        seen.add(sent.url)
        reviewer = meta.get("reviewer")
        if reviewer and reviewer == approval.decided_by:
            continue
        try:
            target = target_of(sent.url)
        except ValueError:
            continue
        message = messages.decided(approval, review_url, update=sent.posted)
        recipient = Recipient(target, reviewer if isinstance(reviewer, str) else None)
        queued.append(_row(recipient, message))
    return await outbox.enqueue_many(conn, approval.id, queued)


def _meta(payload: str) -> dict[str, Any]:
    try:
        found = json.loads(payload)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _row(recipient: Recipient, message: dict[str, Any]) -> tuple[DeliveryKind, str, str]:
    """The outbox row of one message: its kind, the target's URL, the stored payload."""
    body = {
        **message,
        "to": recipient.target.address,
        "reviewer": recipient.reviewer,
        "group": recipient.group,
    }
    return recipient.target.kind, recipient.target.url, json.dumps(body, separators=(",", ":"))


def remind_at(services: Services, now: datetime | None = None) -> datetime | None:
    """When the reviewers of an approval that opened ``now`` are reminded (``None``: off)."""
    every = services.settings.remind_after
    if every <= 0:
        return None
    return (now or datetime.now(timezone.utc)) + timedelta(seconds=every)


async def listing(services: Services, approval_id: str) -> list[Notification]:
    """What the approval's notifications did, oldest first (the review page, the API)."""
    found = []
    for row, attempts in await services.outbox.notifications_for(approval_id):
        meta = _meta(row["payload"])
        pending = row["state"] == DeliveryState.PENDING.value
        found.append(
            Notification(
                id=row["id"],
                kind=row["kind"],
                to=mask_target(row["url"]),
                reviewer=_text(meta.get("reviewer")),
                group=_text(meta.get("group")),
                reason=_text(meta.get("reason")) or "requested",
                state=row["state"],
                attempt_count=row["attempt_count"],
                next_attempt_at=row["next_attempt_at"] if pending else None,
                created_at=row["created_at"],
                attempts=[
                    DeliveryAttempt(
                        attempted_at=a["attempted_at"],
                        status_code=a["status_code"],
                        error=a["error"],
                        duration_ms=a["duration_ms"],
                    )
                    for a in attempts
                ],
            )
        )
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
