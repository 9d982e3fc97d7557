"""Wait on an approval that something else asked for (e.g. its id from an upstream XCom)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.bases.skipmixin import SkipMixin
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from signoff.models import Approval
from signoff_airflow._approval_task import ApprovalTask
from signoff_airflow._deferral import can_end_from_trigger, retries_left
from signoff_airflow._outcome import ExpiryPolicy, RejectPolicy, check_policies
from signoff_airflow.hooks.approvals import SignoffHook
from signoff_airflow.links import SignoffReviewLink
from signoff_airflow.triggers.approval import ApprovalEvent, ApprovalTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class ApprovalSensor(ApprovalTask, BaseSensorOperator, SkipMixin):
    """Succeed when approval ``approval_id`` is decided, following the same policies as
    :class:`~signoff_airflow.operators.approval.RequestApprovalOperator`, and return the
    decision. Deferrable by default; the sensor's ``timeout`` bounds the whole wait.

    :param approval_id: the approval to wait on (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='ask', key='approval_id') }}"``.
    :param on_reject: ``fail`` or ``skip`` (downstream).
    :param on_expiry: ``fail``, ``skip``, ``approve`` or ``reject``.
    :param deferrable: wait in the triggerer instead of poking from a worker.
    :param end_from_trigger: deferrable mode: the trigger ends the task itself where it
        can, saving a worker slot and a scheduler round trip; as for
        :class:`~signoff_airflow.operators.approval.RequestApprovalOperator`.
    :param signoff_conn_id: connection of type ``signoff``.
    """

    template_fields: Sequence[str] = ("approval_id",)
    operator_extra_links = (SignoffReviewLink(),)
    ui_color = "#fde68a"

    def __init__(
        self,
        *,
        approval_id: str,
        on_reject: RejectPolicy = "skip",
        on_expiry: ExpiryPolicy = "fail",
        ignore_downstream_trigger_rules: bool = False,
        deferrable: bool = True,
        end_from_trigger: bool = True,
        signoff_conn_id: str = SignoffHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_policies(on_reject, on_expiry)
        self.approval_id = approval_id
        self.on_reject = on_reject
        self.on_expiry = on_expiry
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules
        self.deferrable = deferrable
        self._end_from_trigger = end_from_trigger
        self.signoff_conn_id = signoff_conn_id

    def poke(self, context: Context) -> PokeReturnValue:
        with self.hook.get_client() as client:
            approval = client.get(self.approval_id)
        if approval.review_url:
            context["ti"].xcom_push(key="review_url", value=approval.review_url)
        return PokeReturnValue(
            approval.is_decided, approval.to_wire() if approval.is_decided else None
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            wire = super().execute(context)
            return self._settle(context, Approval.model_validate(wire))
        first = self.poke(context)  # checked once before deferring
        if first.is_done:
            return self._settle(context, Approval.model_validate(first.xcom_value))
        self.defer(
            trigger=ApprovalTrigger(
                self.approval_id,
                self.signoff_conn_id,
                time.time() + float(self.timeout),
                end_from_trigger=can_end_from_trigger(self),
                on_reject=self.on_reject,
                on_expiry=self.on_expiry,
                retries_left=retries_left(context["ti"], self.retries),
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: ApprovalEvent | str) -> Any:
        if isinstance(event, str):  # the trigger ended the task, yet it resumed (dag.test())
            return self._settle_from_service(context, self.approval_id)
        if event["status"] == "decided":
            return self._settle(context, Approval.model_validate(event["approval"]))
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(f"no decision on approval {self.approval_id} in time")
        raise AirflowException(
            f"waiting for approval {self.approval_id} failed: {event['message']}"
        )
