"""Create, update, delete and test webhooks and workflows from a DAG.

Each operator makes one call of the core's ``WebhooksClient`` / ``WorkflowsClient``
through :class:`~signoff_airflow.hooks.webhooks.SignoffWebhooksHook` and returns the
object's wire dict (what the API answers) to XCom, with secrets (header values,
signature keys, URL passwords: the core's one rule, :mod:`signoff.secrets`) shown as
``(secret)``; the create operators also push
``webhook_id`` / ``workflow_id``. An API error fails the task with the API's error text
and HTTP status (see :mod:`signoff_airflow._management`).

A create carries an idempotency key derived from the task instance's attempt cycle
(:mod:`signoff_airflow._idempotency`, as the approval operator's request does), so a retry
after a lost answer replays the first create instead of making a second object.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from signoff.client import NotFound
from signoff.secrets import secrets_in
from signoff_airflow._idempotency import idempotency_key
from signoff_airflow._management import api_errors, hide, shown
from signoff_airflow.hooks.webhooks import SignoffWebhooksHook

if TYPE_CHECKING:
    from airflow.sdk import Context


def _native(value: Any, name: str, kind: type) -> Any:
    """A rendered field as a list or dict: a template renders a string unless the DAG has
    ``render_template_as_native_obj``, so JSON text is accepted too."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{name} must render to a JSON {kind.__name__}: {value!r}") from None
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _flag(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


class _ManagementOperator(BaseOperator):
    """Owns the ``signoff_webhooks`` connection of the operators below."""

    ui_color = "#c7d2fe"

    def __init__(
        self,
        *,
        signoff_webhooks_conn_id: str = SignoffWebhooksHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.signoff_webhooks_conn_id = signoff_webhooks_conn_id

    @cached_property
    def hook(self) -> SignoffWebhooksHook:
        return SignoffWebhooksHook(self.signoff_webhooks_conn_id)

    def _idempotency_key(self, context: Context, kind: str) -> str:
        return f"{idempotency_key(context['ti'], self.retries or 0)}:{kind}"

    def _result(self, wire: dict[str, Any]) -> dict[str, Any]:
        return shown(wire)


class CreateWebhookOperator(_ManagementOperator):
    """Subscribe a URL to event types (``POST /webhooks``).

    Returns the webhook's wire dict (``id``, ``url``, ``active``, ``headers``,
    ``content_type``, ``event_types``, ``_links``) and pushes ``webhook_id``.

    :param url: where events are sent (templated).
    :param event_types: the event types to send, e.g. ``["payment_captured"]`` (templated).
    :param headers: sent with every delivery, e.g. ``Authorization`` (templated; header
        values are secrets: none reaches a log or XCom).
    :param active: whether deliveries are made.
    :param content_type: ``json``.
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    template_fields: Sequence[str] = ("url", "event_types", "headers", "active")
    template_fields_renderers = {"event_types": "json", "headers": "json"}

    def __init__(
        self,
        *,
        url: str,
        event_types: list[str] | str,
        headers: dict[str, str] | str | None = None,
        active: bool | str = True,
        content_type: str = "json",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.event_types = event_types
        self.headers = headers
        self.active = active
        self.content_type = content_type

    def execute(self, context: Context) -> dict[str, Any]:
        body = {
            "url": self.url,
            "active": _flag(self.active, "active"),
            "headers": _native(self.headers, "headers", dict) or {},
            "content_type": self.content_type,
            "event_types": _native(self.event_types, "event_types", list),
        }
        hide(secrets_in(body))
        with api_errors(f"creating a webhook for {self.url}"), self.hook.get_webhooks_client() as c:
            webhook = c.create(body, idempotency_key=self._idempotency_key(context, "webhook"))
        self.log.info("Created webhook %s for %s", webhook.id, webhook.url)
        context["ti"].xcom_push(key="webhook_id", value=webhook.id)
        return self._result(webhook.to_wire())


class UpdateWebhookOperator(_ManagementOperator):
    """Change a webhook (``PATCH /webhooks/{id}``): only the fields given change.

    Returns the updated webhook's wire dict.

    :param webhook_id: the webhook (templated, e.g. from the create task's XCom).
    :param url: a new URL (templated).
    :param event_types: the new list of event types (templated).
    :param headers: the new headers, replacing the current ones (templated).
    :param active: pause (``False``) or resume (``True``) deliveries (templated).
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    template_fields: Sequence[str] = ("webhook_id", "url", "event_types", "headers", "active")
    template_fields_renderers = {"event_types": "json", "headers": "json"}

    def __init__(
        self,
        *,
        webhook_id: str,
        url: str | None = None,
        event_types: list[str] | str | None = None,
        headers: dict[str, str] | str | None = None,
        active: bool | str | None = None,
        content_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if all(v is None for v in (url, event_types, headers, active, content_type)):
            raise ValueError("give at least one of url, event_types, headers, active")
        self.webhook_id = webhook_id
        self.url = url
        self.event_types = event_types
        self.headers = headers
        self.active = active
        self.content_type = content_type

    def execute(self, context: Context) -> dict[str, Any]:
        changes = {
            "url": self.url or None,
            "event_types": _native(self.event_types, "event_types", list),
            "headers": _native(self.headers, "headers", dict),
            "active": _flag(self.active, "active"),
            "content_type": self.content_type,
        }
        body = {name: value for name, value in changes.items() if value is not None}
        hide(secrets_in(body))
        what = f"updating webhook {self.webhook_id}"
        with api_errors(what), self.hook.get_webhooks_client() as client:
            webhook = client.patch(self.webhook_id, body)
        self.log.info("Updated webhook %s: %s", webhook.id, ", ".join(sorted(body)))
        return self._result(webhook.to_wire())


class DeleteWebhookOperator(_ManagementOperator):
    """Delete a webhook (``DELETE /webhooks/{id}``).

    :param webhook_id: the webhook (templated).
    :param missing_ok: succeed when the webhook does not exist (e.g. a retry after the
        delete was made but its answer was lost).
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    template_fields: Sequence[str] = ("webhook_id",)

    def __init__(self, *, webhook_id: str, missing_ok: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_id = webhook_id
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> None:
        with api_errors(f"deleting webhook {self.webhook_id}"):
            with self.hook.get_webhooks_client() as client:
                try:
                    client.delete(self.webhook_id)
                except NotFound:
                    if not self.missing_ok:
                        raise
                    self.log.info("Webhook %s does not exist; nothing to delete", self.webhook_id)
                    return
        self.log.info("Deleted webhook %s", self.webhook_id)


class TestWebhookOperator(_ManagementOperator):
    """Send a test event of each given type to a webhook (``POST /webhooks/{id}/test``).

    The deliveries are made asynchronously by the service; the task succeeds once they
    are accepted. Returns ``{"webhook_id", "event_types"}``.

    :param webhook_id: the webhook (templated).
    :param event_types: the types to send, e.g. ``["payment_captured"]`` (templated).
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    __test__ = False  # not a pytest test class
    template_fields: Sequence[str] = ("webhook_id", "event_types")

    def __init__(self, *, webhook_id: str, event_types: list[str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_id = webhook_id
        self.event_types = event_types

    def execute(self, context: Context) -> dict[str, Any]:
        types = _native(self.event_types, "event_types", list)
        with api_errors(f"testing webhook {self.webhook_id}"):
            with self.hook.get_webhooks_client() as client:
                client.test(self.webhook_id, types)
        self.log.info("Sent test events %s to webhook %s", types, self.webhook_id)
        return {"webhook_id": self.webhook_id, "event_types": types}


class CreateWorkflowOperator(_ManagementOperator):
    """Create a workflow (``POST /workflows``): conditions and webhook actions.

    Returns the workflow's wire dict (``id``, ``name``, ``active``, ``conditions``,
    ``actions`` with signature keys as ``(secret)``) and pushes ``workflow_id``.

    :param name: the workflow's name (templated).
    :param actions: webhook actions, e.g. ``[{"type": "webhook", "url": ...,
        "signature": {"method": "HMACSHA256", "key": ...}}]`` (templated).
    :param conditions: e.g. ``[{"type": "event", "events": {"gateway":
        ["payment_refunded"]}}]`` (templated).
    :param active: whether it fires.
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    template_fields: Sequence[str] = ("name", "actions", "conditions", "active")
    template_fields_renderers = {"actions": "json", "conditions": "json"}

    def __init__(
        self,
        *,
        name: str,
        actions: list[dict[str, Any]] | str,
        conditions: list[dict[str, Any]] | str | None = None,
        active: bool | str = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.actions = actions
        self.conditions = conditions
        self.active = active

    def execute(self, context: Context) -> dict[str, Any]:
        body = {
            "name": self.name,
            "active": _flag(self.active, "active"),
            "conditions": _native(self.conditions, "conditions", list) or [],
            "actions": _native(self.actions, "actions", list),
        }
        hide(secrets_in(body))
        key = self._idempotency_key(context, "workflow")
        with api_errors(f"creating workflow {self.name!r}"):
            with self.hook.get_workflows_client() as client:
                created = client.create(body, idempotency_key=key)
                workflow = client.get(created.id)
        self.log.info("Created workflow %s (%s)", workflow.id, workflow.name)
        context["ti"].xcom_push(key="workflow_id", value=workflow.id)
        return self._result(workflow.to_wire())


class UpdateWorkflowOperator(_ManagementOperator):
    """Change a workflow (``PATCH /workflows/{id}``): given fields change, and a given
    list of conditions or actions replaces the current one.

    Returns the updated workflow's wire dict.

    :param workflow_id: the workflow (templated).
    :param name: a new name (templated).
    :param active: pause (``False``) or resume (``True``) it (templated).
    :param conditions: the new conditions (templated).
    :param actions: the new actions (templated).
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    template_fields: Sequence[str] = ("workflow_id", "name", "active", "conditions", "actions")
    template_fields_renderers = {"actions": "json", "conditions": "json"}

    def __init__(
        self,
        *,
        workflow_id: str,
        name: str | None = None,
        active: bool | str | None = None,
        conditions: list[dict[str, Any]] | str | None = None,
        actions: list[dict[str, Any]] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if all(v is None for v in (name, active, conditions, actions)):
            raise ValueError("give at least one of name, active, conditions, actions")
        self.workflow_id = workflow_id
        self.name = name
        self.active = active
        self.conditions = conditions
        self.actions = actions

    def execute(self, context: Context) -> dict[str, Any]:
        changes = {
            "name": self.name or None,
            "active": _flag(self.active, "active"),
            "conditions": _native(self.conditions, "conditions", list),
            "actions": _native(self.actions, "actions", list),
        }
        body = {name: value for name, value in changes.items() if value is not None}
        hide(secrets_in(body))
        with api_errors(f"updating workflow {self.workflow_id}"):
            with self.hook.get_workflows_client() as client:
                workflow = client.update(self.workflow_id, body)
        self.log.info("Updated workflow %s: %s", workflow.id, ", ".join(sorted(body)))
        return self._result(workflow.to_wire())


class DeleteWorkflowOperator(_ManagementOperator):
    """Delete a workflow (``DELETE /workflows/{id}``).

    :param workflow_id: the workflow (templated).
    :param missing_ok: succeed when the workflow does not exist.
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    template_fields: Sequence[str] = ("workflow_id",)

    def __init__(self, *, workflow_id: str, missing_ok: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workflow_id = workflow_id
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> None:
        with api_errors(f"deleting workflow {self.workflow_id}"):
            with self.hook.get_workflows_client() as client:
                try:
                    client.delete(self.workflow_id)
                except NotFound:
                    if not self.missing_ok:
                        raise
                    self.log.info("Workflow %s does not exist; nothing to delete", self.workflow_id)
                    return
        self.log.info("Deleted workflow %s", self.workflow_id)


class TestWorkflowOperator(_ManagementOperator):
    """Send a test event of each given type through a workflow's actions
    (``POST /workflows/{id}/test``). Returns ``{"workflow_id", "event_types"}``.

    :param workflow_id: the workflow (templated).
    :param event_types: the types to send (templated).
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    __test__ = False  # not a pytest test class
    template_fields: Sequence[str] = ("workflow_id", "event_types")

    def __init__(self, *, workflow_id: str, event_types: list[str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workflow_id = workflow_id
        self.event_types = event_types

    def execute(self, context: Context) -> dict[str, Any]:
        types = _native(self.event_types, "event_types", list)
        with api_errors(f"testing workflow {self.workflow_id}"):
            with self.hook.get_workflows_client() as client:
                client.test(self.workflow_id, types)
        self.log.info("Sent test events %s through workflow %s", types, self.workflow_id)
        return {"workflow_id": self.workflow_id, "event_types": types}
