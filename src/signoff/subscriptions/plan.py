"""Plan and apply: what would change between a spec and a live account, then change it.

Written once as sans-I/O steps (like the clients), so the CLI, the Airflow operator and
the Prefect task share one engine, sync or async.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from signoff.client._transport import Step
from signoff.client.errors import SignoffError
from signoff.client.webhooks import WebhookCalls, WorkflowCalls
from signoff.models.webhooks import Webhook
from signoff.models.workflows import Workflow
from signoff.secrets import SECRET, mask_field, mask_url
from signoff.subscriptions.spec import MANAGED_HEADER, Spec, WebhookSpec, WorkflowSpec

MASK = SECRET
"""What a secret reads in a plan: the one rule of :mod:`signoff.secrets`."""
Kind = Literal["webhook", "workflow"]


class FieldChange(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class Change(BaseModel):
    action: Literal["create", "update", "delete", "noop"]
    kind: Kind
    name: str
    id: str | None = None
    managed: bool = True
    changes: list[FieldChange] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
    """What will be sent (secrets included): never printed or serialised."""


class Unmanaged(BaseModel):
    """Exists remotely, is not in the file and was not made from it."""

    kind: Kind
    id: str
    label: str


class Plan(BaseModel):
    changes: list[Change]
    unmanaged: list[Unmanaged] = Field(default_factory=list)
    orphaned: list[Unmanaged] = Field(default_factory=list)
    """Made from the spec, no longer in it, kept because --prune was not given."""

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "noop"]

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    def counts(self) -> dict[str, int]:
        found = {"create": 0, "update": 0, "delete": 0, "noop": 0}
        for change in self.changes:
            found[change.action] += 1
        return found

    def summary(self) -> str:
        c = self.counts()
        return f"{c['create']} to create, {c['update']} to update, {c['delete']} to delete"


class StepResult(BaseModel):
    change: Change
    status: Literal["applied", "failed", "not applied"]
    error: str | None = None
    id: str | None = None


class ApplyResult(BaseModel):
    steps: list[StepResult]

    @property
    def ok(self) -> bool:
        return all(step.status == "applied" for step in self.steps)

    def summary(self) -> str:
        applied = sum(step.status == "applied" for step in self.steps)
        failed = [step for step in self.steps if step.status == "failed"]
        text = f"{applied} of {len(self.steps)} changes applied"
        if failed:
            text += f"; failed: {failed[0].change.kind} {failed[0].change.name}: {failed[0].error}"
        return text


class ApplyFailed(SignoffError):
    def __init__(self, result: ApplyResult) -> None:
        super().__init__(result.summary())
        self.result = result


# -- normalising both sides to comparable shapes -----------------------------------------


def _lower_keys(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def managed_name(headers: dict[str, str]) -> str | None:
    return _lower_keys(headers).get(MANAGED_HEADER.lower())


def desired_webhook(name: str, spec: WebhookSpec) -> dict[str, Any]:
    return {
        "url": spec.url,
        "active": spec.active,
        "content_type": spec.content_type,
        "event_types": list(spec.event_types),
        "headers": {**spec.headers, MANAGED_HEADER: name},
    }


def actual_webhook(remote: Webhook) -> dict[str, Any]:
    return {
        "url": remote.url,
        "active": remote.active,
        "content_type": remote.content_type,
        "event_types": list(remote.event_types),
        "headers": dict(remote.headers),
    }


def desired_workflow(name: str, spec: WorkflowSpec) -> dict[str, Any]:
    return {
        "name": name,
        "active": spec.active,
        "conditions": [c.model_dump(mode="json", exclude_none=True) for c in spec.conditions],
        "actions": [
            {
                **a.model_dump(mode="json", exclude_none=True),
                "headers": {**a.headers, MANAGED_HEADER: name},
            }
            for a in spec.actions
        ],
    }


def actual_workflow(remote: Workflow) -> dict[str, Any]:
    return {
        "name": remote.name,
        "active": remote.active,
        "conditions": [
            c.model_dump(mode="json", exclude_none=True, exclude={"id"}) for c in remote.conditions
        ],
        "actions": [
            a.model_dump(
                mode="json", exclude_none=True, exclude={"id", "workflow_action_id", "health"}
            )
            for a in remote.actions
        ],
    }


def _same(a: Any, b: Any, path: str) -> bool:
    if path.endswith("event_types") and isinstance(a, list) and isinstance(b, list):
        return sorted(a) == sorted(b)
    if path == "headers" and isinstance(a, dict) and isinstance(b, dict):
        return _lower_keys(a) == _lower_keys(b)
    return bool(a == b)


def _mask(path: str, value: Any) -> Any:
    """A field as the plan shows it: by :mod:`signoff.secrets`' rule for the field's name
    (``actions[0].signature`` is a ``signature``), so header values, signature keys and
    URL passwords never leave the plan in clear."""
    return mask_field(path.rsplit(".", 1)[-1].split("[", 1)[0], value)


def _masked_whole(headers: Any) -> Any:
    """An action's headers, shown as one masked value (not even their names)."""
    return None if headers is None else MASK


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    found: list[FieldChange] = []
    for key in after:
        old, new = before.get(key), after[key]
        if _same(old, new, key):
            continue
        if key == "headers":
            old_h, new_h = _lower_keys(old or {}), _lower_keys(new)
            for name in sorted(set(old_h) | set(new_h)):
                if old_h.get(name) != new_h.get(name):
                    found.append(
                        FieldChange(
                            field=f"headers.{name}",
                            before=MASK if name in old_h else None,
                            after=MASK if name in new_h else None,
                        )
                    )
        elif key == "actions":
            for index in range(max(len(old or []), len(new))):
                a = (old or [])[index] if index < len(old or []) else None
                b = new[index] if index < len(new) else None
                if a is None or b is None:
                    found.append(
                        FieldChange(
                            field=f"actions[{index}]",
                            before=_mask("actions", a),
                            after=_mask("actions", b),
                        )
                    )
                    continue
                for sub in sorted(set(a) | set(b)):
                    if sub == "headers":
                        if not _same(a.get(sub), b.get(sub), "headers"):
                            found.append(
                                FieldChange(
                                    field=f"actions[{index}].headers",
                                    before=_masked_whole(a.get(sub)),
                                    after=_masked_whole(b.get(sub)),
                                )
                            )
                    elif a.get(sub) != b.get(sub):
                        path = f"actions[{index}].{sub}"
                        found.append(
                            FieldChange(
                                field=path,
                                before=_mask(path, a.get(sub)),
                                after=_mask(path, b.get(sub)),
                            )
                        )
        else:
            found.append(FieldChange(field=key, before=_mask(key, old), after=_mask(key, new)))
    return found


# -- the steps ---------------------------------------------------------------------------


def read_state(
    webhooks: WebhookCalls, workflows: WorkflowCalls
) -> Step[tuple[list[Webhook], list[Workflow]]]:
    remote_webhooks = yield from webhooks.list()
    summaries = yield from workflows.list()
    remote_workflows = []
    for summary in summaries.data:
        remote_workflows.append((yield from workflows.get(summary.id)))
    return remote_webhooks, remote_workflows


def make_plan(
    spec: Spec,
    remote_webhooks: list[Webhook],
    remote_workflows: list[Workflow],
    *,
    prune: bool = False,
    prune_unmanaged: bool = False,
) -> Plan:
    changes: list[Change] = []
    unmanaged: list[Unmanaged] = []

    by_name = {m: w for w in remote_webhooks if (m := managed_name(w.headers))}
    loose = {w.url: w for w in remote_webhooks if not managed_name(w.headers)}
    for name, wanted in spec.webhooks.items():
        desired = desired_webhook(name, wanted)
        remote = by_name.pop(name, None) or loose.pop(wanted.url, None)
        if remote is None:
            changes.append(
                Change(
                    action="create",
                    kind="webhook",
                    name=name,
                    payload=desired,
                    changes=diff({}, desired),
                )
            )
            continue
        found = diff(actual_webhook(remote), desired)
        changes.append(
            Change(
                action="update" if found else "noop",
                kind="webhook",
                name=name,
                id=remote.id,
                changes=found,
                payload=desired,
            )
        )

    flows_by_name: dict[str, Workflow] = {}
    loose_flows: dict[str, Workflow] = {}
    for flow in remote_workflows:
        marks = sorted(m for a in flow.actions if (m := managed_name(a.headers)))
        if marks:
            flows_by_name[marks[0]] = flow
        else:
            loose_flows.setdefault(flow.name, flow)
    for name, wanted_flow in spec.workflows.items():
        desired = desired_workflow(name, wanted_flow)
        remote_flow = flows_by_name.pop(name, None) or loose_flows.pop(name, None)
        if remote_flow is None:
            changes.append(
                Change(
                    action="create",
                    kind="workflow",
                    name=name,
                    payload=desired,
                    changes=diff({}, desired),
                )
            )
            continue
        found = diff(actual_workflow(remote_flow), desired)
        payload = dict(desired)
        payload["actions"] = [
            {**action, "workflow_action_id": remote_flow.actions[i].id}
            if i < len(remote_flow.actions)
            else action
            for i, action in enumerate(desired["actions"])
        ]
        changes.append(
            Change(
                action="update" if found else "noop",
                kind="workflow",
                name=name,
                id=remote_flow.id,
                changes=found,
                payload=payload,
            )
        )

    orphaned: list[Unmanaged] = []
    for name, remote in by_name.items():
        if prune:
            changes.append(
                Change(
                    action="delete",
                    kind="webhook",
                    name=name,
                    id=remote.id,
                    payload={"url": remote.url},
                )
            )
        else:
            orphaned.append(Unmanaged(kind="webhook", id=remote.id, label=name))
    for name, flow in flows_by_name.items():
        if prune:
            changes.append(Change(action="delete", kind="workflow", name=name, id=flow.id))
        else:
            orphaned.append(Unmanaged(kind="workflow", id=flow.id, label=name))
    for remote in loose.values():
        if prune and prune_unmanaged:
            changes.append(
                Change(
                    action="delete",
                    kind="webhook",
                    name=mask_url(remote.url),
                    id=remote.id,
                    managed=False,
                    payload={"url": remote.url},
                )
            )
        else:
            unmanaged.append(Unmanaged(kind="webhook", id=remote.id, label=mask_url(remote.url)))
    for flow in loose_flows.values():
        if prune and prune_unmanaged:
            changes.append(
                Change(action="delete", kind="workflow", name=flow.name, id=flow.id, managed=False)
            )
        else:
            unmanaged.append(Unmanaged(kind="workflow", id=flow.id, label=flow.name))
    return _hide_secrets(
        Plan(changes=changes, unmanaged=unmanaged, orphaned=orphaned), spec.secrets
    )


def _hide(value: Any, secrets: set[str]) -> Any:
    """A string resolved from a ``${env:NAME}`` reference reads ``(secret)``, wherever it is."""
    if isinstance(value, str):
        return MASK if value in secrets else value
    if isinstance(value, dict):
        return {k: _hide(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide(v, secrets) for v in value]
    return value


def _hide_secrets(plan: Plan, secrets: set[str]) -> Plan:
    if not secrets:
        return plan
    for change in plan.changes:
        change.name = _hide(change.name, secrets)
        for field in change.changes:
            field.before, field.after = _hide(field.before, secrets), _hide(field.after, secrets)
    for item in (*plan.unmanaged, *plan.orphaned):
        item.label = _hide(item.label, secrets)
    return plan


def plan_steps(
    spec: Spec,
    webhooks: WebhookCalls,
    workflows: WorkflowCalls,
    prune: bool = False,
    prune_unmanaged: bool = False,
) -> Step[Plan]:
    remote_webhooks, remote_workflows = yield from read_state(webhooks, workflows)
    return make_plan(
        spec, remote_webhooks, remote_workflows, prune=prune, prune_unmanaged=prune_unmanaged
    )


def _apply_one(
    change: Change, webhooks: WebhookCalls, workflows: WorkflowCalls
) -> Step[str | None]:
    if change.kind == "webhook":
        if change.action == "create":
            return (yield from webhooks.create(change.payload)).id
        if change.action == "update" and change.id:
            fields = {c.field.split(".")[0] for c in change.changes}
            body = {k: v for k, v in change.payload.items() if k in fields}
            return (yield from webhooks.patch(change.id, body)).id
        if change.action == "delete" and change.id:
            yield from webhooks.delete(change.id)
            return change.id
    else:
        if change.action == "create":
            return (yield from workflows.create(change.payload)).id
        if change.action == "update" and change.id:
            fields = {c.field.split(".")[0].split("[")[0] for c in change.changes}
            body = {k: v for k, v in change.payload.items() if k in fields}
            return (yield from workflows.update(change.id, body)).id
        if change.action == "delete" and change.id:
            yield from workflows.delete(change.id)
            return change.id
    return change.id


ORDER = {"create": 1, "update": 2, "delete": 3}


def safe_order(plan: Plan) -> list[Change]:
    """Creates, then updates, then deletes, so nothing is removed before what replaces it
    exists; except a webhook whose URL a create needs, which must go first (URLs are
    unique)."""
    wanted = {c.payload.get("url") for c in plan.pending if c.action in ("create", "update")}

    def rank(change: Change) -> int:
        if change.action == "delete" and change.kind == "webhook":
            return 0 if change.payload.get("url") in wanted else ORDER["delete"]
        return ORDER[change.action]

    return sorted(plan.pending, key=rank)


def apply_steps(plan: Plan, webhooks: WebhookCalls, workflows: WorkflowCalls) -> Step[ApplyResult]:
    """Carry out the plan in :func:`safe_order`; stop at the first failure and report what
    was and was not applied (the next plan picks up from there)."""
    results: list[StepResult] = []
    failed = False
    for change in safe_order(plan):
        if failed:
            results.append(StepResult(change=change, status="not applied"))
            continue
        try:
            new_id = yield from _apply_one(change, webhooks, workflows)
        except SignoffError as exc:
            failed = True
            message = getattr(exc, "error", None) or str(exc)
            results.append(StepResult(change=change, status="failed", error=message))
            continue
        results.append(StepResult(change=change, status="applied", id=new_id))
    return ApplyResult(steps=results)
