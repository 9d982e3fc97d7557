"""Endpoint health: consecutive failures flag an endpoint; failing for too long
deactivates it (a webhook is switched off, a workflow action skipped), as webhook
platforms do so that one dead receiver does not cost retries forever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signoff.server.store.events import HealthRow
from signoff.server.store.kinds import DeliveryKind


@dataclass(frozen=True)
class Verdict:
    """One send's verdict on an endpoint (a webhook or a workflow action)."""

    target_id: str
    kind: DeliveryKind
    ok: bool
    error: str | None = None


def settle(
    before: dict[str, HealthRow],
    verdicts: list[Verdict],
    *,
    now: datetime,
    flag_after: int,
    deactivate_after: float,
) -> tuple[dict[str, HealthRow], set[str]]:
    """The health rows after ``verdicts`` (a target absent is healthy), and the webhooks
    to switch off. Many verdicts settle at once: the worker records a whole batch."""
    after = {key: dict(value) for key, value in before.items()}
    deactivated_webhooks: set[str] = set()
    for verdict in verdicts:
        row = after.get(verdict.target_id)
        if verdict.ok:
            if row is not None and row["deactivated_at"] is None:
                del after[verdict.target_id]
            continue
        if row is None:
            after[verdict.target_id] = {
                "target_id": verdict.target_id,
                "consecutive_failures": 1,
                "failing_since": now,
                "last_error": verdict.error,
                "deactivated_at": None,
            }
            continue
        failures = row["consecutive_failures"] + 1
        failing_since = row["failing_since"] or now
        deactivate = (
            row["deactivated_at"] is None
            and failures >= flag_after
            and (now - failing_since).total_seconds() >= deactivate_after
        )
        row.update(consecutive_failures=failures, last_error=verdict.error)
        if deactivate:
            row["deactivated_at"] = now
            if verdict.kind is DeliveryKind.WEBHOOK:
                deactivated_webhooks.add(verdict.target_id)
    return after, deactivated_webhooks
