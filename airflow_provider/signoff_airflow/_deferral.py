"""What the approval operator and the approval sensor ask before they defer.

Both wait in the triggerer the same way (an :class:`~signoff_airflow.triggers.approval.
ApprovalTrigger`, ending the task from there where it can), so the questions that decide
how the trigger is set up are answered here once, for both: whether Airflow would retry
the task, and whether the trigger may end it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import RuntimeTaskInstanceProtocol


def retries_left(ti: RuntimeTaskInstanceProtocol, retries: int | None) -> bool:
    """Whether Airflow would retry this try if it failed now (its ``is_eligible_to_retry``)."""
    max_tries = getattr(ti, "max_tries", None)
    return bool(retries) and (max_tries is None or ti.try_number <= int(max_tries))


def can_end_from_trigger(task: BaseOperator) -> bool:
    """Whether the trigger can end ``task`` as the worker would (``end_from_trigger``, and
    a return value it can push the same way: no ``multiple_outputs``, no task mapped over
    it, pushed at all)."""
    return bool(
        getattr(task, "end_from_trigger", False)
        and task.do_xcom_push
        and not task.multiple_outputs
        and not getattr(task, "returns_dag_result", False)
        and next(task.iter_mapped_dependants(), None) is None
    )


def listeners_registered() -> bool:
    """Whether Airflow listeners (plugins) are registered in this process.

    Airflow refuses to load a DAG with an ``end_from_trigger=True`` task while listeners
    are registered (a task ended in the triggerer would not reach them), so the operator
    and the sensor fall back to resuming on the worker then.
    """
    from airflow.listeners.listener import get_listener_manager  # the one Airflow checks

    return bool(get_listener_manager().has_listeners)
