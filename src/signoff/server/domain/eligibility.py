"""Who may decide an approval now, and what their approve counts for.

Pure functions over the stored approval and the reviewer: no I/O, so every rule is
tested directly and the domain's ``review`` reads as the sequence of checks it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import RowMapping

from signoff.server.store.approvals import stored_recorded, stored_steps
from signoff.server.store.reviewers import ReviewerRecord


def is_requester(row: RowMapping, reviewer: ReviewerRecord) -> bool:
    """``requestedBy`` names the reviewer (by name or email, case-insensitively)."""
    asked_by = (row["requested_by"] or "").strip().casefold()
    if not asked_by:
        return False
    return asked_by in {reviewer.name.casefold(), (reviewer.email or "").casefold()}


def open_step(row: RowMapping) -> tuple[int, dict[str, Any]]:
    steps = stored_steps(row)
    index = min(row["current_step"] or 0, len(steps) - 1)
    return index, steps[index]


def refusal(row: RowMapping, reviewer: ReviewerRecord) -> str | None:
    """Why ``reviewer`` may not decide this approval now (``None``: they may)."""
    if not reviewer.active:
        return f"reviewer {reviewer.name} is deactivated"
    if is_requester(row, reviewer):
        return (
            f"{reviewer.name} requested this approval ({row['requested_by']}); "
            "someone else must decide it"
        )
    index, step = open_step(row)
    names, groups = step.get("reviewers") or [], step.get("groups") or []
    if not names and not groups:
        return None
    if reviewer.name in names or reviewer.groups & set(groups):
        return None
    who = describe(names, groups)
    where = f"step {index + 1} " if len(stored_steps(row)) > 1 else ""
    return f"{reviewer.name} may not decide this approval: {where}is for {who}"


def describe(names: Iterable[str], groups: Iterable[str]) -> str:
    parts = [*names, *(f"group {g}" for g in groups)]
    return ", ".join(parts) if parts else "any reviewer"


def already_approved(row: RowMapping, reviewer: str) -> str | None:
    """Why another approve by ``reviewer`` would not count (``None``: it would).

    Distinct approvers across the whole chain: whoever approved step 1 cannot also be
    one of step 2's approvers; after an edit restarted the count, they may approve anew.
    """
    index, _ = open_step(row)
    for item in stored_recorded(row):
        if item.get("reviewer") != reviewer or not item.get("counted", True):
            continue
        step = int(item.get("step") or 1)
        if step == index + 1:
            return f"{reviewer} has already approved this approval"
        if step < index + 1:
            return f"{reviewer} approved step {step}; each step needs other approvers"
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


def options_problem(row: RowMapping, chosen: list[str] | None) -> str | None:
    """What is wrong with an approve's ``chosenOptions`` (``None``: nothing)."""
    options = row["options"] if isinstance(row["options"], list) else None
    if options is None:
        return "chosenOptions: this approval has no options" if chosen else None
    if not chosen:
        return f"chosenOptions: pick {'one or more' if row['multiple'] else 'one'} of " + (
            ", ".join(map(str, options))
        )
    unknown = [c for c in chosen if c not in options]
    if unknown:
        return f"chosenOptions: {', '.join(unknown)} not among the options ({', '.join(options)})"
    if len(chosen) > 1 and not row["multiple"]:
        return "chosenOptions: pick exactly one (this approval does not allow multiple)"
    return None


def reason_problem(row: RowMapping, reason_code: str | None) -> str | None:
    if reason_code is None:
        return None
    codes = row["reason_codes"] if isinstance(row["reason_codes"], list) else None
    if codes is None:
        return "reasonCode: this approval has no reason codes"
    if reason_code not in codes:
        return f"reasonCode: {reason_code} is not one of {', '.join(map(str, codes))}"
    return None
