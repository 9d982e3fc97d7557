"""Wire models of the workflows API (seed 001, the current platform)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from signoff.models.events import EVENT_CATALOG, Links, SnakeModel, unknown_event_types
from signoff.models.webhooks import Health, check_headers, check_url


class EventCondition(SnakeModel):
    """Holds when the event's type is listed under any source."""

    type: Literal["event"] = "event"
    id: str | None = None
    events: dict[str, list[str]]

    @field_validator("events")
    @classmethod
    def _known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value or not any(value.values()):
            raise ValueError("must list at least one event type")
        for source, names in value.items():
            unknown = unknown_event_types(names)
            if unknown:
                raise ValueError(f"unknown event type {unknown[0]!r} under {source!r}")
        return value


class EntityCondition(SnakeModel):
    type: Literal["entity"] = "entity"
    id: str | None = None
    entities: list[str] = Field(min_length=1, max_length=1000)


class ProcessingChannelCondition(SnakeModel):
    type: Literal["processing_channel"] = "processing_channel"
    id: str | None = None
    processing_channels: list[str] = Field(min_length=1, max_length=1000)


Condition = Annotated[
    EventCondition | EntityCondition | ProcessingChannelCondition, Field(discriminator="type")
]


class Signature(SnakeModel):
    method: Literal["HMACSHA256"]
    key: str = Field(min_length=1, max_length=500)


class WebhookAction(SnakeModel):
    type: Literal["webhook"] = "webhook"
    id: str | None = None
    workflow_action_id: str | None = None
    """Sent on PATCH to say which existing action an entry updates."""
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    signature: Signature | None = None
    health: Health | None = None

    _url = field_validator("url")(check_url)
    _headers = field_validator("headers")(check_headers)


class WorkflowRequest(SnakeModel):
    """Body of ``POST /workflows``."""

    name: str = Field(min_length=1, max_length=200)
    active: bool = True
    conditions: list[Condition] = Field(default_factory=list, max_length=20)
    actions: list[WebhookAction] = Field(min_length=1, max_length=20)


class WorkflowPatch(SnakeModel):
    """Body of ``PATCH /workflows/{id}``: given lists replace the current ones."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None
    conditions: list[Condition] | None = Field(default=None, max_length=20)
    actions: list[WebhookAction] | None = Field(default=None, min_length=1, max_length=20)


class Workflow(SnakeModel):
    id: str
    name: str
    active: bool
    conditions: list[Condition] = Field(default_factory=list)
    actions: list[WebhookAction] = Field(default_factory=list)
    links: Links | None = Field(default=None, alias="_links")


class WorkflowSummary(SnakeModel):
    id: str
    name: str
    active: bool
    links: Links | None = Field(default=None, alias="_links")


class WorkflowList(SnakeModel):
    data: list[WorkflowSummary]


class Created(SnakeModel):
    id: str
    links: Links | None = Field(default=None, alias="_links")


class ReflowRequest(SnakeModel):
    """Body of ``POST /workflows/events/reflow``: by events or by subjects."""

    events: list[str] | None = Field(default=None, max_length=1000)
    subjects: list[str] | None = Field(default=None, max_length=1000)
    workflows: list[str] | None = Field(default=None, max_length=100)


class EventTypeInfo(SnakeModel):
    id: str
    display_name: str
    description: str


class EventSource(SnakeModel):
    id: str
    display_name: str
    description: str
    events: list[EventTypeInfo]


def event_sources() -> list[EventSource]:
    """The catalogue as ``GET /workflows/event-types`` shows it."""
    return [
        EventSource(
            id=source,
            display_name=source.replace("_", " ").title(),
            description=f"{source.title()} events",
            events=[
                EventTypeInfo(
                    id=name,
                    display_name=name.replace("_", " ").capitalize(),
                    description=name.replace("_", " ").capitalize(),
                )
                for name in group["events"]
            ],
        )
        for source, group in EVENT_CATALOG.items()
    ]


class ActionInvocation(SnakeModel):
    invocation_id: str
    timestamp: str
    retry: bool
    succeeded: bool
    final: bool
    result_details: dict[str, object] = Field(default_factory=dict)


class ActionInvocations(SnakeModel):
    """``GET /workflows/events/{eid}/actions/{aid}``: every try of one action for one event."""

    workflow_id: str
    event_id: str
    workflow_action_id: str
    action_type: str = "webhook"
    status: Literal["pending", "successful", "failed"]
    action_invocations: list[ActionInvocation]


class EventActionSummary(SnakeModel):
    workflow_id: str
    workflow_action_id: str
    status: Literal["pending", "successful", "failed"]
    links: Links | None = Field(default=None, alias="_links")


class EventDetails(SnakeModel):
    """``GET /workflows/events/{eid}``."""

    id: str
    source: str
    type: str
    timestamp: str
    version: str = "1.0.0"
    data: dict[str, object] = Field(default_factory=dict)
    action_invocations: list[EventActionSummary] = Field(default_factory=list)
    links: Links | None = Field(default=None, alias="_links")


class SubjectEvent(SnakeModel):
    id: str
    type: str
    timestamp: str
    links: Links | None = Field(default=None, alias="_links")


class SubjectEvents(SnakeModel):
    data: list[SubjectEvent]
