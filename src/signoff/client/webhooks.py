"""Clients for the webhook management API (seed 002) and the workflows API (seed 001).

They work against the hosted platform (``environment="sandbox"`` or ``"production"``) and
against ``signoff serve`` (any base URL). ``/webhooks`` belongs to the hosted "previous"
platform, which takes the secret key bare in ``Authorization``; ``/workflows`` takes
``Authorization: Bearer <secret key>``. signoff's service accepts both.
"""

from __future__ import annotations

import builtins
from typing import Any

import httpx

from signoff.client._calls import AsyncClient, Calls, SyncClient, async_method, sync_method
from signoff.client._transport import RetryPolicy, Step
from signoff.models.events import Delivery, EventTypesRequest, PublishedEvent, PublishEvent
from signoff.models.webhooks import Webhook, WebhookPatch, WebhookRequest
from signoff.models.workflows import (
    ActionInvocations,
    Condition,
    Created,
    EventCondition,
    EventDetails,
    EventSource,
    ReflowRequest,
    SubjectEvents,
    WebhookAction,
    Workflow,
    WorkflowList,
    WorkflowPatch,
    WorkflowRequest,
)

ENVIRONMENTS = {
    "sandbox": "https://api.sandbox.checkout.com",
    "production": "https://api.checkout.com",
}


def base_url_for(environment: str) -> str:
    """``"sandbox"``, ``"production"`` or any base URL (e.g. ``http://127.0.0.1:8000``)."""
    if environment in ENVIRONMENTS:
        return ENVIRONMENTS[environment]
    if not environment.startswith(("http://", "https://")):
        raise ValueError(f"environment must be sandbox, production or a URL, not {environment!r}")
    return environment


def webhooks_key(secret_key: str, webhooks_secret_key: str | None = None) -> str:
    """The key ``/webhooks`` takes: the account's ``webhooks_secret_key`` where it has one
    (the hosted "previous" platform's key, which may differ), else its ``secret_key``.

    Every place that builds a webhooks client from an account's two keys asks this, so
    that a connection, a block and the subscriptions client cannot disagree.
    """
    return webhooks_secret_key or secret_key


def _body(value: Any) -> Any:
    return value.to_wire() if hasattr(value, "to_wire") else value


class ManagementCalls(Calls):
    idempotency_header = "Cko-Idempotency-Key"
    bearer = True

    def __init__(self, base_url: str, *, secret_key: str, retry: RetryPolicy | None) -> None:
        super().__init__(base_url, retry=retry)
        self.secret_key = secret_key

    def _headers(self, auth: str) -> dict[str, str]:
        scheme = "Bearer " if self.bearer else ""
        return {"Authorization": f"{scheme}{self.secret_key}"}


class WebhookCalls(ManagementCalls):
    bearer = False

    def list(self) -> Step[builtins.list[Webhook]]:
        response = yield from self._request("GET", "/webhooks")
        if response.status_code == 204 or not response.content:
            return []
        return [Webhook.model_validate(item) for item in response.json()]

    def create(
        self, webhook: WebhookRequest | dict[str, Any], idempotency_key: str | None = None
    ) -> Step[Webhook]:
        response = yield from self._request(
            "POST", "/webhooks", json=_body(webhook), idempotency_key=idempotency_key
        )
        return Webhook.model_validate(response.json())

    def get(self, webhook_id: str) -> Step[Webhook]:
        response = yield from self._request("GET", f"/webhooks/{webhook_id}")
        return Webhook.model_validate({"id": webhook_id, **response.json()})

    def update(self, webhook_id: str, webhook: WebhookRequest | dict[str, Any]) -> Step[Webhook]:
        response = yield from self._request("PUT", f"/webhooks/{webhook_id}", json=_body(webhook))
        return Webhook.model_validate(response.json())

    def patch(self, webhook_id: str, changes: WebhookPatch | dict[str, Any]) -> Step[Webhook]:
        body = (
            changes.model_dump(exclude_unset=True) if isinstance(changes, WebhookPatch) else changes
        )
        response = yield from self._request("PATCH", f"/webhooks/{webhook_id}", json=body)
        return Webhook.model_validate(response.json())

    def delete(self, webhook_id: str) -> Step[None]:
        yield from self._request("DELETE", f"/webhooks/{webhook_id}")

    def test(self, webhook_id: str, event_types: builtins.list[str]) -> Step[None]:
        body = EventTypesRequest(event_types=event_types).to_wire()
        yield from self._request("POST", f"/webhooks/{webhook_id}/test", json=body)

    def deliveries(self, webhook_id: str) -> Step[builtins.list[Delivery]]:
        """signoff only: recent deliveries to this webhook, with their attempts."""
        response = yield from self._request("GET", f"/webhooks/{webhook_id}/deliveries")
        return [Delivery.model_validate(item) for item in response.json()["data"]]


class WorkflowCalls(ManagementCalls):
    def list(self) -> Step[WorkflowList]:
        response = yield from self._request("GET", "/workflows")
        return WorkflowList.model_validate(response.json())

    def create(
        self, workflow: WorkflowRequest | dict[str, Any], idempotency_key: str | None = None
    ) -> Step[Created]:
        response = yield from self._request(
            "POST", "/workflows", json=_body(workflow), idempotency_key=idempotency_key
        )
        return Created.model_validate(response.json())

    def get(self, workflow_id: str) -> Step[Workflow]:
        response = yield from self._request("GET", f"/workflows/{workflow_id}")
        return Workflow.model_validate(response.json())

    def update(self, workflow_id: str, changes: WorkflowPatch | dict[str, Any]) -> Step[Workflow]:
        body = (
            changes.model_dump(mode="json", exclude_unset=True, exclude_none=True)
            if isinstance(changes, WorkflowPatch)
            else changes
        )
        response = yield from self._request("PATCH", f"/workflows/{workflow_id}", json=body)
        return Workflow.model_validate(response.json())

    def delete(self, workflow_id: str) -> Step[None]:
        yield from self._request("DELETE", f"/workflows/{workflow_id}")

    def add_action(
        self,
        workflow_id: str,
        action: WebhookAction | dict[str, Any],
        idempotency_key: str | None = None,
    ) -> Step[str]:
        response = yield from self._request(
            "POST",
            f"/workflows/{workflow_id}/actions",
            json=_body(action),
            idempotency_key=idempotency_key,
        )
        return str(response.json()["id"])

    def update_action(
        self, workflow_id: str, action_id: str, action: WebhookAction | dict[str, Any]
    ) -> Step[None]:
        yield from self._request(
            "PUT", f"/workflows/{workflow_id}/actions/{action_id}", json=_body(action)
        )

    def delete_action(self, workflow_id: str, action_id: str) -> Step[None]:
        yield from self._request("DELETE", f"/workflows/{workflow_id}/actions/{action_id}")

    def add_condition(
        self,
        workflow_id: str,
        condition: Condition | dict[str, Any],
        idempotency_key: str | None = None,
    ) -> Step[str]:
        response = yield from self._request(
            "POST",
            f"/workflows/{workflow_id}/conditions",
            json=_body(condition),
            idempotency_key=idempotency_key,
        )
        return str(response.json()["id"])

    def update_condition(
        self, workflow_id: str, condition_id: str, condition: Condition | dict[str, Any]
    ) -> Step[None]:
        yield from self._request(
            "PUT", f"/workflows/{workflow_id}/conditions/{condition_id}", json=_body(condition)
        )

    def delete_condition(self, workflow_id: str, condition_id: str) -> Step[None]:
        yield from self._request("DELETE", f"/workflows/{workflow_id}/conditions/{condition_id}")

    def test(self, workflow_id: str, event_types: builtins.list[str]) -> Step[None]:
        body = EventTypesRequest(event_types=event_types).to_wire()
        yield from self._request("POST", f"/workflows/{workflow_id}/test", json=body)

    def event_types(self) -> Step[builtins.list[EventSource]]:
        response = yield from self._request("GET", "/workflows/event-types")
        return [EventSource.model_validate(item) for item in response.json()]

    def get_event(self, event_id: str) -> Step[EventDetails]:
        response = yield from self._request("GET", f"/workflows/events/{event_id}")
        return EventDetails.model_validate(response.json())

    def action_invocations(self, event_id: str, action_id: str) -> Step[ActionInvocations]:
        path = f"/workflows/events/{event_id}/actions/{action_id}"
        response = yield from self._request("GET", path)
        return ActionInvocations.model_validate(response.json())

    def subject_events(self, subject_id: str) -> Step[SubjectEvents]:
        response = yield from self._request("GET", f"/workflows/events/subject/{subject_id}")
        return SubjectEvents.model_validate(response.json())

    def reflow_event(self, event_id: str, workflow_id: str | None = None) -> Step[None]:
        middle = f"/workflow/{workflow_id}" if workflow_id else ""
        yield from self._request("POST", f"/workflows/events/{event_id}{middle}/reflow")

    def reflow_subject(self, subject_id: str, workflow_id: str | None = None) -> Step[None]:
        middle = f"/workflow/{workflow_id}" if workflow_id else ""
        yield from self._request("POST", f"/workflows/events/subject/{subject_id}{middle}/reflow")

    def reflow(
        self,
        *,
        events: builtins.list[str] | None = None,
        subjects: builtins.list[str] | None = None,
        workflows: builtins.list[str] | None = None,
    ) -> Step[None]:
        body = ReflowRequest(events=events, subjects=subjects, workflows=workflows).to_wire()
        yield from self._request("POST", "/workflows/events/reflow", json=body)

    def publish_event(
        self, event: PublishEvent | dict[str, Any], idempotency_key: str | None = None
    ) -> Step[PublishedEvent]:
        """signoff only (the emulator's trigger): publish any catalogued event."""
        response = yield from self._request(
            "POST", "/events", json=_body(event), idempotency_key=idempotency_key
        )
        return PublishedEvent.model_validate(response.json())

    def event_deliveries(self, event_id: str) -> Step[builtins.list[Delivery]]:
        """signoff only: every delivery of one event with its attempts."""
        response = yield from self._request("GET", f"/events/{event_id}/deliveries")
        return [Delivery.model_validate(item) for item in response.json()["data"]]

    def replay(self, delivery_id: str) -> Step[str]:
        """signoff only: send a delivery again; the new delivery's id."""
        response = yield from self._request("POST", f"/deliveries/{delivery_id}/replay")
        return str(response.json()["id"])


def _calls(kind: type[ManagementCalls], environment: str, secret_key: str, retry: Any) -> Any:
    return kind(base_url_for(environment), secret_key=secret_key, retry=retry)


class WebhooksClient(SyncClient):
    """``WebhooksClient("sandbox" | "production" | url, secret_key=...)``"""

    calls: WebhookCalls

    def __init__(
        self,
        environment: str,
        *,
        secret_key: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            _calls(WebhookCalls, environment, secret_key, retry),
            timeout=timeout,
            http_client=http_client,
        )

    list = sync_method(WebhookCalls.list)
    create = sync_method(WebhookCalls.create)
    get = sync_method(WebhookCalls.get)
    update = sync_method(WebhookCalls.update)
    patch = sync_method(WebhookCalls.patch)
    delete = sync_method(WebhookCalls.delete)
    test = sync_method(WebhookCalls.test)
    deliveries = sync_method(WebhookCalls.deliveries)


class AsyncWebhooksClient(AsyncClient):
    calls: WebhookCalls

    def __init__(
        self,
        environment: str,
        *,
        secret_key: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            _calls(WebhookCalls, environment, secret_key, retry),
            timeout=timeout,
            http_client=http_client,
        )

    list = async_method(WebhookCalls.list)
    create = async_method(WebhookCalls.create)
    get = async_method(WebhookCalls.get)
    update = async_method(WebhookCalls.update)
    patch = async_method(WebhookCalls.patch)
    delete = async_method(WebhookCalls.delete)
    test = async_method(WebhookCalls.test)
    deliveries = async_method(WebhookCalls.deliveries)


class WorkflowsClient(SyncClient):
    """``WorkflowsClient("sandbox" | "production" | url, secret_key=...)``"""

    calls: WorkflowCalls

    def __init__(
        self,
        environment: str,
        *,
        secret_key: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            _calls(WorkflowCalls, environment, secret_key, retry),
            timeout=timeout,
            http_client=http_client,
        )

    list = sync_method(WorkflowCalls.list)
    create = sync_method(WorkflowCalls.create)
    get = sync_method(WorkflowCalls.get)
    update = sync_method(WorkflowCalls.update)
    delete = sync_method(WorkflowCalls.delete)
    add_action = sync_method(WorkflowCalls.add_action)
    update_action = sync_method(WorkflowCalls.update_action)
    delete_action = sync_method(WorkflowCalls.delete_action)
    add_condition = sync_method(WorkflowCalls.add_condition)
    update_condition = sync_method(WorkflowCalls.update_condition)
    delete_condition = sync_method(WorkflowCalls.delete_condition)
    test = sync_method(WorkflowCalls.test)
    event_types = sync_method(WorkflowCalls.event_types)
    get_event = sync_method(WorkflowCalls.get_event)
    action_invocations = sync_method(WorkflowCalls.action_invocations)
    subject_events = sync_method(WorkflowCalls.subject_events)
    reflow_event = sync_method(WorkflowCalls.reflow_event)
    reflow_subject = sync_method(WorkflowCalls.reflow_subject)
    reflow = sync_method(WorkflowCalls.reflow)
    publish_event = sync_method(WorkflowCalls.publish_event)
    event_deliveries = sync_method(WorkflowCalls.event_deliveries)
    replay = sync_method(WorkflowCalls.replay)


class AsyncWorkflowsClient(AsyncClient):
    calls: WorkflowCalls

    def __init__(
        self,
        environment: str,
        *,
        secret_key: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            _calls(WorkflowCalls, environment, secret_key, retry),
            timeout=timeout,
            http_client=http_client,
        )

    list = async_method(WorkflowCalls.list)
    create = async_method(WorkflowCalls.create)
    get = async_method(WorkflowCalls.get)
    update = async_method(WorkflowCalls.update)
    delete = async_method(WorkflowCalls.delete)
    add_action = async_method(WorkflowCalls.add_action)
    update_action = async_method(WorkflowCalls.update_action)
    delete_action = async_method(WorkflowCalls.delete_action)
    add_condition = async_method(WorkflowCalls.add_condition)
    update_condition = async_method(WorkflowCalls.update_condition)
    delete_condition = async_method(WorkflowCalls.delete_condition)
    test = async_method(WorkflowCalls.test)
    event_types = async_method(WorkflowCalls.event_types)
    get_event = async_method(WorkflowCalls.get_event)
    action_invocations = async_method(WorkflowCalls.action_invocations)
    subject_events = async_method(WorkflowCalls.subject_events)
    reflow_event = async_method(WorkflowCalls.reflow_event)
    reflow_subject = async_method(WorkflowCalls.reflow_subject)
    reflow = async_method(WorkflowCalls.reflow)
    publish_event = async_method(WorkflowCalls.publish_event)
    event_deliveries = async_method(WorkflowCalls.event_deliveries)
    replay = async_method(WorkflowCalls.replay)


__all__ = [
    "AsyncWebhooksClient",
    "AsyncWorkflowsClient",
    "EventCondition",
    "WebhooksClient",
    "WorkflowsClient",
    "base_url_for",
]
