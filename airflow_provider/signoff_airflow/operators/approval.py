"""Pause a DAG until a person signs off: ask for an approval, wait for the decision.

Idempotency. Every try derives one idempotency key from the task instance (DAG, run,
task, map index) and the *first try of its current attempt cycle*
(:func:`signoff_airflow._idempotency.idempotency_key`): retries keep it, clearing the
task gives it a new one. Hence a retry, a worker crash or a re-run
of the same try replays the same approval from the service instead of creating a
second one, and clearing a rejected task asks again. Within one cycle, an approval that
expired or was withdrawn (the task was killed) is followed by a new one keyed on it
(``...:after:<id>``), so a retry after those asks again too, deterministically.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperator
from airflow.sdk.bases.skipmixin import SkipMixin
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from signoff.client import (
    ApprovalsClient,
    Conflict,
    DecisionTimeout,
    InvalidRequest,
    SignoffError,
)
from signoff.models import Approval, DecisionReason, StepSpec
from signoff_airflow._approval_task import ApprovalTask
from signoff_airflow._deferral import can_end_from_trigger, retries_left
from signoff_airflow._idempotency import idempotency_key
from signoff_airflow._notifiers import as_notifiers, notify, opened_by_this_try
from signoff_airflow._outcome import ApprovalDecision, ExpiryPolicy, RejectPolicy, check_policies
from signoff_airflow._routing import (
    TRIGGERING_USER,
    check_choices,
    check_routing,
    json_schema,
    names,
    requester,
)
from signoff_airflow.hooks.approvals import SignoffHook
from signoff_airflow.links import SignoffReviewLink  # registered under this module's path
from signoff_airflow.triggers.approval import (
    DEADLINE_GRACE_SECONDS,
    STOPPED,
    ApprovalEvent,
    ApprovalTrigger,
)

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier, Context, Param
    from airflow.sdk.types import RuntimeTaskInstanceProtocol
    from pydantic import BaseModel

MAX_ASKS_PER_CYCLE = 100
"""Expired or withdrawn approvals followed within one attempt cycle, at most."""


class RequestApprovalOperator(ApprovalTask, BaseOperator, SkipMixin):
    r"""Ask a person to approve, wait for the decision, and hand it downstream.

    Pushes ``approval_id`` and ``review_url`` to XCom before it waits, and returns the
    decision: ``{"approval_id", "status", "approved", "reason", "default_decision",
    "details" (the reviewer's edit if any), "modified", "note", "decided_by",
    "decided_at", "review_url", "chosen_options", "reason_code", "approved_by",
    "requested_by"}``.

    Who decides (``signoff serve``; the hosted service ignores these): without
    ``reviewers``, ``groups`` or ``steps`` any reviewer decides, and one approval is enough.
    An approval that needs several approvals stays pending, and the task keeps waiting,
    until enough distinct eligible reviewers approved (any eligible reject rejects at once).

    :param action: what is to be done, e.g. ``process_refund`` (templated).
    :param summary: one line for the reviewer (templated).
    :param details: the payload the reviewer sees and may edit (templated).
    :param risk_level: ``low``, ``medium``, ``high`` or ``critical`` (templated).
    :param justification: why this needs doing (templated).
    :param callback_url: the service also POSTs the decision here (templated).
    :param reviewers: names of the reviewers who may decide (templated: a list, or one
        comma-separated string).
    :param groups: names of review groups whose members may decide (templated, as
        ``reviewers``). Who may decide is the union of ``reviewers`` and ``groups``.
    :param required_approvals: how many distinct reviewers must approve (default 1).
    :param steps: an ordered chain instead of ``reviewers``/``groups``/``required_approvals``:
        each step a dict ``{"reviewers": [...], "groups": [...], "required_approvals": n}``
        (or a :class:`signoff.models.StepSpec`); step 2 opens once step 1 is satisfied, and
        nobody approves two steps.
    :param requested_by: the person on whose behalf the DAG asks; the service never lets
        them decide (segregation of duties: matched against reviewer names and emails).
        Default: the user who triggered the run (``{{ dag_run.triggering_user_name }}``);
        a scheduled or asset-triggered run has none, and then nobody is excluded. Templated,
        e.g. ``"{{ params.requester }}"``; ``None``: nobody is the requester.
    :param options: what the reviewer picks when approving (Airflow HITL's ``options``),
        e.g. ``["pay_now", "pay_friday"]``; returned as ``chosen_options``.
    :param multiple: the reviewer may pick several ``options`` (default: exactly one).
    :param reason_codes: reasons a reviewer may pick for the decision; returned as
        ``reason_code``.
    :param details_schema: a JSON Schema that ``details`` and every reviewer's edit of them
        must satisfy (the service refuses an edit that does not, naming the field). Given as
        a JSON Schema dict; a pydantic model class (its ``model_json_schema()``); or Airflow
        ``Param``\ s, ``{"amount": Param(type="number", maximum=1000), ...}`` (or a
        ``ParamsDict``), as HITL's ``params``: each param is one key of the details, the
        params without a default are required, and no other keys are allowed. Not the
        operator's own ``params``, which stay what templates read.
    :param response_timeout: how long a reviewer has; the approval expires on the service
        after it. Separate from ``execution_timeout``, which bounds only the worker's part
        (in non-deferrable mode the wait runs on the worker, so both apply). ``None``: the
        service's default expiry.
    :param notifiers: Airflow notifiers (one :class:`~airflow.sdk.BaseNotifier` or a
        list, as HITL's ``notifiers``) to call once the approval opens: on the worker,
        right after the service accepted the request, before the task defers or waits.
        Each renders its templated fields with the task's context plus ``approval_id``,
        ``review_url`` (the review page) and ``approval`` (the approval as the service
        holds it, a JSON dict: ``approval.summary``, ``approval.expires_at``, ...), e.g.
        ``SlackNotifier(text="{{ approval.summary }}: decide at {{ review_url }}")``.
        Called once per approval: not when the task resumes from the trigger, nor on a
        retry that reuses the approval (for one asked after an expired or withdrawn
        approval, a retry within a minute of its creation may call them again: see
        ``signoff_airflow._notifiers.REPLAY_MARGIN``); again when the task asks anew
        (cleared, or retried after the approval expired or was withdrawn). Not called for
        an approval decided at once (by a policy, or already before a re-run). A notifier
        that raises is logged and skipped: the task goes on waiting and the approval stays
        open. Each call renders a copy, so the notifier's templates stay as given.
    :param on_reject: ``fail`` (no retries) or ``skip`` (this task succeeds with the
        decision as XCom; downstream tasks are skipped).
    :param on_expiry: ``fail`` (retried if the task has retries, asking again), ``skip``,
        or a default decision, ``approve`` or ``reject`` (then ``on_reject`` applies).
    :param ignore_downstream_trigger_rules: when skipping, skip every downstream task,
        not only the direct ones.
    :param deferrable: wait in the triggerer (default) instead of holding a worker slot.
    :param end_from_trigger: deferrable mode: once the reviewer decides, the trigger ends
        the task itself in the triggerer (success, having pushed the decision as
        ``return_value``; or failure, retried as usual where the policy's failure is
        retryable) instead of having it scheduled back onto a worker only to run
        ``execute_complete``: that saves a worker slot and a scheduler round trip per
        decision. Outcomes that need the worker still resume there: skipping downstream
        tasks (``skip``), a rejection of a task with retries left (a rejection must not be
        retried), the ``response_timeout`` deadline passing without the service expiring
        the approval, and errors; so does every outcome while Airflow listeners are
        registered (Airflow does not support them with ending from the trigger: success and
        failure listeners would not hear of the task), or with ``multiple_outputs``, or a
        task mapped over this one's output. Turn off to always resume on the worker (e.g.
        for ``on_success_callback`` to run on a worker rather than in the DAG processor).
    :param poll_interval: non-deferrable mode against a service without long-poll only:
        the longest gap between polls.
    :param signoff_conn_id: connection of type ``signoff``.
    """

    template_fields: Sequence[str] = (
        "action",
        "summary",
        "details",
        "risk_level",
        "justification",
        "callback_url",
        "reviewers",
        "groups",
        "requested_by",
    )
    template_fields_renderers = {"details": "json", "summary": "md", "justification": "md"}
    operator_extra_links = (SignoffReviewLink(),)
    ui_color = "#fde68a"

    def __init__(
        self,
        *,
        action: str,
        summary: str,
        details: dict[str, Any] | str | None = None,
        risk_level: str | None = None,
        justification: str | None = None,
        callback_url: str | None = None,
        reviewers: Sequence[str] | str | None = None,
        groups: Sequence[str] | str | None = None,
        required_approvals: int | None = None,
        steps: Sequence[StepSpec | Mapping[str, Any]] | None = None,
        requested_by: str | None = TRIGGERING_USER,
        options: Sequence[str] | None = None,
        multiple: bool | None = None,
        reason_codes: Sequence[str] | None = None,
        details_schema: dict[str, Any] | type[BaseModel] | Mapping[str, Param] | None = None,
        response_timeout: timedelta | None = None,
        notifiers: BaseNotifier | Sequence[BaseNotifier] | None = None,
        on_reject: RejectPolicy = "skip",
        on_expiry: ExpiryPolicy = "fail",
        ignore_downstream_trigger_rules: bool = False,
        deferrable: bool = True,
        end_from_trigger: bool = True,
        poll_interval: float = 10.0,
        signoff_conn_id: str = SignoffHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_policies(on_reject, on_expiry)
        if response_timeout is not None and response_timeout.total_seconds() < 1:
            raise ValueError("response_timeout must be at least one second")
        self.action = action
        self.summary = summary
        self.details = details
        self.risk_level = risk_level
        self.justification = justification
        self.callback_url = callback_url
        self.steps = check_routing(reviewers, groups, required_approvals, steps)
        self.reviewers = reviewers
        self.groups = groups
        self.required_approvals = required_approvals
        self.requested_by = requested_by
        choices = check_choices(options, multiple, reason_codes)
        self.options = choices.options
        self.multiple = choices.multiple
        self.reason_codes = choices.reason_codes
        self.details_schema = json_schema(details_schema)
        self.response_timeout = response_timeout
        self.notifiers = as_notifiers(notifiers)
        self.on_reject = on_reject
        self.on_expiry = on_expiry
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules
        self.deferrable = deferrable
        self._end_from_trigger = end_from_trigger
        self.poll_interval = poll_interval
        self.signoff_conn_id = signoff_conn_id
        self.approval_id: str | None = None

    def execute(self, context: Context) -> Any:
        ti = context["ti"]
        with self.hook.get_client() as client:
            approval, chained = self._ask(client, ti)
        self.approval_id = approval.id
        # Before any waiting, so that the link works and downstream can find the approval.
        ti.xcom_push(key="approval_id", value=approval.id)
        ti.xcom_push(key="review_url", value=approval.review_url)
        if approval.is_decided:  # checked once: a replayed approval may be decided already
            return self._settle(context, approval)
        if self.notifiers and opened_by_this_try(
            ti, approval, retries=self.retries or 0, chained=chained
        ):
            notify(self, self.notifiers, context, approval)
        self.log.info("Waiting for a decision on %s: %s", approval.id, approval.review_url)
        deadline = self._deadline(approval)
        if self.deferrable:
            self.defer(
                trigger=ApprovalTrigger(
                    approval.id,
                    self.signoff_conn_id,
                    deadline,
                    end_from_trigger=can_end_from_trigger(self),
                    on_reject=self.on_reject,
                    on_expiry=self.on_expiry,
                    retries_left=retries_left(ti, self.retries),
                ),
                # The trigger may still resume the task (see end_from_trigger).
                method_name="execute_complete",
            )
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        try:
            with self.hook.get_client() as client:
                approval = client.wait_for_decision(
                    approval.id, timeout=timeout, poll_interval=self.poll_interval
                )
        except DecisionTimeout:
            return self._timed_out(context, approval.id)
        return self._settle(context, approval)

    def execute_complete(self, context: Context, event: ApprovalEvent | str) -> Any:
        if isinstance(event, str):
            return self._settle_ended(context)
        self.approval_id = event["approval_id"]
        if event["status"] == "decided":
            return self._settle(context, Approval.model_validate(event["approval"]))
        if event["status"] == "timeout":
            return self._timed_out(context, event["approval_id"])
        raise AirflowException(
            f"waiting for approval {self.approval_id} failed: {event['message']}"
        )

    def _settle_ended(self, context: Context) -> ApprovalDecision:
        """The trigger ended the task, yet the runner resumed it: settle from the service."""
        ti = context["ti"]
        self.approval_id = ti.xcom_pull(
            task_ids=ti.task_id, key="approval_id", map_indexes=ti.map_index
        )
        if not self.approval_id:
            raise AirflowException("resumed after the trigger ended the task, with no approval")
        return self._settle_from_service(context, self.approval_id)

    def on_kill(self) -> None:
        """Withdraw the pending approval: nobody should approve what nothing waits for."""
        if not self.approval_id or not self.hook.settings.can_withdraw:
            return
        try:
            with self.hook.get_client() as client:
                withdrawn = client.withdraw(self.approval_id, reason=STOPPED)
        except SignoffError as exc:
            self.log.warning("Could not withdraw approval %s: %s", self.approval_id, exc)
            return
        if withdrawn is not None:  # else decided already, or unknown to the service
            self.log.info("Withdrew approval %s", self.approval_id)

    def _ask(
        self, client: ApprovalsClient, ti: RuntimeTaskInstanceProtocol
    ) -> tuple[Approval, bool]:
        """The approval of this attempt cycle, and whether it was asked after an expired
        or withdrawn one."""
        base = key = idempotency_key(ti, self.retries or 0)
        for _ in range(MAX_ASKS_PER_CYCLE):
            try:
                created = client.create(
                    self.action,
                    self.summary,
                    self._rendered_details(),
                    risk_level=self.risk_level or None,
                    justification=self.justification or None,
                    callback_url=self.callback_url or None,
                    source=self._source(ti),
                    expires_in=self.response_timeout.total_seconds()
                    if self.response_timeout
                    else None,
                    idempotency_key=key,
                    **self._who_decides(),
                )
            except Conflict as exc:
                raise AirflowFailException(
                    f"{exc.error}: this task instance already asked with other content "
                    f"(idempotency key {key}); its action, summary, details and who decides "
                    "must render the same on every try. Clear the task to ask again."
                ) from exc
            except InvalidRequest as exc:  # the same request is refused on every try
                raise AirflowFailException(
                    f"the service refused the approval: {exc.error}"
                ) from exc
            approval = client.get(created.id)
            reason = approval.decision_reason_code
            if reason not in (DecisionReason.EXPIRED, DecisionReason.CANCELLED):
                return approval, key != base
            self.log.info("Approval %s %s; asking again", approval.id, reason.value.lower())
            key = f"{base}:after:{approval.id}"
        raise AirflowException(f"more than {MAX_ASKS_PER_CYCLE} approvals in one attempt cycle")

    def _who_decides(self) -> dict[str, Any]:
        """The client's "who decides" arguments, from the rendered fields."""
        return {
            "reviewers": names(self.reviewers, "reviewers"),
            "groups": names(self.groups, "groups"),
            "required_approvals": self.required_approvals,
            "steps": self.steps,
            "requested_by": requester(self.requested_by),
            "options": self.options,
            "multiple": self.multiple,
            "reason_codes": self.reason_codes,
            "details_schema": self.details_schema,
        }

    def _rendered_details(self) -> dict[str, Any]:
        details = self.details
        if isinstance(details, str):  # e.g. a template with render_template_as_native_obj off
            details = json.loads(details) if details.strip() else {}
        if details is not None and not isinstance(details, dict):
            raise ValueError(f"details must render to a JSON object, not {type(details).__name__}")
        return details or {}

    def _source(self, ti: RuntimeTaskInstanceProtocol) -> dict[str, Any]:
        task = ti.task_id if ti.map_index is None or ti.map_index < 0 else None
        return {
            "system": "airflow",
            "pipeline": ti.dag_id,
            "run": ti.run_id,
            "task": task or f"{ti.task_id}[{ti.map_index}]",
            "url": _run_url(ti),
        }

    def _deadline(self, approval: Approval) -> float | None:
        if approval.expires_at is not None:
            return approval.expires_at.timestamp() + DEADLINE_GRACE_SECONDS
        if self.response_timeout is not None:
            start = approval.created_at.timestamp()
            return start + self.response_timeout.total_seconds() + DEADLINE_GRACE_SECONDS
        return None

    def _timed_out(self, context: Context, approval_id: str) -> Any:
        """The deadline passed and the service did not expire it: withdraw, then settle."""
        with self.hook.get_client() as client:
            if self.hook.settings.can_withdraw:
                client.withdraw(approval_id, reason="No decision within the response timeout.")
            approval = client.get(approval_id)
        if approval.is_decided and not approval.is_cancelled:
            return self._settle(context, approval)  # decided at the last moment
        return self._settle(context, approval, expired=True)


def _run_url(ti: RuntimeTaskInstanceProtocol) -> str | None:
    """The task instance in Airflow's UI; the same on every try (it is part of the request)."""
    from airflow.sdk.configuration import conf

    base = str(conf.get("api", "base_url", fallback="") or "").rstrip("/")
    if not base.startswith(("http://", "https://")):
        return None
    mapped = f"/mapped/{ti.map_index}" if ti.map_index is not None and ti.map_index >= 0 else ""
    return f"{base}/dags/{ti.dag_id}/runs/{quote(ti.run_id)}/tasks/{ti.task_id}{mapped}"
