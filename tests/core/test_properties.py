"""Properties, for generated inputs: wire models round-trip, and the planner converges.

* Every wire model survives ``model -> to_wire() -> JSON -> model_validate`` unchanged.
* For any subscription spec, applying the plan and planning again plans nothing: the
  remote objects the API would hold after ``apply`` (built from the very payloads the
  plan sends) leave ``make_plan`` with no pending change.
* A plan's JSON never carries a secret: header values, signature keys and any value
  resolved from a ``${env:NAME}`` reference read ``(secret)``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from signoff.models import Approval, ApprovalRequest, ApprovalStatus, RiskLevel
from signoff.models.approvals import DecisionReason, Source
from signoff.models.events import EVENT_CATALOG, EVENT_TYPES, Link, Links
from signoff.models.webhooks import Health, Webhook
from signoff.models.workflows import (
    EntityCondition,
    EventCondition,
    ProcessingChannelCondition,
    Signature,
    WebhookAction,
    Workflow,
)
from signoff.subscriptions.plan import (
    MASK,
    desired_webhook,
    desired_workflow,
    make_plan,
)
from signoff.subscriptions.spec import ActionSpec, Spec, WebhookSpec, WorkflowSpec

settings.register_profile(
    "signoff-properties",
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROPERTIES = settings.get_profile("signoff-properties")
M = TypeVar("M")

# -- building blocks ----------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8"), max_size=30)
short = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(text, json_values, max_size=5)
storable_objects = json_objects.filter(lambda value: "\\u0000" not in json.dumps(value))
"""What a request may send: no NUL anywhere (PostgreSQL text cannot hold one)."""
timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
"""On the wire a timestamp has milliseconds (``…00.123Z``): what the wire can carry."""
urls = st.builds(
    lambda host, path: f"https://{host}.example.com/{path}",
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789/", max_size=20),
)
header_names = st.sampled_from(["Authorization", "X-Token", "X-Tenant", "Api-Key"])
secrets = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=24).map(
    lambda s: f"SECRET{s}"
)
"""Upper case: nothing else generated here can contain one by chance."""
event_types = st.lists(st.sampled_from(sorted(EVENT_TYPES)), min_size=1, max_size=5, unique=True)
links = st.builds(lambda href: Links(self=Link(href=href)), urls)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def model(cls: type[M], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[M]:
    """``cls(**fields)`` drawn field by field, and nothing else (``st.builds`` would also
    fill in the camelCase aliases pydantic puts in the signature)."""
    return st.fixed_dictionaries(fields).map(lambda drawn: cls(**drawn))


# -- wire models --------------------------------------------------------------------------

sources = model(
    Source,
    system=optional(st.sampled_from(["airflow", "prefect"])),
    pipeline=optional(text),
    run=optional(text),
    task=optional(text),
    url=optional(urls),
)
approvals = model(
    Approval,
    id=short.map(lambda s: f"req_{s}"),
    status=st.sampled_from(ApprovalStatus),
    action=text,
    summary=text,
    details=json_objects,
    risk_level=st.sampled_from(RiskLevel),
    risk_score=optional(st.floats(0, 1)),
    justification=optional(text),
    modified_details=optional(json_objects),
    response_notes=optional(text),
    decision_reason_code=optional(st.sampled_from(DecisionReason)),
    decision_note=optional(text),
    auto_decided=st.booleans(),
    auto_decision_rule_name=optional(text),
    decided_at=optional(timestamps),
    decided_by=optional(text),
    retryable=st.booleans(),
    review_url=optional(urls),
    created_at=timestamps,
    expires_at=optional(timestamps),
    callback_url=optional(urls),
    source=optional(sources),
    trace=optional(json_objects),
)
approval_requests = model(
    ApprovalRequest,
    action=text.filter(bool),
    summary=text.filter(bool),
    details=storable_objects,
    risk_level=optional(st.sampled_from(RiskLevel)),
    risk_score=optional(st.floats(0, 1)),
    justification=optional(text),
    callback_url=optional(urls),
    trace=optional(storable_objects),
    source=optional(sources),
    expires_in_seconds=optional(st.integers(1, 90 * 24 * 3600)),
)
healths = model(
    Health,
    status=st.sampled_from(["healthy", "failing", "deactivated"]),
    consecutive_failures=st.integers(0, 100),
    failing_since=optional(text),
    last_error=optional(text),
)
header_maps = st.dictionaries(header_names, short, max_size=3)
webhooks = model(
    Webhook,
    id=short.map(lambda s: f"wh_{s}"),
    url=urls,
    active=st.booleans(),
    headers=header_maps,
    event_types=event_types,
    health=optional(healths),
    links=optional(links),
)
event_conditions = model(
    EventCondition,
    id=optional(short),
    events=st.dictionaries(
        st.sampled_from(sorted(EVENT_CATALOG)),
        st.lists(st.sampled_from(sorted(EVENT_TYPES)), min_size=1, max_size=3),
        min_size=1,
        max_size=2,
    ),
)
conditions = (
    event_conditions
    | model(EntityCondition, id=optional(short), entities=st.lists(short, min_size=1))
    | model(
        ProcessingChannelCondition,
        id=optional(short),
        processing_channels=st.lists(short, min_size=1),
    )
)
signatures = model(Signature, method=st.just("HMACSHA256"), key=short)
actions = model(
    WebhookAction,
    id=optional(short),
    workflow_action_id=optional(short),
    url=urls,
    headers=header_maps,
    signature=optional(signatures),
    health=optional(healths),
)
workflows = model(
    Workflow,
    id=short.map(lambda s: f"wf_{s}"),
    name=text,
    active=st.booleans(),
    conditions=st.lists(conditions, max_size=4),
    actions=st.lists(actions, max_size=4),
    links=optional(links),
)


def through_the_wire(model: Any) -> Any:
    wire = json.loads(json.dumps(model.to_wire()))
    return type(model).model_validate(wire)


@PROPERTIES
@given(approvals)
def test_approval_round_trips(approval: Approval) -> None:
    assert through_the_wire(approval) == approval


@PROPERTIES
@given(approval_requests)
def test_approval_request_round_trips(request: ApprovalRequest) -> None:
    assert through_the_wire(request) == request


@PROPERTIES
@given(
    storable_objects,
    st.sampled_from(["\x00", "\ud800", "\udfff", float("nan"), float("inf")]),
    st.booleans(),
)
def test_a_request_never_carries_what_a_store_cannot_hold(
    details: dict[str, Any], poison: object, as_key: bool
) -> None:
    """Wherever a NUL, a lone surrogate or a non-finite number hides, the request is refused
    (a read model still accepts it: a server that sends one must not break a client)."""
    nested: dict[str, Any] = {"outer": [details, {"x": poison}]}
    if as_key and isinstance(poison, str):
        nested = {"outer": [details, {f"k{poison}": 1}]}
    with pytest.raises(ValidationError):
        ApprovalRequest(action="a", summary="s", details=nested)
    assert Approval.model_validate(
        {"id": "req_1", "status": "PENDING", "action": "a", "summary": "s",
         "details": nested, "riskLevel": "low", "createdAt": "2026-01-01T00:00:00Z"}
    ).details.keys() == {"outer"}  # fmt: skip


@PROPERTIES
@given(webhooks)
def test_webhook_round_trips(webhook: Webhook) -> None:
    assert through_the_wire(webhook) == webhook


@PROPERTIES
@given(workflows)
def test_workflow_round_trips(workflow: Workflow) -> None:
    assert through_the_wire(workflow) == workflow


# -- the planner --------------------------------------------------------------------------

spec_names = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,15}", fullmatch=True)
webhook_specs = model(
    WebhookSpec, url=urls, event_types=event_types, active=st.booleans(), headers=header_maps
)
action_specs = model(ActionSpec, url=urls, headers=header_maps, signature=optional(signatures))
workflow_specs = model(
    WorkflowSpec,
    active=st.booleans(),
    conditions=st.lists(conditions.map(lambda c: c.model_copy(update={"id": None})), max_size=3),
    actions=st.lists(action_specs, min_size=1, max_size=3),
)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """A spec whose webhooks have distinct URLs (the API refuses a second one)."""
    hooks = draw(st.dictionaries(spec_names, webhook_specs, max_size=4))
    by_url = {hook.url: name for name, hook in hooks.items()}
    hooks = {name: hook for name, hook in hooks.items() if by_url[hook.url] == name}
    flows = draw(st.dictionaries(spec_names, workflow_specs, max_size=4))
    return Spec(webhooks=hooks, workflows=flows)


def applied(spec: Spec) -> tuple[list[Webhook], list[Workflow]]:
    """What the API holds after creating everything the plan sends, with the ids it gives."""
    remote_webhooks = [
        Webhook.model_validate({**desired_webhook(name, wanted), "id": f"wh_{n}"})
        for n, (name, wanted) in enumerate(spec.webhooks.items())
    ]
    remote_workflows = []
    for n, (name, wanted) in enumerate(spec.workflows.items()):
        payload = desired_workflow(name, wanted)
        payload["id"] = f"wf_{n}"
        payload["conditions"] = [
            {**c, "id": f"wfc_{n}_{i}"} for i, c in enumerate(payload["conditions"])
        ]
        payload["actions"] = [{**a, "id": f"wfa_{n}_{i}"} for i, a in enumerate(payload["actions"])]
        remote_workflows.append(Workflow.model_validate(payload))
    return remote_webhooks, remote_workflows


@PROPERTIES
@given(specs())
def test_plan_after_apply_is_empty(spec: Spec) -> None:
    before = make_plan(spec, [], [])
    assert [c.action for c in before.pending] == ["create"] * (
        len(spec.webhooks) + len(spec.workflows)
    )
    after = make_plan(spec, *applied(spec))
    assert not after.has_changes, after.pending
    assert not after.unmanaged and not after.orphaned
    assert {c.name for c in after.changes} == {*spec.webhooks, *spec.workflows}


@PROPERTIES
@given(specs(), specs())
def test_plan_from_one_spec_to_another_then_applied_is_empty(old: Spec, new: Spec) -> None:
    """Whatever was applied before, applying the next spec converges too (with --prune)."""
    plan = make_plan(new, *applied(old), prune=True)
    kept = {c.name for c in plan.changes if c.action in ("noop", "update", "create")}
    assert kept == {*new.webhooks, *new.workflows}
    assert not make_plan(new, *applied(new), prune=True).has_changes


@st.composite
def specs_with_secrets(draw: st.DrawFn, tag: str) -> tuple[Spec, set[str], set[str]]:
    """A spec whose header values, signature keys and some URLs and entities are secrets,
    as ``loads`` leaves it: every value resolved from a reference is in ``spec.secrets``.

    Also returns every secret made, and those in header values and signature keys; each
    secret starts with ``SECRET`` + ``tag`` + a counter, so no two are the same.
    """
    made: set[str] = set()
    in_fields: set[str] = set()

    def secret(field: bool = True) -> str:
        value = draw(secrets).replace("SECRET", f"SECRET{tag}{len(made)}X", 1)
        made.add(value)
        if field:
            in_fields.add(value)
        return value

    hooks: dict[str, WebhookSpec] = {}
    for name in draw(st.lists(spec_names, max_size=3, unique=True)):
        token = secret(field=False) if draw(st.booleans()) else None
        url = f"https://hooks.example.com/{name}?token={token}" if token else None
        hooks[name] = WebhookSpec(
            url=url or draw(urls),
            event_types=draw(event_types),
            headers={draw(header_names): secret()},
        )
    flows: dict[str, WorkflowSpec] = {}
    for name in draw(st.lists(spec_names, max_size=3, unique=True)):
        flows[name] = WorkflowSpec(
            conditions=[EntityCondition(entities=[secret(field=False)])]
            if draw(st.booleans())
            else [],
            actions=[
                ActionSpec(
                    url=draw(urls),
                    headers={draw(header_names): secret()},
                    signature=Signature(method="HMACSHA256", key=secret()),
                )
            ],
        )
    by_url = {hook.url: name for name, hook in hooks.items()}
    hooks = {name: hook for name, hook in hooks.items() if by_url[hook.url] == name}
    resolved = {
        value
        for hook in hooks.values()
        for value in (hook.url, *hook.headers.values())
        if any(s in value for s in made)
    } | {
        value
        for flow in flows.values()
        for value in (
            *(e for c in flow.conditions if isinstance(c, EntityCondition) for e in c.entities),
            *(v for a in flow.actions for v in a.headers.values()),
            *(a.signature.key for a in flow.actions if a.signature),
        )
    }
    return Spec(webhooks=hooks, workflows=flows, secrets=resolved), made, in_fields


@PROPERTIES
@given(specs_with_secrets("NEW"), specs_with_secrets("OLD"), st.booleans())
def test_plan_json_never_shows_a_secret(
    generated: tuple[Spec, set[str], set[str]],
    previous: tuple[Spec, set[str], set[str]],
    prune: bool,
) -> None:
    """Creates, updates and deletes alike, against nothing, an older spec applied, or this one.

    The spec's own secrets never show. Of an older spec applied remotely, header values
    and signature keys never show either; its old URL is only known to be secret by the
    spec that referenced it, so a plan may show it as the ``before`` of a change.
    """
    spec, made, _ = generated
    old_spec, _, old_in_fields = previous
    for remote in ([], []), applied(old_spec), applied(spec):
        plan = make_plan(spec, *remote, prune=prune)
        shown = plan.model_dump_json()
        for value in made | old_in_fields:
            assert value not in shown, f"{value} in {shown}"
        if remote == ([], []) and plan.has_changes:  # every create carries a secret header
            assert MASK in shown


def test_a_secret_in_a_url_or_condition_is_masked_too() -> None:
    """Found by the property above: only headers and signature keys were masked, so a
    ``${env:TOKEN}`` in a URL (or an entity id) showed in clear in ``subscriptions plan``."""
    from signoff.subscriptions.spec import loads

    spec = loads(
        """
webhooks:
  ledger:
    url: https://hooks.example.com/x?token=${env:TOKEN}
    event_types: [payment_approved]
workflows:
  refunds:
    conditions: [{type: entity, entities: ["${env:ENTITY}"]}]
    actions: [{url: "https://finance.example.com/${env:TOKEN}"}]
""",
        env={"TOKEN": "tok-SECRET-123", "ENTITY": "ent_SECRET_456"},
    )
    shown = make_plan(spec, [], []).model_dump_json()
    assert "SECRET" not in shown
    assert make_plan(spec, [], []).changes[0].payload["url"].endswith("tok-SECRET-123")
