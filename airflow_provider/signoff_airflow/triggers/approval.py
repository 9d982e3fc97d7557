"""The trigger that waits, in the triggerer, for a person to decide an approval.

A triggerer may hold thousands of deferred approval tasks in one event loop. All
:class:`ApprovalTrigger` instances of that loop that talk to the same service (same base
URL and key) share one :class:`signoff.waiting.DecisionWaiter` (the core's registry,
:func:`signoff.waiting.shared_waiter`), so a thousand waiting tasks hold one long-poll
(``POST /api/approvals/wait``) instead of making a thousand polls; against a hosted
service without that endpoint the waiter falls back to polling each approval with
backoff. The trigger only reads: it never creates or decides anything.

With ``end_from_trigger`` the trigger also ends the task itself once the approval is
decided (Airflow's "end from trigger": it yields ``TaskSuccessEvent`` or ``TaskFailedEvent``
and the triggerer sets the task's state, with Airflow's retry rules for a failure), so that
the task does not go back to a worker only to read the decision. It judges with the task's
policies (:func:`signoff_airflow._outcome.judge`) and hands the outcomes that need the
worker back to it as a plain event: skipping downstream tasks, a rejection of a task that
still has retries (Airflow would retry it; a rejection is not retried), a timeout
(withdrawing the approval) and errors.

The decision, the task's return value, is pushed by the trigger itself through the Task
SDK (``XCom.aset``: the triggerer's supervisor stores it through the Execution API, as a
worker's push), not as the end event's ``xcoms``: Airflow 3.3 stores those JSON-encoded a
second time, and tasks downstream would pull a string instead of the decision. Where it
cannot push (no task instance, as under ``dag.test()``'s inline trigger run), the trigger
resumes the task on the worker instead.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal, TypedDict

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import (
    BaseTaskEndEvent,
    BaseTrigger,
    TaskFailedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

from signoff.client import DecisionTimeout, SignoffError
from signoff.models import Approval
from signoff.waiting import shared_waiter
from signoff_airflow._outcome import (
    ApprovalDecision,
    ApprovalExpiredError,
    ApprovalRejectedError,
    ApprovalWithdrawnError,
    check_policies,
    judge,
)
from signoff_airflow.hooks.approvals import SignoffHook

DEADLINE_GRACE_SECONDS = 10.0
"""Past the deadline the service's own EXPIRED decision normally arrives first; this
much later the trigger stops waiting itself (a hosted service may not expire it)."""

STOPPED = "The Airflow task was stopped."
"""Why an approval is withdrawn when its task is killed (the reviewer sees it)."""


class DecidedEvent(TypedDict):
    """The approval is decided (approved, rejected, expired or withdrawn)."""

    status: Literal["decided"]
    approval_id: str
    approval: dict[str, Any]
    """The approval's wire dict (``Approval.model_validate`` reads it back)."""


class TimeoutEvent(TypedDict):
    """The trigger's deadline passed and the approval is still pending."""

    status: Literal["timeout"]
    approval_id: str


class ErrorEvent(TypedDict):
    """Waiting failed (unknown approval, bad connection, service away after retries)."""

    status: Literal["error"]
    approval_id: str
    message: str


ApprovalEvent = DecidedEvent | TimeoutEvent | ErrorEvent
"""The payload of every :class:`TriggerEvent` the trigger fires: one flat, JSON-storable
dict told apart by ``status``; what ``execute_complete`` receives."""


class _Required(TypedDict):
    approval_id: str
    signoff_conn_id: str
    deadline: float | None


class ApprovalTriggerKwargs(_Required, total=False):
    """What :meth:`ApprovalTrigger.serialize` gives and ``ApprovalTrigger(**kwargs)`` takes:
    flat, JSON-storable; the ending keys are present only with ``end_from_trigger`` (so
    that a trigger that does not end the task serializes as before, for triggerers not
    yet upgraded)."""

    end_from_trigger: bool
    on_reject: str
    on_expiry: str
    retries_left: bool


class ApprovalTrigger(BaseTrigger):
    """Fire once when approval ``approval_id`` is decided (or expires, or is withdrawn).

    :param approval_id: the approval to wait on.
    :param signoff_conn_id: connection of type ``signoff``.
    :param deadline: Unix time after which to stop waiting and fire ``timeout``; ``None``
        waits until the service decides (every approval expires on the service).
    :param end_from_trigger: end the task from the triggerer where the outcome allows
        (see the module docstring), following ``on_reject`` and ``on_expiry``.
    :param on_reject: the task's ``on_reject`` (with ``end_from_trigger``).
    :param on_expiry: the task's ``on_expiry`` (with ``end_from_trigger``).
    :param retries_left: whether Airflow would retry the task if it failed now (with
        ``end_from_trigger``); then a rejection is left to the worker.

    Events: ``{"status": "decided", "approval_id", "approval": <wire dict>}``,
    ``{"status": "timeout", "approval_id"}`` or ``{"status": "error", "approval_id", "message"}``;
    with ``end_from_trigger``, instead of ``decided`` where the triggerer can end the task:
    ``TaskSuccessEvent()`` (having pushed the decision as ``return_value``) or
    ``TaskFailedEvent()``.
    """

    def __init__(
        self,
        approval_id: str,
        signoff_conn_id: str = SignoffHook.default_conn_name,
        deadline: float | None = None,
        end_from_trigger: bool = False,
        on_reject: str = "skip",
        on_expiry: str = "fail",
        retries_left: bool = False,
    ) -> None:
        super().__init__()
        check_policies(on_reject, on_expiry)
        self.approval_id = approval_id
        self.signoff_conn_id = signoff_conn_id
        self.deadline = deadline
        self.end_from_trigger = end_from_trigger
        self.on_reject = on_reject
        self.on_expiry = on_expiry
        self.retries_left = retries_left

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: ApprovalTriggerKwargs = {
            "approval_id": self.approval_id,
            "signoff_conn_id": self.signoff_conn_id,
            "deadline": self.deadline,
        }
        if self.end_from_trigger:
            kwargs.update(
                {
                    "end_from_trigger": True,
                    "on_reject": self.on_reject,
                    "on_expiry": self.on_expiry,
                    "retries_left": self.retries_left,
                }
            )
        return "signoff_airflow.triggers.approval.ApprovalTrigger", dict(kwargs)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait()
        if self.end_from_trigger and event["status"] == "decided":
            end = await self._end_task(Approval.model_validate(event["approval"]))
            if end is not None:
                yield end
                return
        yield TriggerEvent(event)

    async def _end_task(self, approval: Approval) -> BaseTaskEndEvent | None:
        end = self.task_end(approval)
        if end is None:
            return None
        event, return_value = end
        if return_value is not None and not await self._push_return_value(return_value):
            return None
        self.log.info("Ending the task from the triggerer: %s", event.task_instance_state)
        return event

    async def _push_return_value(self, value: ApprovalDecision) -> bool:
        """Push the task's return value as the worker would; ``False`` where it cannot."""
        ti = self.task_instance
        if ti is None:
            self.log.info("No task instance to push the decision for; resuming on the worker")
            return False
        try:
            await XCom.aset(
                key=XCom.XCOM_RETURN_KEY,
                value=value,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
            )
        except Exception as exc:  # resuming on the worker is always a way out
            self.log.warning("Could not push the decision (%s); resuming on the worker", exc)
            return False
        return True

    def task_end(
        self, approval: Approval
    ) -> tuple[BaseTaskEndEvent, ApprovalDecision | None] | None:
        """The event that ends the task for this decided approval, with the return value
        to push first, or ``None`` where only the worker can carry out the outcome (it then
        resumes with the decision)."""
        try:
            verdict, decision = judge(
                approval, on_reject=self.on_reject, on_expiry=self.on_expiry, log=self.log
            )
        except ApprovalRejectedError as exc:
            if self.retries_left:  # Airflow would retry a TaskFailedEvent; this must not be
                return None
            self.log.error("Failing the task: %s", exc)
            return TaskFailedEvent(), None
        except (ApprovalExpiredError, ApprovalWithdrawnError) as exc:
            # Airflow retries it if the task has retries left, as after the worker's raise.
            self.log.error("Failing the task: %s", exc)
            return TaskFailedEvent(), None
        if verdict == "skip":  # skipping downstream tasks needs the worker
            return None
        return TaskSuccessEvent(), decision

    async def _wait(self) -> ApprovalEvent:
        try:
            settings = await SignoffHook(self.signoff_conn_id).asettings()
            timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
            async with shared_waiter(
                settings.base_url, api_key=settings.api_key, timeout=settings.timeout
            ) as waiter:
                approval = await waiter.wait(self.approval_id, timeout=timeout)
        except DecisionTimeout:
            return {"approval_id": self.approval_id, "status": "timeout"}
        except (SignoffError, ValueError, AirflowNotFoundException) as exc:
            return {"approval_id": self.approval_id, "status": "error", "message": str(exc)}
        return {
            "approval_id": self.approval_id,
            "status": "decided",
            "approval": approval.to_wire(),
        }

    async def on_kill(self) -> None:
        """The user marked the deferred task failed or success, or cleared it: withdraw."""
        try:
            settings = await SignoffHook(self.signoff_conn_id).asettings()
            if not settings.can_withdraw:
                return
            async with settings.async_client() as client:
                withdrawn = await client.withdraw(self.approval_id, reason=STOPPED)
        except (SignoffError, ValueError, AirflowNotFoundException) as exc:
            self.log.warning("Could not withdraw approval %s: %s", self.approval_id, exc)
            return
        if withdrawn is not None:
            self.log.info("Withdrew approval %s", self.approval_id)
