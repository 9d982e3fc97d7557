"""Airflow notifiers told when an approval opens, as Airflow's HITL operators tell theirs.

:class:`~signoff_airflow.operators.approval.RequestApprovalOperator` takes ``notifiers``
(one :class:`~airflow.sdk.BaseNotifier` or a list), as ``HITLOperator`` does, and calls
each once per approval, on the worker, after the service accepted the request and before
the task defers or waits. A notifier renders its templated fields with the task's context
and, beside it, where to decide (:data:`CONTEXT_KEYS`). A notifier that fails is logged;
the task and the approval go on.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import BaseNotifier

from signoff_airflow._idempotency import first_try

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import RuntimeTaskInstanceProtocol

    from signoff.models import Approval

CONTEXT_KEYS = ("approval_id", "review_url", "approval")
"""What a notifier's context has beyond the task's: the approval's id, the link to its
review page, and the approval as the service holds it (a JSON dict, snake_case keys:
``approval.summary``, ``approval.risk_level``, ``approval.expires_at``, ...)."""

REPLAY_MARGIN = timedelta(minutes=1)
"""An approval asked after an expired or withdrawn one that the service created more than
this before the try started was asked (and its notifiers called) by an earlier try, which
this retry replays. The margin keeps a service clock running behind the worker's from
making a new approval pass for a replay (its notifiers would never hear of it); the price:
a retry that starts within a minute of such an approval's creation calls them again."""


def as_notifiers(notifiers: BaseNotifier | Sequence[BaseNotifier] | None) -> list[BaseNotifier]:
    """One notifier or several, as a list; anything else is refused when the DAG is parsed."""
    found = [notifiers] if isinstance(notifiers, BaseNotifier) else list(notifiers or [])
    wrong = [n for n in found if not isinstance(n, BaseNotifier)]
    if wrong:
        raise TypeError(
            "notifiers: give BaseNotifier instances (airflow.sdk.BaseNotifier), not "
            + ", ".join(repr(n) for n in wrong)
        )
    return found


def opened_by_this_try(
    ti: RuntimeTaskInstanceProtocol, approval: Approval, *, retries: int, chained: bool
) -> bool:
    """Whether this try asked for ``approval`` (so its notifiers have not heard of it).

    The first approval of an attempt cycle is keyed on the cycle's first try: that try
    asked for it, and later tries (retries) replay it. An approval asked after an expired
    or withdrawn one (``chained``) was asked by the first try that found that one over;
    a later try that replays it is told by the service's clock: created before this try
    started (less :data:`REPLAY_MARGIN`).
    """
    if not chained:
        return ti.try_number == first_try(ti, retries)
    started = getattr(ti, "start_date", None)
    return started is None or approval.created_at >= started - REPLAY_MARGIN


def notify(
    task: BaseOperator, notifiers: Sequence[BaseNotifier], context: Context, approval: Approval
) -> None:
    """Call each notifier with the task's context plus :data:`CONTEXT_KEYS`; log failures."""
    extra: dict[str, Any] = {
        "approval_id": approval.id,
        "review_url": approval.review_url,
        "approval": approval.model_dump(mode="json"),
    }
    for notifier in notifiers:
        # A copy each: rendering writes the rendered fields onto the notifier, and the
        # notifier merges its fields into the context it is given.
        told = copy.copy(notifier)
        try:
            told(cast("Context", {**context, **extra}))
        except Exception:
            task.log.exception(
                "Notifier %s failed for approval %s; the approval stays open: %s",
                type(notifier).__name__,
                approval.id,
                approval.review_url,
            )
