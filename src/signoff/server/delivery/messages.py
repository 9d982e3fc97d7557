"""How a notification reads: the subject, a plain-text and an HTML body, and Slack blocks.

Composed once, when the notification is queued, and stored with it: what the outbox
sends (and retries) is exactly what was decided to say. Every value a requester wrote
(summary, justification) is escaped in the HTML and in Slack's mrkdwn.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from jinja2 import Environment, PackageLoader

from signoff.models import Approval, ApprovalStatus, DecisionReason

SUBJECTS = {
    "requested": "Approval needed",
    "step": "Approval needed (next step)",
    "escalated": "SLA breached: approval still waiting",
    "reminder": "Reminder: approval still waiting",
}

APPROVE_ACTION = "signoff_approve"
REJECT_ACTION = "signoff_reject"
"""``action_id`` of the Slack buttons; their ``value`` is the approval id."""

_TEMPLATES = Environment(
    loader=PackageLoader("signoff.server.delivery", "templates"), autoescape=True
)


def time_left(expires_at: datetime | None, now: datetime | None = None) -> str:
    """``3 h 20 min`` (``expired`` once past)."""
    if expires_at is None:
        return "no deadline"
    seconds = int((expires_at - (now or datetime.now(timezone.utc))).total_seconds())
    if seconds <= 0:
        return "expired"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not days and not hours else rest // 60
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "",
             f"{minutes} min" if minutes and not days else ""]  # fmt: skip
    return " ".join(part for part in parts if part)


def _facts(approval: Approval) -> list[tuple[str, str]]:
    risk = approval.risk_level.value.lower()
    if approval.risk_score is not None:
        risk += f" ({approval.risk_score:g})"
    facts = [("Action", approval.action), ("Risk", risk)]
    if approval.requested_by:
        facts.append(("Asked by", approval.requested_by))
    source = approval.source
    if source and (source.pipeline or source.task):
        where = " / ".join(p for p in (source.system, source.pipeline, source.task) if p)
        facts.append(("From", where))
    if len(approval.steps) > 1 and approval.current_step:
        facts.append(("Step", f"{approval.current_step} of {len(approval.steps)}"))
    expires = approval.expires_at.strftime("%Y-%m-%d %H:%M UTC") if approval.expires_at else ""
    facts.append(("Time left", f"{time_left(approval.expires_at)}" + (f" (until {expires})"
                  if expires else "")))  # fmt: skip
    return facts


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def opened(
    approval: Approval,
    reason: str,
    review_url: str,
    link: str | None,
    reviewer: str | None,
    group: str | None,
) -> dict[str, Any]:
    """A message that asks for a decision (``link``: the recipient's signed decision link)."""
    headline = SUBJECTS.get(reason, SUBJECTS["requested"])
    if group and not reviewer:
        headline += f" from {group}"
    facts = _facts(approval)
    lines = [f"{headline}: {approval.summary}", ""]
    lines += [f"{label}: {value}" for label, value in facts]
    if approval.justification:
        lines += ["", approval.justification]
    lines += ["", f"Review: {review_url}"]
    if link:
        lines += [f"Approve: {link}?decision=approve", f"Reject: {link}?decision=reject",
                  "(Each link asks you to confirm; it is yours alone and works once.)"]  # fmt: skip
    text = "\n".join(lines)
    html = _TEMPLATES.get_template("opened.html").render(
        headline=headline, approval=approval, facts=facts, link=link, review_url=review_url
    )
    field_text = "\n".join(f"*{label}:* {_slack_escape(value)}" for label, value in facts)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn",
         "text": f"*{_slack_escape(headline)}*\n{_slack_escape(approval.summary)}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": field_text}},
        {"type": "actions", "block_id": f"signoff:{approval.id}", "elements": [
            {"type": "button", "action_id": APPROVE_ACTION, "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}, "value": approval.id},
            {"type": "button", "action_id": REJECT_ACTION, "style": "danger",
             "text": {"type": "plain_text", "text": "Reject"}, "value": approval.id},
            {"type": "button", "action_id": "signoff_open", "url": review_url,
             "text": {"type": "plain_text", "text": "Open"}},
        ]},
    ]  # fmt: skip
    return {
        "reason": reason,
        "approvalId": approval.id,
        "subject": f"[signoff] {headline}: {approval.summary}"[:250],
        "text": text,
        "html": html,
        "slack": {"text": text[:3000], "blocks": blocks},
    }


def outcome(approval: Approval) -> str:
    """``Approved by alice``, ``Rejected by policy:small-refunds``, ``Expired``..."""
    if approval.decision_reason_code is DecisionReason.EXPIRED:
        return "Approved on expiry" if approval.status is ApprovalStatus.APPROVED else "Expired"
    if approval.decision_reason_code is DecisionReason.CANCELLED:
        return "Withdrawn by the requester"
    verb = "Approved" if approval.status is ApprovalStatus.APPROVED else "Rejected"
    return f"{verb} by {approval.decided_by}" if approval.decided_by else verb


def decided(
    approval: Approval, review_url: str, update: dict[str, str] | None = None
) -> dict[str, Any]:
    """The outcome, to everyone who was asked (``update``: the Slack message to replace)."""
    said = outcome(approval)
    text = f"{said}: {approval.summary}"
    if approval.decision_note:
        text += f"\nNote: {approval.decision_note}"
    text += f"\n\nReview page: {review_url}\nNothing more is needed from you."
    html = _TEMPLATES.get_template("decided.html").render(
        said=said, approval=approval, review_url=review_url
    )
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text":
               f"*{_slack_escape(said)}*: {_slack_escape(approval.summary)}"}}]  # fmt: skip
    message: dict[str, Any] = {
        "reason": "decided",
        "approvalId": approval.id,
        "subject": f"[signoff] {said}: {approval.summary}"[:250],
        "text": text,
        "html": html,
        "slack": {"text": text[:3000], "blocks": blocks},
    }
    if update:
        message["update"] = update
    return message
