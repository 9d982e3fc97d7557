"""Read-only queries the reviewer pages need beyond the API's: riskiest-first, filters, history,
recent events.

They read the tables directly and build the same :class:`Approval` models as the API
(``to_model``); every write still goes through the API's code path.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, TextClause, bindparam, case, func, or_, select, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.models import Approval, ApprovalStatus, RiskLevel
from signoff.server.store.approvals import to_model
from signoff.server.store.tables import approvals, deliveries, events, policy_versions

RISK_RANK = case(
    {"critical": 4, "high": 3, "medium": 2, "low": 1},
    value=approvals.c.risk_level,
    else_=0,
)


# -- who decides, read from the JSON columns -------------------------------------------
#
# ``steps`` and ``recorded`` are JSON arrays (SQL NULL or JSON ``null`` on rows that name
# nobody). Each filter below is one correlated EXISTS over them, in the dialect's own JSON
# functions, so a page stays one query however many rows it shows. Names never need
# escaping: they are bound parameters.

_RECORDED_BY = {
    "sqlite": (
        "EXISTS (SELECT 1 FROM json_each(approvals.recorded) AS r WHERE CASE WHEN r.type = "
        "'object' THEN json_extract(r.value, '$.reviewer') END = :{name})"
    ),
    "postgresql": (
        "EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof(approvals.recorded) "
        "= 'array' THEN approvals.recorded ELSE '[]'::json END) AS r(value) "
        "WHERE r.value ->> 'reviewer' = :{name})"
    ),
}
_STEPS_NAME_GROUP = {
    "sqlite": (
        "EXISTS (SELECT 1 FROM json_each(approvals.steps) AS s, json_each(CASE WHEN s.type = "
        "'object' THEN s.value END, '$.groups') AS g WHERE g.type = 'text' AND g.value = :{name})"
    ),
    "postgresql": (
        "EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof(approvals.steps) = "
        "'array' THEN approvals.steps ELSE '[]'::json END) AS s(value), "
        "json_array_elements_text(CASE WHEN json_typeof(s.value -> 'groups') = 'array' "
        "THEN s.value -> 'groups' ELSE '[]'::json END) AS g(value) WHERE g.value = :{name})"
    ),
}
_OPEN_STEP_NAMES = {  # {field}: reviewers | groups of the open step (``current_step``, 0-based)
    "sqlite": (
        "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_type(approvals.steps) = 'array' THEN "
        "approvals.steps END, '$[' || COALESCE(approvals.current_step, 0) || '].{field}') AS n "
        "WHERE n.type = 'text' AND n.value IN :{name})"
    ),
    "postgresql": (
        "EXISTS (SELECT 1 FROM json_array_elements_text(CASE WHEN json_typeof(approvals.steps "
        "-> COALESCE(approvals.current_step, 0) -> '{field}') = 'array' THEN approvals.steps "
        "-> COALESCE(approvals.current_step, 0) -> '{field}' ELSE '[]'::json END) AS n(value) "
        "WHERE n.value IN :{name})"
    ),
}
_ESCALATED_TO = {  # an SLA breached, and its escalation names one of the groups
    "sqlite": (
        "approvals.sla_breached_at IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(CASE WHEN "
        "json_type(approvals.escalated_groups) = 'array' THEN approvals.escalated_groups END) "
        "AS e WHERE e.type = 'text' AND e.value IN :{name})"
    ),
    "postgresql": (
        "approvals.sla_breached_at IS NOT NULL AND EXISTS (SELECT 1 FROM "
        "json_array_elements_text(CASE WHEN json_typeof(approvals.escalated_groups) = 'array' "
        "THEN approvals.escalated_groups ELSE '[]'::json END) AS e(value) "
        "WHERE e.value IN :{name})"
    ),
}


def _sql(templates: dict[str, str], dialect: str, **names: str) -> str:
    return templates["postgresql" if dialect == "postgresql" else "sqlite"].format(**names)


def approved_by(dialect: str, reviewer: str) -> ColumnElement[bool]:
    """Decided by ``reviewer``, or with an approve of theirs recorded (superseded too)."""
    recorded = text(_sql(_RECORDED_BY, dialect, name="f_reviewer")).bindparams(f_reviewer=reviewer)
    return or_(approvals.c.decided_by == reviewer, recorded)


def steps_name_group(dialect: str, group: str) -> TextClause:
    """Some step of the approval names ``group``."""
    return text(_sql(_STEPS_NAME_GROUP, dialect, name="f_group")).bindparams(f_group=group)


def open_step_names(dialect: str, reviewer: str, groups: Collection[str]) -> ColumnElement[bool]:
    """The open step names ``reviewer`` or one of ``groups``, or a breached SLA escalated
    to one of ``groups``: the candidates of "waiting for you", which
    ``eligibility.is_waiting_for`` then decides."""
    named = text(_sql(_OPEN_STEP_NAMES, dialect, field="reviewers", name="w_name")).bindparams(
        bindparam("w_name", [reviewer], expanding=True)
    )
    if not groups:
        return or_(named)
    in_group = text(_sql(_OPEN_STEP_NAMES, dialect, field="groups", name="w_groups")).bindparams(
        bindparam("w_groups", sorted(groups), expanding=True)
    )
    escalated = text(_sql(_ESCALATED_TO, dialect, name="w_escalated")).bindparams(
        bindparam("w_escalated", sorted(groups), expanding=True)
    )
    return or_(named, in_group, escalated)


@dataclass(frozen=True)
class Filters:
    status: ApprovalStatus | None = ApprovalStatus.PENDING
    action: str | None = None
    risk: RiskLevel | None = None
    reviewer: str | None = None
    """Decided by them, or any approve of theirs recorded."""
    sort: str = "risk"  # "risk": riskiest, then newest | "newest"
    group: str | None = None
    """Some step names the group."""

    def apply(self, query: Select[Any], dialect: str) -> Select[Any]:
        if self.status is not None:
            query = query.where(approvals.c.status == self.status.value)
        if self.action:
            query = query.where(approvals.c.action == self.action)
        if self.risk is not None:
            query = query.where(approvals.c.risk_level == self.risk.value)
        if self.reviewer:
            query = query.where(approved_by(dialect, self.reviewer))
        if self.group:
            query = query.where(steps_name_group(dialect, self.group))
        return query


@dataclass(frozen=True)
class Page:
    items: list[Approval]
    total: int
    created_by: dict[str, str]
    """Approval id -> name of the API key that asked (when no ``source`` says more)."""


def page_of(rows: Sequence[RowMapping], base_url: str, total: int) -> Page:
    return Page(
        [to_model(row, base_url) for row in rows],
        total,
        {row["id"]: row["created_by"] for row in rows if row["created_by"]},
    )


def _order(filters: Filters) -> list[Any]:
    if filters.sort == "risk":
        return [RISK_RANK.desc(), approvals.c.created_at.desc(), approvals.c.id.desc()]
    return [approvals.c.created_at.desc(), approvals.c.id.desc()]


async def inbox(
    engine: AsyncEngine,
    base_url: str,
    filters: Filters,
    limit: int,
    leave_out: Collection[str] = (),
) -> Page:
    """The approvals the filters select, but those in ``leave_out`` (shown elsewhere)."""
    dialect = engine.dialect.name
    query = filters.apply(select(approvals), dialect)
    counting = filters.apply(select(func.count()).select_from(approvals), dialect)
    if leave_out:
        query = query.where(approvals.c.id.not_in(list(leave_out)))
        counting = counting.where(approvals.c.id.not_in(list(leave_out)))
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(*_order(filters)).limit(limit))).mappings().all()
        total = int(await conn.scalar(counting) or 0)
    return page_of(rows, base_url, total)


async def open_for(
    engine: AsyncEngine,
    base_url: str,
    filters: Filters,
    reviewer: str,
    groups: Collection[str],
    limit: int,
) -> Page:
    """Pending approvals whose open step names ``reviewer`` or one of ``groups`` (and match
    the filters), in the inbox's order: what may be waiting for them."""
    dialect = engine.dialect.name
    pending = Filters(
        ApprovalStatus.PENDING, filters.action, filters.risk, filters.reviewer, filters.sort,
        filters.group,
    )  # fmt: skip
    query = (
        pending.apply(select(approvals), dialect)
        .where(open_step_names(dialect, reviewer, groups))
        .order_by(*_order(filters))
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return page_of(rows, base_url, len(rows))


async def history(
    engine: AsyncEngine, base_url: str, filters: Filters, limit: int, offset: int
) -> Page:
    """Decided approvals, the latest decision first."""
    dialect = engine.dialect.name
    decided = approvals.c.status != ApprovalStatus.PENDING.value
    query = (
        filters.apply(select(approvals).where(decided), dialect)
        .order_by(approvals.c.decided_at.desc(), approvals.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    counting = filters.apply(select(func.count()).select_from(approvals).where(decided), dialect)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
        total = int(await conn.scalar(counting) or 0)
    return page_of(rows, base_url, total)


async def choices(engine: AsyncEngine) -> tuple[list[str], list[str]]:
    """The actions and reviewers seen so far, for the filter menus."""
    async with engine.connect() as conn:
        actions = await conn.scalars(
            select(approvals.c.action).distinct().order_by(approvals.c.action).limit(200)
        )
        reviewers = await conn.scalars(
            select(approvals.c.decided_by)
            .where(approvals.c.decided_by.is_not(None))
            .distinct()
            .order_by(approvals.c.decided_by)
            .limit(200)
        )
        return list(actions), [name for name in reviewers if name]


async def created_by(engine: AsyncEngine, approval_id: str) -> str | None:
    async with engine.connect() as conn:
        value = await conn.scalar(
            select(approvals.c.created_by).where(approvals.c.id == approval_id)
        )
    return str(value) if value else None


# -- policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyNote:
    """What the pages say about the policy that routed or decided an approval, beyond
    the approval's own fields: the rule's condition, and where its SLA escalates to
    (stored from the start; the approval reads it only once the SLA is breached)."""

    condition: str | None = None
    escalate_to: tuple[str, ...] = ()
    within: str | None = None
    decides: bool | None = None
    """The rule decides approvals itself (``None``: its version is not stored)."""


def _rule_of(document: Any, rule: str) -> dict[str, Any] | None:
    policies = document.get("policies") if isinstance(document, dict) else None
    for spec in policies if isinstance(policies, list) else []:
        if isinstance(spec, dict) and spec.get("name") == rule:
            return spec
    return None


def _note(spec: dict[str, Any] | None, escalate_to: Any) -> PolicyNote:
    if spec is None:
        return PolicyNote(escalate_to=tuple(_texts(escalate_to)))
    sla = spec.get("sla") if isinstance(spec.get("sla"), dict) else {}
    within = sla.get("within") if sla else None
    return PolicyNote(
        condition=str(spec.get("when", "true")),
        escalate_to=tuple(_texts(escalate_to)),
        within=str(within) if within is not None else None,
        decides=spec.get("decide") is not None,
    )


def _texts(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


async def policy_notes(engine: AsyncEngine, approval_ids: Collection[str]) -> dict[str, PolicyNote]:
    """For each of the approvals a policy routed or decided, its :class:`PolicyNote`
    (two queries however many approvals: their rows, then the versions they name)."""
    if not approval_ids:
        return {}
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    approvals.c.id,
                    approvals.c.policy_version,
                    approvals.c.policy_rule,
                    approvals.c.escalated_groups,
                )
                .where(approvals.c.id.in_(list(approval_ids)))
                .where(approvals.c.policy_rule.is_not(None))
            )
        ).all()
        versions = {row.policy_version for row in rows if row.policy_version is not None}
        documents: dict[int, Any] = {}
        if versions:
            found = await conn.execute(
                select(policy_versions.c.version, policy_versions.c.document).where(
                    policy_versions.c.version.in_(sorted(versions))
                )
            )
            documents = {version: document for version, document in found}
    return {
        row.id: _note(
            _rule_of(documents.get(row.policy_version), row.policy_rule), row.escalated_groups
        )
        for row in rows
    }


# -- webhooks and workflows -----------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    id: str
    type: str
    source: str
    created_at: datetime
    states: dict[str, int]
    """Deliveries of this event by state (``pending``, ``delivered``, ``failed``)."""

    @property
    def deliveries(self) -> int:
        return sum(self.states.values())


async def recent_events(
    engine: AsyncEngine, limit: int, event_type: str | None = None
) -> tuple[list[EventRow], int]:
    """The newest events (optionally of one type), with their deliveries counted by state."""
    query = select(events.c.id, events.c.type, events.c.source, events.c.created_at)
    counting = select(func.count()).select_from(events)
    if event_type:
        query = query.where(events.c.type == event_type)
        counting = counting.where(events.c.type == event_type)
    query = query.order_by(events.c.created_at.desc(), events.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        total = int(await conn.scalar(counting) or 0)
        states: dict[str, dict[str, int]] = {row.id: {} for row in rows}
        if states:
            found = await conn.execute(
                select(deliveries.c.subject_id, deliveries.c.state, func.count())
                .where(deliveries.c.subject_id.in_(list(states)))
                .where(deliveries.c.kind != "callback")
                .group_by(deliveries.c.subject_id, deliveries.c.state)
            )
            for subject_id, state, count in found:
                states[subject_id][state] = int(count)
    return [
        EventRow(row.id, row.type, row.source, row.created_at, states[row.id]) for row in rows
    ], total


async def event_types_seen(engine: AsyncEngine) -> list[str]:
    """The event types published so far, for the filter menu."""
    async with engine.connect() as conn:
        found = await conn.scalars(
            select(events.c.type).distinct().order_by(events.c.type).limit(200)
        )
        return list(found)


@dataclass(frozen=True)
class DeliveryRef:
    id: str
    kind: str
    state: str


async def delivery_ref(engine: AsyncEngine, delivery_id: str) -> DeliveryRef | None:
    """What a replay needs to know of a delivery: that it exists, its kind and state."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(deliveries.c.id, deliveries.c.kind, deliveries.c.state).where(
                    deliveries.c.id == delivery_id
                )
            )
        ).first()
    return None if row is None else DeliveryRef(row.id, row.kind, row.state)
