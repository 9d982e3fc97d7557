"""What a decided approval means for the task: proceed, skip downstream, or fail.

Shared by :class:`~signoff_airflow.operators.approval.RequestApprovalOperator` and
:class:`~signoff_airflow.sensors.approval.ApprovalSensor`, so both follow the same policies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from signoff.models import Approval, ApprovalStatus
from signoff.outcome import DecisionSummary, DefaultDecision, decision_summary

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context

RejectPolicy = Literal["fail", "skip"]
"""``fail``: the task fails without retrying. ``skip``: the task succeeds, downstream is skipped."""

ExpiryPolicy = Literal["fail", "skip", "approve", "reject"]
"""``fail``: the task fails (and is retried if it has retries, asking again). ``skip``: as a
rejection under ``skip``. ``approve`` / ``reject``: take that decision by default."""

REJECT_POLICIES = ("fail", "skip")
EXPIRY_POLICIES = ("fail", "skip", "approve", "reject")


class ApprovalRejectedError(AirflowFailException):
    """A reviewer rejected the approval (``on_reject="fail"``); rejections are not retried."""


class ApprovalExpiredError(AirflowException):
    """Nobody decided in time (``on_expiry="fail"``); a retry asks again."""


class ApprovalWithdrawnError(AirflowException):
    """The approval was withdrawn (the task was killed); a retry asks again."""


ApprovalDecision: TypeAlias = DecisionSummary
"""The task's XCom: the core's decision summary (what was decided, the details to act
on, and what the reviewers chose), the same keys a Prefect task returns."""


def decision_of(approval: Approval, *, default: DefaultDecision | None = None) -> ApprovalDecision:
    """The decision the operators hand downstream (JSON-storable)."""
    return decision_summary(approval, default=default)


def check_policies(on_reject: str, on_expiry: str) -> None:
    if on_reject not in REJECT_POLICIES:
        raise ValueError(f"on_reject must be one of {REJECT_POLICIES}, not {on_reject!r}")
    if on_expiry not in EXPIRY_POLICIES:
        raise ValueError(f"on_expiry must be one of {EXPIRY_POLICIES}, not {on_expiry!r}")


Verdict = Literal["proceed", "skip"]
"""``proceed``: the task succeeds with the decision. ``skip``: it succeeds with the decision
and skips downstream."""


def judge(
    approval: Approval,
    *,
    on_reject: str,
    on_expiry: str,
    log: Any,
    expired: bool = False,
) -> tuple[Verdict, ApprovalDecision]:
    """What the policies make of a decided (or, with ``expired``, timed-out) approval.

    Returns the verdict and the decision (the task's XCom: the core's
    :func:`~signoff.outcome.decision_summary` with the reviewers' choices,
    :class:`ApprovalDecision`), or raises
    :class:`ApprovalRejectedError` (not to be retried), :class:`ApprovalExpiredError` or
    :class:`ApprovalWithdrawnError` (retried if the task has retries). Touches neither the
    task nor Airflow, so that the trigger can judge in the triggerer as the task would.
    """
    expired = expired or approval.is_expired
    if approval.status is ApprovalStatus.APPROVED:
        decision = decision_of(approval)
        log.info(
            "Approval %s approved by %s%s",
            approval.id,
            approval.decided_by,
            " with edited details" if decision["modified"] else "",
        )
        return "proceed", decision
    if approval.is_cancelled and not expired:
        raise ApprovalWithdrawnError(f"approval {approval.id} was withdrawn before a decision")
    skip_policy = on_reject
    if expired:
        if on_expiry == "approve":
            log.warning("Approval %s expired; approving by default (on_expiry)", approval.id)
            return "proceed", decision_of(approval, default="approve")
        if on_expiry == "fail":
            raise ApprovalExpiredError(f"approval {approval.id} expired without a decision")
        skip_policy = "skip" if on_expiry == "skip" else on_reject
        decision = decision_of(approval, default="reject" if on_expiry == "reject" else None)
    else:
        decision = decision_of(approval)
    if skip_policy == "fail":
        note = f": {approval.decision_note}" if approval.decision_note else ""
        by = f" by {approval.decided_by}" if approval.decided_by else ""
        what = "expired and was rejected by default" if expired else f"was rejected{by}"
        raise ApprovalRejectedError(f"approval {approval.id} {what}{note}")
    return "skip", decision


def settle(
    task: BaseOperator,
    context: Context,
    approval: Approval,
    *,
    on_reject: str,
    on_expiry: str,
    ignore_downstream_trigger_rules: bool = False,
    expired: bool = False,
) -> ApprovalDecision:
    """Apply the policies to a decided (or, with ``expired``, timed-out) approval.

    Returns the decision when the DAG should go on; otherwise skips downstream (the task
    itself succeeds with the decision as its XCom, like Airflow's ``ApprovalOperator``) or
    raises.
    """
    verdict, decision = judge(
        approval, on_reject=on_reject, on_expiry=on_expiry, log=task.log, expired=expired
    )
    if verdict == "skip":
        _skip_downstream(task, context, decision, ignore_downstream_trigger_rules)
    return decision


def _skip_downstream(
    task: BaseOperator, context: Context, decision: ApprovalDecision, everything: bool
) -> None:
    from airflow.sdk.bases.skipmixin import SkipMixin

    ti = context["ti"]
    # Skipping ends the task before Airflow pushes the return value: push it here.
    ti.xcom_push(key="return_value", value=decision)
    this = context["task"]
    relatives = this.get_flat_relatives(upstream=False) if everything else this.downstream_list
    tasks = [t for t in relatives if not getattr(t, "is_teardown", False)]
    task.log.info("Not approved: skipping %s", sorted(t.task_id for t in tasks) or "nothing")
    if tasks:
        assert isinstance(task, SkipMixin)
        task.skip(ti=ti, tasks=tasks)
