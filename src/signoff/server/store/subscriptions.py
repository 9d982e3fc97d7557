"""Webhooks and workflows as stored; conditions and actions live inside their workflow."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.models.events import Link, Links
from signoff.models.webhooks import Health, Webhook, WebhookPatch, WebhookRequest
from signoff.models.workflows import (
    Condition,
    WebhookAction,
    Workflow,
    WorkflowPatch,
    WorkflowRequest,
    WorkflowSummary,
)
from signoff.server.ids import new_id
from signoff.server.store.db import joined, reading, write
from signoff.server.store.events import Subscriber, webhook_subscriber, workflow_subscribers
from signoff.server.store.tables import endpoint_health, webhooks, workflows

MAX_PARTS = 20
"""Actions, and conditions, one workflow may hold (docs/security.md)."""


class DuplicateUrl(Exception):
    """Another webhook already has this URL (the seed's 409)."""


class TooMany(Exception):
    """The workflow already holds ``MAX_PARTS`` actions (or conditions)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_webhook_id() -> str:
    return "wh_" + secrets.token_hex(16)  # the seed's shape: wh_ + 32 hex


def links(base_url: str, path: str) -> Links:
    return Links(self=Link(href=f"{base_url}/{path}"))


def health_of(row: RowMapping | None) -> Health:
    if row is None or (row["consecutive_failures"] == 0 and row["deactivated_at"] is None):
        return Health(status="healthy")
    return Health(
        status="deactivated" if row["deactivated_at"] else "failing",
        consecutive_failures=row["consecutive_failures"],
        failing_since=row["failing_since"].isoformat() if row["failing_since"] else None,
        last_error=row["last_error"],
    )


def _condition_with_id(condition: Condition) -> dict[str, Any]:
    data = condition.to_wire()
    data["id"] = condition.id or new_id("wfc")
    return data


def _action_with_id(action: WebhookAction, keep: str | None = None) -> dict[str, Any]:
    data = action.to_wire()
    data.pop("workflow_action_id", None)
    data.pop("health", None)
    data["id"] = keep or new_id("wfa")
    return data


class SubscriptionStore:
    def __init__(self, engine: AsyncEngine, *, base_url: str) -> None:
        self.engine = engine
        self.base_url = base_url

    # -- webhooks ---------------------------------------------------------------------

    async def _health(
        self, ids: list[str], conn: AsyncConnection | None = None
    ) -> dict[str, RowMapping]:
        if not ids:
            return {}
        async with reading(self.engine, conn) as own:
            rows = await own.execute(
                select(endpoint_health).where(endpoint_health.c.target_id.in_(ids))
            )
            return {row["target_id"]: row for row in rows.mappings()}

    def _webhook(self, row: RowMapping, health: RowMapping | None) -> Webhook:
        return Webhook(
            id=row["id"],
            url=row["url"],
            active=row["active"],
            headers=row["headers"],
            content_type=row["content_type"],
            event_types=row["event_types"],
            health=health_of(health),
            links=links(self.base_url, f"webhooks/{row['id']}"),
        )

    async def list_webhooks(self) -> list[Webhook]:
        async with self.engine.connect() as conn:
            rows = (
                (await conn.execute(select(webhooks).order_by(webhooks.c.created_at)))
                .mappings()
                .all()
            )
        health = await self._health([row["id"] for row in rows])
        return [self._webhook(row, health.get(row["id"])) for row in rows]

    async def get_webhook(
        self, webhook_id: str, conn: AsyncConnection | None = None
    ) -> Webhook | None:
        async with reading(self.engine, conn) as own:
            row = (
                (await own.execute(select(webhooks).where(webhooks.c.id == webhook_id)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            return self._webhook(row, (await self._health([webhook_id], own)).get(webhook_id))

    async def create_webhook(
        self, body: WebhookRequest, conn: AsyncConnection | None = None
    ) -> Webhook:
        webhook_id = new_webhook_id()
        async with joined(self.engine, conn) as own:
            try:
                await own.execute(
                    webhooks.insert().values(
                        id=webhook_id,
                        created_at=utcnow(),
                        **body.model_dump(mode="json"),
                    )
                )
            except IntegrityError:
                raise DuplicateUrl(body.url) from None
            created = await self.get_webhook(webhook_id, own)
        assert created is not None
        return created

    async def update_webhook(
        self, webhook_id: str, body: WebhookRequest | WebhookPatch
    ) -> Webhook | None:
        values = body.model_dump(mode="json", exclude_unset=isinstance(body, WebhookPatch))
        values = {k: v for k, v in values.items() if v is not None}
        try:
            async with write(self.engine) as conn:
                result = await conn.execute(
                    update(webhooks).where(webhooks.c.id == webhook_id).values(**values)
                    if values
                    else select(webhooks.c.id).where(webhooks.c.id == webhook_id)
                )
                found = result.rowcount if values else len(result.all())
                if values.get("active"):  # switched back on: forget its failures
                    await conn.execute(
                        delete(endpoint_health).where(endpoint_health.c.target_id == webhook_id)
                    )
        except IntegrityError:
            raise DuplicateUrl(values.get("url", "")) from None
        if not found:
            return None
        return await self.get_webhook(webhook_id)

    async def webhook_target(self, webhook_id: str) -> Subscriber | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)))
                .mappings()
                .first()
            )
        return None if row is None else webhook_subscriber(row)

    async def workflow_targets(self, workflow_id: str) -> list[Subscriber] | None:
        """Every action of the workflow, for its test endpoint (conditions aside)."""
        row = await self._row(workflow_id)
        return None if row is None else workflow_subscribers(row, deactivated=set())

    async def delete_webhook(self, webhook_id: str) -> bool:
        async with write(self.engine) as conn:
            result = await conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
        return result.rowcount == 1

    # -- workflows --------------------------------------------------------------------

    def _workflow(self, row: RowMapping, health: dict[str, RowMapping]) -> Workflow:
        actions = [
            WebhookAction.model_validate({**action, "health": health_of(health.get(action["id"]))})
            for action in row["actions"]
        ]
        return Workflow.model_validate(
            {
                "id": row["id"],
                "name": row["name"],
                "active": row["active"],
                "conditions": row["conditions"],
                "actions": [a.model_dump(mode="json", exclude_none=True) for a in actions],
                "_links": links(self.base_url, f"workflows/{row['id']}").to_wire(),
            }
        )

    async def list_workflows(self) -> list[WorkflowSummary]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(workflows.c.id, workflows.c.name, workflows.c.active).order_by(
                    workflows.c.created_at
                )
            )
            return [
                WorkflowSummary(
                    id=row.id,
                    name=row.name,
                    active=row.active,
                    links=links(self.base_url, f"workflows/{row.id}"),
                )
                for row in rows
            ]

    async def _row(
        self, workflow_id: str, conn: AsyncConnection | None = None, *, lock: bool = False
    ) -> RowMapping | None:
        """``lock``: hold the row until the transaction ends (PostgreSQL ``FOR UPDATE``;
        SQLite's writers are already one at a time), so a read-modify-write of the lists
        inside it cannot lose a concurrent writer's change."""
        query = select(workflows).where(workflows.c.id == workflow_id)
        if lock:
            query = query.with_for_update()
        async with reading(self.engine, conn) as own:
            return (await own.execute(query)).mappings().first()

    async def get_workflow(
        self, workflow_id: str, conn: AsyncConnection | None = None
    ) -> Workflow | None:
        async with reading(self.engine, conn) as own:
            row = await self._row(workflow_id, own)
            if row is None:
                return None
            health = await self._health([a["id"] for a in row["actions"]], own)
        return self._workflow(row, health)

    async def create_workflow(
        self, body: WorkflowRequest, conn: AsyncConnection | None = None
    ) -> Workflow:
        workflow_id = new_id("wf")
        async with joined(self.engine, conn) as own:
            await own.execute(
                workflows.insert().values(
                    id=workflow_id,
                    name=body.name,
                    active=body.active,
                    conditions=[_condition_with_id(c) for c in body.conditions],
                    actions=[_action_with_id(a) for a in body.actions],
                    created_at=utcnow(),
                )
            )
            created = await self.get_workflow(workflow_id, own)
        assert created is not None
        return created

    async def patch_workflow(self, workflow_id: str, body: WorkflowPatch) -> Workflow | None:
        async with write(self.engine) as conn:
            row = await self._row(workflow_id, conn, lock=True)
            if row is None:
                return None
            values: dict[str, Any] = {}
            if body.name is not None:
                values["name"] = body.name
            if body.active is not None:
                values["active"] = body.active
            if body.conditions is not None:
                values["conditions"] = [_condition_with_id(c) for c in body.conditions]
            if body.actions is not None:
                known = {a["id"] for a in row["actions"]}
                values["actions"] = [
                    _action_with_id(a, keep=a.workflow_action_id or a.id)
                    if (a.workflow_action_id or a.id) in known
                    else _action_with_id(a)
                    for a in body.actions
                ]
            if values:
                await conn.execute(
                    update(workflows).where(workflows.c.id == workflow_id).values(**values)
                )
            return await self.get_workflow(workflow_id, conn)

    async def delete_workflow(self, workflow_id: str) -> bool:
        async with write(self.engine) as conn:
            result = await conn.execute(delete(workflows).where(workflows.c.id == workflow_id))
        return result.rowcount == 1

    async def _change_part(
        self,
        conn: AsyncConnection,
        workflow_id: str,
        part: str,
        change: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None],
    ) -> bool | None:
        """Apply ``change`` to the locked workflow's list; ``None``: no such workflow,
        ``False``: ``change`` found nothing to change (it answered ``None``)."""
        row = await self._row(workflow_id, conn, lock=True)
        if row is None:
            return None
        items = change(list(row[part]))
        if items is None:
            return False
        await conn.execute(
            update(workflows).where(workflows.c.id == workflow_id).values(**{part: items})
        )
        return True

    async def add_part(
        self,
        workflow_id: str,
        part: str,
        item: dict[str, Any],
        conn: AsyncConnection | None = None,
    ) -> str | None:
        """Append an action or condition; its new id, or ``None`` for an unknown workflow.

        Raises :class:`TooMany` when the workflow already holds ``MAX_PARTS`` of them.
        """

        def append(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if len(items) >= MAX_PARTS:
                raise TooMany(part)
            return [*items, item]

        async with joined(self.engine, conn) as own:
            found = await self._change_part(own, workflow_id, part, append)
        return None if found is None else str(item["id"])

    async def replace_part(
        self, workflow_id: str, part: str, item_id: str, item: dict[str, Any]
    ) -> bool | None:
        """``None``: no such workflow; ``False``: no such action/condition."""

        def replace(items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            if not any(existing["id"] == item_id for existing in items):
                return None
            return [{**item, "id": item_id} if e["id"] == item_id else e for e in items]

        async with write(self.engine) as conn:
            return await self._change_part(conn, workflow_id, part, replace)

    async def remove_part(self, workflow_id: str, part: str, item_id: str) -> bool | None:
        def remove(items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            kept = [existing for existing in items if existing["id"] != item_id]
            return None if len(kept) == len(items) else kept

        async with write(self.engine) as conn:
            return await self._change_part(conn, workflow_id, part, remove)


def condition_item(condition: Condition) -> dict[str, Any]:
    return _condition_with_id(condition)


def action_item(action: WebhookAction) -> dict[str, Any]:
    return _action_with_id(action)
