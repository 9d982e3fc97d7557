"""Who may decide an approval now, and what their approve counts for.

Pure functions over the approval and the reviewer: no I/O, so every rule is tested
directly, the domain's ``review`` reads as the sequence of checks it is, and the pages
explain a refusal with the very rule that makes it. ``counted`` and ``restart`` work on
the stored form of the recorded approvals, which ``review`` writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from signoff.models import Approval, StepProgress
from signoff.server.store.reviewers import ReviewerRecord


def is_requester(approval: Approval, reviewer: ReviewerRecord) -> bool:
    """``requestedBy`` names the reviewer (by name or email, case-insensitively)."""
    asked_by = (approval.requested_by or "").strip().casefold()
    if not asked_by:
        return False
    return asked_by in {reviewer.name.casefold(), (reviewer.email or "").casefold()}


def open_step(approval: Approval) -> StepProgress:
    """The step open now (the last one once decided)."""
    return approval.steps[(approval.current_step or len(approval.steps)) - 1]


def refusal(approval: Approval, reviewer: ReviewerRecord) -> str | None:
    """Why ``reviewer`` may not decide this approval now (``None``: they may).

    The one rule, used by the decision itself and by the pages that explain it.
    """
    if approval.is_decided:
        return f"approval {approval.id} is already {approval.status.value}"
    if not reviewer.active:
        return f"reviewer {reviewer.name} is deactivated"
    if is_requester(approval, reviewer):
        return (
            f"{reviewer.name} requested this approval ({approval.requested_by}); "
            "someone else must decide it"
        )
    step = open_step(approval)
    if step.is_open_to_all:
        return None
    if reviewer.name in step.reviewers or reviewer.groups & set(step.groups):
        return None
    if reviewer.groups & set(approval.escalated_groups):  # the SLA was breached
        return None
    where = f"step {step.number} " if len(approval.steps) > 1 else ""
    return (
        f"{reviewer.name} may not decide this approval: {where}is for "
        f"{describe(step.reviewers, step.groups)}"
    )


def is_waiting_for(approval: Approval, reviewer: ReviewerRecord) -> bool:
    """The inbox's "waiting for me": I may decide it, my approve would still count, and
    its open step names me or one of my groups. An approval open to any reviewer is
    nobody's in particular: it stays under everything else pending."""
    if refusal(approval, reviewer) is not None or already_approved(approval, reviewer.name):
        return False
    step = open_step(approval)
    mine = set(step.groups) | set(approval.escalated_groups)
    return reviewer.name in step.reviewers or bool(reviewer.groups & mine)


def describe(names: Iterable[str], groups: Iterable[str]) -> str:
    parts = [*names, *(f"group {g}" for g in groups)]
    return ", ".join(parts) if parts else "any reviewer"


def already_approved(approval: Approval, reviewer: str) -> str | None:
    """Why another approve by ``reviewer`` would not count (``None``: it would).

    Distinct approvers across the whole chain: whoever approved step 1 cannot also be
    one of step 2's approvers; after an edit restarted the count, they may approve anew.
    """
    number = open_step(approval).number
    for item in approval.approvals:
        if item.reviewer != reviewer or not item.counted:
            continue
        if item.step == number:
            return f"{reviewer} has already approved this approval"
        if item.step < number:
            return f"{reviewer} approved step {item.step}; each step needs other approvers"
    return None


def counted(recorded: list[dict[str, Any]], step_number: int) -> int:
    """Distinct approvers counted toward a step."""
    return len(
        {
            item.get("reviewer")
            for item in recorded
            if item.get("counted", True) and int(item.get("step") or 1) == step_number
        }
    )


def restart(recorded: list[dict[str, Any]], step_number: int) -> list[dict[str, Any]]:
    """An edit (or another choice of options) in a step: its earlier approvals stop
    counting, they were given for other numbers. Completed steps keep theirs."""
    return [
        {**item, "counted": False} if int(item.get("step") or 1) == step_number else item
        for item in recorded
    ]


def options_problem(approval: Approval, chosen: list[str] | None) -> str | None:
    """What is wrong with an approve's ``chosenOptions`` (``None``: nothing)."""
    options = approval.options
    if options is None:
        return "chosenOptions: this approval has no options" if chosen else None
    if not chosen:
        pick = "one or more" if approval.multiple else "one"
        return f"chosenOptions: pick {pick} of {', '.join(options)}"
    unknown = [c for c in chosen if c not in options]
    if unknown:
        return f"chosenOptions: {', '.join(unknown)} not among the options ({', '.join(options)})"
    if len(chosen) > 1 and not approval.multiple:
        return "chosenOptions: pick exactly one (this approval does not allow multiple)"
    return None


def reason_problem(approval: Approval, reason_code: str | None) -> str | None:
    if reason_code is None:
        return None
    codes = approval.reason_codes
    if codes is None:
        return "reasonCode: this approval has no reason codes"
    if reason_code not in codes:
        return f"reasonCode: {reason_code} is not one of {', '.join(codes)}"
    return None
