"""Branch on a person's choice: the options a reviewer picks are the tasks that run next.

Airflow's ``HITLBranchOperator`` idea over signoff's approvals: the reviewer approves by
picking one (or, with ``multiple``, several) of ``options``; each option names a task (or
task group) directly downstream, itself or through ``options_mapping``, and Airflow's own
branching (``BranchMixIn.do_branch``) runs the chosen ones and skips the rest. A
rejection follows ``on_reject`` as in :class:`RequestApprovalOperator`: ``skip`` skips
every branch, ``fail`` fails the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.branch import BranchMixIn

from signoff_airflow._outcome import ApprovalDecision
from signoff_airflow.operators.approval import RequestApprovalOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from signoff.models import Approval


class ApprovalBranchOperator(RequestApprovalOperator, BranchMixIn):
    """Ask a reviewer to approve by choosing among ``options``; run the chosen branches.

    Takes every argument of :class:`~signoff_airflow.operators.approval.
    RequestApprovalOperator` (who decides, ``details_schema``, ``notifiers``, policies,
    deferrable) and returns the same decision as XCom, whose ``chosen_options`` are the
    options picked.

    :param options: the choices, each a downstream task id or task group id, or a label
        that ``options_mapping`` maps to one (required).
    :param options_mapping: option label to task id (or task group id); an option not in
        it names its task itself.
    :param multiple: the reviewer may pick several options: all their branches run.
    :param defaults: the options to follow when the approval is approved by default
        (``on_expiry="approve"``: nobody decided in time, so nobody chose); required then.

    Always resumes on the worker once decided (``end_from_trigger`` does not apply):
    skipping the branches not chosen is done there, by Airflow's branching.
    """

    inherits_from_skipmixin = True

    def __init__(
        self,
        *,
        options: Sequence[str],
        options_mapping: Mapping[str, str] | None = None,
        defaults: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("end_from_trigger"):
            raise ValueError(
                "ApprovalBranchOperator always resumes on the worker: branching skips tasks "
                "there (leave end_from_trigger out)"
            )
        kwargs["end_from_trigger"] = False
        if not options:
            raise ValueError("options: give the choices (downstream task ids or labels)")
        super().__init__(options=options, **kwargs)
        assert self.options is not None
        self.options_mapping = dict(options_mapping or {})
        unknown = sorted(set(self.options_mapping) - set(self.options))
        if unknown:
            raise ValueError(f"options_mapping: {', '.join(unknown)} not among the options")
        not_ids = {k: v for k, v in self.options_mapping.items() if not isinstance(v, str)}
        if not_ids:
            raise ValueError(f"options_mapping: values must be task ids (strings): {not_ids}")
        self.defaults = [defaults] if isinstance(defaults, str) else list(defaults or []) or None
        if self.defaults is not None:
            if not set(self.defaults) <= set(self.options):
                raise ValueError(f"defaults {self.defaults} must be among the options")
            if len(self.defaults) > 1 and not self.multiple:
                raise ValueError("defaults: more than one without multiple=True")
        if self.on_expiry == "approve" and self.defaults is None:
            raise ValueError(
                "on_expiry='approve' needs defaults: the options to follow when nobody chose"
            )

    def branches(self, chosen: Sequence[str]) -> list[str]:
        """The task (or task group) ids the chosen options name."""
        return [self.options_mapping.get(option, option) for option in chosen]

    def _settle(
        self, context: Context, approval: Approval, *, expired: bool = False
    ) -> ApprovalDecision:
        decision = super()._settle(context, approval, expired=expired)
        if not decision["approved"]:  # rejected under on_reject="skip": all skipped already
            return decision
        chosen = decision["chosen_options"]
        if not chosen:  # approved by default (on_expiry="approve"), or by an older service
            chosen = self.defaults or []
            decision["chosen_options"] = list(chosen) or None
            self.log.info("Nobody chose; following the defaults %s", chosen)
        if self.do_xcom_push:  # skipping ends the task before Airflow would push it
            context["ti"].xcom_push(key="return_value", value=decision)
        self.do_branch(context, self.branches(chosen))
        return decision
