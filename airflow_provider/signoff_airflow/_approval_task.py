"""What the approval operator and the approval sensor are alike in, written once.

Both wait for one approval (in the triggerer, or on the worker), settle it with the same
policies (:func:`signoff_airflow._outcome.settle`), and, when the trigger ended the task
but the runner resumed it anyway, settle from the service's own record. The mixin holds
that part, so that neither module imports the other.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowException

from signoff.models import Approval
from signoff_airflow._deferral import listeners_registered
from signoff_airflow._outcome import ApprovalDecision, settle
from signoff_airflow.hooks.approvals import SignoffHook

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator as _Task
    from airflow.sdk import Context
else:
    _Task = object  # a mixin: the operator or sensor class brings BaseOperator


class ApprovalTask(_Task):
    """Mixin of :class:`~signoff_airflow.operators.approval.RequestApprovalOperator` and
    :class:`~signoff_airflow.sensors.approval.ApprovalSensor`."""

    signoff_conn_id: str
    on_reject: str
    on_expiry: str
    ignore_downstream_trigger_rules: bool
    _end_from_trigger: bool

    @property
    def end_from_trigger(self) -> bool:
        """Whether the trigger ends the task (read by Airflow when it loads the DAG): the
        user's choice, unless listeners are registered."""
        return self._end_from_trigger and not listeners_registered()

    @cached_property
    def hook(self) -> SignoffHook:
        return SignoffHook(self.signoff_conn_id)

    def _settle(
        self, context: Context, approval: Approval, *, expired: bool = False
    ) -> ApprovalDecision:
        return settle(
            self,
            context,
            approval,
            on_reject=self.on_reject,
            on_expiry=self.on_expiry,
            ignore_downstream_trigger_rules=self.ignore_downstream_trigger_rules,
            expired=expired,
        )

    def _settle_from_service(self, context: Context, approval_id: str) -> ApprovalDecision:
        """The trigger ended the task, but the runner resumed it with the end event's
        payload (``"success"``, ``"failed"``) instead: ``dag.test()`` does. Settle from the
        service, which holds the same decision."""
        with self.hook.get_client() as client:
            approval = client.get(approval_id)
        if not approval.is_decided:
            raise AirflowException(f"approval {approval.id} is not decided")
        return self._settle(context, approval)
