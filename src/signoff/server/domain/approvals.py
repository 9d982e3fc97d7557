"""An approval's life: submitted, decided (by a reviewer, its asker, or the clock), read.

Each function here is the one place its behaviour lives. A submit or a decision commits
the approval, its lifecycle event with every delivery that event causes, and its
callback in one transaction; only then are waiters woken and the delivery worker kicked,
so whatever they read is already there.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from signoff.models import (
    Approval,
    ApprovalRequest,
    ApprovalStatus,
    CallbackPayload,
    DecisionReason,
    DecisionRequest,
    RecordedApproval,
)
from signoff.server.domain import (
    eligibility,
    events,
    notifications,
    policies,
    reviewers,
    schemas,
)
from signoff.server.domain.errors import (
    AlreadyDecided,
    Conflict,
    Forbidden,
    Invalid,
    LinkRefused,
    NotFound,
)
from signoff.server.ids import new_id
from signoff.server.services import Services
from signoff.server.store import links, outbox
from signoff.server.store.approvals import OPEN_TO_ALL, Decision, stored_recorded
from signoff.server.store.credentials import Principal
from signoff.server.store.db import write
from signoff.server.store.events import NewEvent
from signoff.server.store.kinds import DeliveryKind

__all__ = [
    "Decision",
    "breach_slas",
    "cancel",
    "decide",
    "expire",
    "expire_due",
    "get",
    "remind_due",
    "review",
    "submit",
]


USED_LINK = "This link was already used. Open the review page to see where the approval stands."


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def wake(services: Services, *approval_ids: str) -> None:
    """After a commit: waiters re-read, the worker sends what was queued."""
    for approval_id in approval_ids:
        services.hub.publish(approval_id)
    services.worker.kick()


async def submit(
    services: Services,
    request: ApprovalRequest,
    who: Principal,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> tuple[Approval, bool]:
    """Create an approval (``True``), or with a known idempotency key return the first one
    (``False``; :class:`Conflict` when that key came with another body)."""
    store = services.approvals
    scoped = f"{who.name}:{idempotency_key}" if idempotency_key else None
    if scoped and (existing := await _by_key(services, scoped, request_hash)) is not None:
        return existing, False
    compiled = await services.policies.current()
    rule, _ = policies.match(compiled, policies.request_facts(request))
    if rule is not None and not rule.spec.decide:
        _, members = await reviewers.directory(services)
        request = policies.routed(request, rule.spec, members)
    await check_routing(services, request)
    now = utcnow()
    lifetime = request.expires_in_seconds or services.settings.default_expiry_seconds
    values = {
        "id": new_id("req"),
        "status": ApprovalStatus.PENDING.value,
        "action": request.action,
        "summary": request.summary,
        "details": request.details,
        "risk_level": request.effective_risk_level().value,
        "risk_score": request.risk_score,
        "justification": request.justification,
        "callback_url": request.callback_url,
        "source": request.source.to_wire(exclude_none=True) if request.source else None,
        "trace": request.trace,
        "retryable": False,
        "created_at": now,
        "expires_at": now + timedelta(seconds=lifetime),
        "created_by": who.name,
        "idempotency_key": scoped,
        "request_hash": request_hash if scoped else None,
        **routing_values(request),
        **policy_values(compiled, rule, now),
        "remind_at": notifications.remind_at(services, now),
    }
    try:
        async with write(store.engine) as conn:
            row = await store.insert(conn, values)
            approval = store.model(row)
            await events.publish_in(conn, lifecycle_event("approval_requested", approval))
            if rule is not None and rule.spec.decide:  # through the one way to conclude
                decision = policy_decision(
                    rule.spec.name, rule.spec.decide == "approve", rule.spec.note
                )
                approval = await _conclude(conn, services, row, decision)
            else:
                await notifications.opened(conn, services, approval, "requested")
            await store.notify(conn, approval.id)
    except IntegrityError:  # a concurrent twin with the same key committed first
        if not scoped or (existing := await _by_key(services, scoped, request_hash)) is None:
            raise
        return existing, False
    wake(services, approval.id)  # live pages; an approval_requested webhook goes out now
    return approval, True


def policy_values(
    compiled: policies.Compiled, rule: policies.Rule | None, now: datetime
) -> dict[str, Any]:
    """Which applied version and rule handled the approval, its SLA and escalation."""
    if rule is None:
        return {}
    sla = rule.spec.sla
    return {
        "policy_version": compiled.version,
        "policy_rule": rule.spec.name,
        "on_expiry": rule.spec.on_expiry,
        "sla_due_at": policies.sla_due(rule.spec, now),
        "escalated_groups": list(sla.escalate_to) if sla and sla.escalate_to else None,
    }


def policy_decision(rule: str, approve: bool, note: str | None = None) -> Decision:
    """A policy's decision: the same ``Decision`` a person's is, named after the rule."""
    verb = "Approved" if approve else "Rejected"
    return Decision(
        status=ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED,
        reason=DecisionReason.POLICY,
        decided_by=f"policy:{rule}",
        note=note or f"{verb} by policy {rule}.",
        auto_decided=True,
    )


def routing_values(request: ApprovalRequest) -> dict[str, Any]:
    """Who decides, as stored (a request that names nobody stores NULLs: any reviewer)."""
    steps = [step.to_wire() for step in request.routed_steps()]
    return {
        "steps": None if steps == [OPEN_TO_ALL] else steps,
        "current_step": 0,
        "edit_round": 0,
        "recorded": [],
        "requested_by": request.requested_by,
        "options": request.options,
        "multiple": bool(request.multiple),
        "reason_codes": request.reason_codes,
        "details_schema": request.details_schema,
    }


async def check_routing(services: Services, request: ApprovalRequest) -> None:
    """Refuse (422) what could never be decided: unknown reviewers or groups, a step
    needing more approvers than it has, details that break their own schema."""
    if request.details_schema is not None:
        problem = schemas.schema_problem(request.details_schema)
        if problem is None:
            problems = schemas.details_problems(request.details_schema, request.details)
            problem = "; ".join(problems) if problems else None
        if problem:
            raise Invalid(problem, "details_invalid")
    steps = request.routed_steps()
    if all(step.is_open_to_all for step in steps) and not request.requested_by:
        return
    names, members = await reviewers.directory(services)
    unknown_names = sorted({n for s in steps for n in s.reviewers} - names)
    unknown_groups = sorted({g for s in steps for g in s.groups} - set(members))
    problems = []
    if unknown_names:
        problems.append(f"reviewers: no reviewer named {', '.join(unknown_names)}")
    if unknown_groups:
        problems.append(f"groups: no group named {', '.join(unknown_groups)} (a group exists "
                        "once a reviewer is in it)")  # fmt: skip
    if problems:
        raise Invalid("; ".join(problems), "unknown_reviewers")
    asked_by = (request.requested_by or "").casefold()
    for number, step in enumerate(steps, start=1):
        if step.is_open_to_all:
            continue
        pool = set(step.reviewers).union(*(members[g] for g in step.groups))
        pool = {name for name in pool if name.casefold() != asked_by}
        if len(pool) < step.required_approvals:
            where = f"steps[{number - 1}]." if request.steps else ""
            raise Invalid(
                f"{where}requiredApprovals: {step.required_approvals} distinct approvals can "
                f"never come from {len(pool)} eligible reviewer(s) "
                f"({eligibility.describe(step.reviewers, step.groups)}"
                f"{', without the requester' if asked_by else ''})",
                "not_enough_reviewers",
            )


async def _by_key(services: Services, key: str, request_hash: str | None) -> Approval | None:
    row = await services.approvals.by_idempotency_key(key)
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise Conflict(
            "Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        )
    return services.approvals.model(row)


async def get(services: Services, approval_id: str) -> Approval:
    """The approval now: one read exactly at or past its deadline expires it first, rather
    than wait for the sweep. :class:`NotFound` for an unknown id."""
    approval = await services.approvals.get(approval_id)
    if approval is None:
        raise NotFound("approval", approval_id)
    if not approval.is_decided and approval.expires_at and approval.expires_at <= utcnow():
        return await expire(services, approval_id) or await get(services, approval_id)
    return approval


async def decide(services: Services, approval_id: str, decision: Decision) -> Approval:
    """Record a decision exactly once, with its event, deliveries and callback; then wake.

    :class:`NotFound` for an unknown id, :class:`AlreadyDecided` when another decision
    won (or the approval expired first); in both cases nothing is written.
    """
    await get(services, approval_id)  # expires it if its time is up: then it is decided
    store = services.approvals
    async with write(store.engine) as conn:
        row = await store.lock_pending(conn, approval_id)
        if row is None:
            raise await _not_pending(services, conn, approval_id)
        approval = await _conclude(conn, services, row, decision)
    wake(services, approval_id)
    return approval


async def _conclude(
    conn: AsyncConnection, services: Services, row: RowMapping, decision: Decision
) -> Approval:
    """The final outcome, in the caller's transaction: the decision, its lifecycle event
    with the deliveries it causes, the callback (once), and the cross-process notify."""
    store = services.approvals
    decided = await store.record_decision(conn, row["id"], decision)
    if decided is None:  # the caller holds the row lock: only a bug gets here
        raise AlreadyDecided(store.model(row))
    approval = store.model(decided)
    await events.publish_in(conn, lifecycle_event(event_type(decision), approval))
    await _queue_callback(conn, decided, approval)
    await notifications.decided(conn, services, approval)
    await store.notify(conn, approval.id)
    return approval


async def _queue_callback(conn: AsyncConnection, row: RowMapping, approval: Approval) -> None:
    if row["callback_url"]:  # the model's URL is masked; the stored one has the password
        await outbox.enqueue(
            conn,
            kind=DeliveryKind.CALLBACK,
            subject_id=approval.id,
            url=row["callback_url"],
            payload=callback_body(approval),
        )


async def review(
    services: Services,
    approval_id: str,
    body: DecisionRequest,
    who: Principal,
    link: str | None = None,
) -> Approval:
    """A reviewer's approve or reject, under every rule of who may decide.

    :class:`Forbidden` (nothing written) when the reviewer may not decide it now: not
    named, not in a listed group, the requester, or deactivated. A reject rejects at once.
    An approve counts toward the open step; the last step satisfied approves. The same
    reviewer approving twice: :class:`Conflict`. An edit (or another choice of options)
    restarts the open step's count with the editor's approval. All of it happens under
    the approval's row lock, so concurrent approvals are each counted exactly once.

    ``link``: the nonce of the signed decision link this comes from; it is recorded with
    the decision, so the link works once (a second use, even at the same time, is refused).
    """
    reviewer = await reviewers.lookup(services, who.name)
    await get(services, approval_id)  # expires it if its time is up: then it is decided
    store = services.approvals
    async with write(store.engine) as conn:
        row = await store.lock_pending(conn, approval_id)
        if row is None:
            raise await _not_pending(services, conn, approval_id)
        now = store.model(row)
        if link is not None and await links.used(store.engine, link, conn):
            raise LinkRefused(USED_LINK, "link_used")
        if (why := eligibility.refusal(now, reviewer)) is not None:
            raise Forbidden(why, "not_eligible")
        if (problem := eligibility.reason_problem(now, body.reason_code)) is not None:
            raise Invalid(problem)
        if body.decision == "reject":
            decision = Decision(
                status=ApprovalStatus.REJECTED,
                reason=DecisionReason.REVIEWER,
                decided_by=who.name,
                note=body.note,
                reason_code=body.reason_code,
            )
            approval = await _conclude(conn, services, row, decision)
        else:
            approval = await _approve(conn, services, row, now, body, who.name)
        if link is not None:
            await links.use(conn, link, approval_id, who.name, body.decision)
    wake(services, approval_id)
    return approval


async def _approve(
    conn: AsyncConnection,
    services: Services,
    row: RowMapping,
    now: Approval,
    body: DecisionRequest,
    name: str,
) -> Approval:
    store = services.approvals
    if (why := eligibility.already_approved(now, name)) is not None:
        raise Conflict(why, "already_approved")
    chosen = body.chosen_options or now.chosen_options
    if (problem := eligibility.options_problem(now, chosen)) is not None:
        raise Invalid(problem)
    details = row["modified_details"] if row["modified_details"] is not None else row["details"]
    edited = body.modified_details is not None and body.modified_details != details
    if edited and isinstance(row["details_schema"], dict):
        problems = schemas.details_problems(
            row["details_schema"], body.modified_details, "modifiedDetails"
        )
        if problems:
            raise Invalid("; ".join(problems), "details_invalid")
    step = eligibility.open_step(now)
    index = step.number - 1
    recorded = stored_recorded(row)
    if edited or (chosen != now.chosen_options and now.chosen_options is not None):
        recorded = eligibility.restart(recorded, step.number)
    recorded.append(
        RecordedApproval(
            reviewer=name,
            at=utcnow(),
            note=body.note,
            step=index + 1,
            chosen_options=chosen,
            reason_code=body.reason_code,
            edited=edited,
        ).to_wire(exclude_none=True)
    )
    modified = body.modified_details if edited else row["modified_details"]
    last = step.number == len(now.steps)
    satisfied = eligibility.counted(recorded, step.number) >= step.required_approvals
    values = {
        "recorded": recorded,
        "modified_details": modified,
        "chosen_options": chosen,
        "edit_round": (row["edit_round"] or 0) + (1 if edited else 0),
        "current_step": index + 1 if satisfied and not last else index,
    }
    if satisfied and not last:  # the next step's reviewers get their own reminder time
        values["remind_at"] = notifications.remind_at(services)
    row = await store.save_progress(conn, row["id"], values)
    if satisfied and last:
        decision = Decision(
            status=ApprovalStatus.APPROVED,
            reason=DecisionReason.REVIEWER,
            decided_by=name,
            note=body.note,
            modified_details=modified,
            chosen_options=chosen,
            reason_code=body.reason_code,
        )
        return await _conclude(conn, services, row, decision)
    approval = store.model(row)
    if satisfied:  # the next step opens: subscribers see the progress, its reviewers hear
        await events.publish_in(conn, lifecycle_event("approval_step_approved", approval))
        await notifications.opened(conn, services, approval, "step")
    await store.notify(conn, approval.id)
    return approval


async def _not_pending(services: Services, conn: AsyncConnection, approval_id: str) -> Exception:
    current = await services.approvals.row(approval_id, conn)
    if current is None:
        return NotFound("approval", approval_id)
    return AlreadyDecided(services.approvals.model(current))


async def cancel(
    services: Services, approval_id: str, who: Principal, reason: str | None = None
) -> Approval:
    """The asker withdraws a pending approval: it reads REJECTED with reason CANCELLED.

    Only the key that submitted it (keys are told apart by name, so a rotated key keeps
    its approvals) or an admin key may: one pipeline cannot withdraw another's request.
    """
    owner = await services.approvals.created_by(approval_id)
    if owner is None:
        raise NotFound("approval", approval_id)
    if who.kind != "admin" and owner != who.name:
        raise Forbidden("only the API key that submitted this approval may cancel it")
    decision = Decision(
        status=ApprovalStatus.REJECTED,
        reason=DecisionReason.CANCELLED,
        decided_by=who.name,
        note=reason or "Withdrawn by the requester.",
    )
    return await decide(services, approval_id, decision)


EXPIRED = Decision(
    status=ApprovalStatus.REJECTED,
    reason=DecisionReason.EXPIRED,
    decided_by=None,
    note="Expired: no reviewer decided in time.",
)


async def expire(services: Services, approval_id: str) -> Approval | None:
    """Expire one approval; ``None`` when a decision got there first."""
    store = services.approvals
    async with write(store.engine) as conn:
        row = await store.lock_pending(conn, approval_id)
        if row is None:
            return None
        decision = EXPIRED
        if row["on_expiry"] == "approve" and row["policy_rule"]:  # the policy said so
            rule = row["policy_rule"]
            decision = policy_decision(rule, True, f"Approved on expiry by policy {rule}.")
        approval = await _conclude(conn, services, row, decision)
    wake(services, approval_id)
    return approval


async def breach_slas(services: Services, limit: int = 200) -> list[Approval]:
    """The SLA sweep: each approval past its SLA is marked breached exactly once (across
    processes too), its escalation groups may decide from then on, and an
    ``approval_sla_breached`` event tells subscribers (and, later, notifications)."""
    store = services.approvals
    async with write(store.engine) as conn:
        rows = await store.breach_due(conn, limit)
        breached = [store.model(row) for row in rows]
        for approval in breached:
            await events.publish_in(conn, lifecycle_event("approval_sla_breached", approval))
            await notifications.opened(conn, services, approval, "escalated")
            await store.notify(conn, approval.id)
    if breached:
        wake(services, *(approval.id for approval in breached))
    return breached


async def remind_due(services: Services, limit: int = 200) -> list[Approval]:
    """The reminder sweep: reviewers still waited for hear again every ``--remind-after``
    seconds; each approval's reminder is taken by exactly one process."""
    upcoming = notifications.remind_at(services)
    if upcoming is None:
        return []
    store = services.approvals
    async with write(store.engine) as conn:
        rows = await store.remind_due(conn, upcoming, limit)
        reminded = [store.model(row) for row in rows]
        for approval in reminded:
            await notifications.opened(conn, services, approval, "reminder")
    if reminded:
        services.worker.kick()
    return reminded


async def expire_due(services: Services, limit: int = 200) -> list[Approval]:
    """The sweep: expire what is past its deadline; each row by exactly one caller."""
    expired = []
    for approval_id in await services.approvals.due_ids(limit):
        approval = await expire(services, approval_id)
        if approval is not None:
            expired.append(approval)
    return expired


def event_type(decision: Decision) -> str:
    if decision.reason is DecisionReason.EXPIRED:
        return "approval_expired"
    if decision.reason is DecisionReason.CANCELLED:
        return "approval_cancelled"
    return (
        "approval_approved" if decision.status is ApprovalStatus.APPROVED else "approval_rejected"
    )


def lifecycle_event(kind: str, approval: Approval) -> NewEvent:
    """Approvals are events too, so teams can subscribe webhooks to decisions."""
    return NewEvent(type=kind, data=approval.to_wire(), source="approvals", subject_id=approval.id)


def callback_body(approval: Approval) -> str:
    payload = CallbackPayload(
        approval_id=approval.id,
        status="approved" if approval.status is ApprovalStatus.APPROVED else "rejected",
        modified_details=approval.modified_details,
        decision_note=approval.decision_note,
        details=approval.details,
        decision_reason_code=approval.decision_reason_code,
        decided_by=approval.decided_by,
        decided_at=approval.decided_at,
        chosen_options=approval.chosen_options,
        reason_code=approval.reason_code,
    )
    body = payload.to_wire()
    for extension in ("chosenOptions", "reasonCode"):  # the seed's shape when unused
        if body[extension] is None:
            del body[extension]
    return json.dumps(body, separators=(",", ":"))
