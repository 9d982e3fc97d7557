"""The connection to a webhook management API: the hosted platform or ``signoff serve``.

The hook owns the connection and hands out the core's webhooks, workflows and
subscriptions clients; it has no HTTP code of its own. A connection is ``host`` (a base
URL, or ``sandbox`` / ``production`` for the hosted platform), ``password`` (the secret
key) and two extras: ``webhooks_secret_key`` (the hosted "previous" platform's key, which
``/webhooks`` may need; the secret key otherwise) and ``timeout`` (seconds per request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from signoff.client import (
    AsyncWebhooksClient,
    AsyncWorkflowsClient,
    SignoffError,
    Unauthorized,
    WebhooksClient,
    WorkflowsClient,
    webhooks_key,
)
from signoff.client.webhooks import ENVIRONMENTS
from signoff.subscriptions import AsyncSubscriptionsClient, SubscriptionsClient

if TYPE_CHECKING:
    from airflow.sdk import Connection

CONN_TYPE = "signoff_webhooks"
HOOK_NAME = "signoff webhooks"
HIDDEN_FIELDS = ["schema", "login", "port", "extra"]
RELABELING = {"host": "Base URL or environment", "password": "Secret key"}
PLACEHOLDERS = {
    "host": "sandbox, production, or http://127.0.0.1:8000",
    "password": "sk_...",
}


@dataclass(frozen=True)
class ManagementSettings:
    """What a client needs, read from an Airflow connection (never serialized anywhere)."""

    environment: str
    """``sandbox``, ``production`` or a base URL: what the core's clients take."""
    secret_key: str = field(repr=False)
    webhooks_secret_key: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @property
    def _webhooks_key(self) -> str:
        return webhooks_key(self.secret_key, self.webhooks_secret_key)

    def webhooks(self) -> WebhooksClient:
        key = self._webhooks_key
        return WebhooksClient(self.environment, secret_key=key, timeout=self.timeout)

    def async_webhooks(self) -> AsyncWebhooksClient:
        key = self._webhooks_key
        return AsyncWebhooksClient(self.environment, secret_key=key, timeout=self.timeout)

    def workflows(self) -> WorkflowsClient:
        return WorkflowsClient(self.environment, secret_key=self.secret_key, timeout=self.timeout)

    def async_workflows(self) -> AsyncWorkflowsClient:
        return AsyncWorkflowsClient(
            self.environment, secret_key=self.secret_key, timeout=self.timeout
        )

    def subscriptions(self) -> SubscriptionsClient:
        return SubscriptionsClient(
            self.environment,
            secret_key=self.secret_key,
            webhooks_secret_key=self.webhooks_secret_key,
            timeout=self.timeout,
        )

    def async_subscriptions(self) -> AsyncSubscriptionsClient:
        return AsyncSubscriptionsClient(
            self.environment,
            secret_key=self.secret_key,
            webhooks_secret_key=self.webhooks_secret_key,
            timeout=self.timeout,
        )


def management_settings_from_connection(conn: Connection) -> ManagementSettings:
    extra = conn.extra_dejson or {}
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise ValueError(
            f"connection {conn.conn_id}: host (sandbox, production or a base URL) is empty"
        )
    if host.lower() in ENVIRONMENTS:
        host = host.lower()
    elif "://" not in host:
        port = f":{conn.port}" if conn.port else ""
        host = f"{conn.schema or 'https'}://{host}{port}"
    elif conn.port and host.count(":") == 1:
        host = f"{host}:{conn.port}"
    if not conn.password:
        raise ValueError(f"connection {conn.conn_id}: password (the secret key) is empty")
    return ManagementSettings(
        environment=host,
        secret_key=conn.password,
        webhooks_secret_key=extra.get("webhooks_secret_key") or None,
        timeout=float(extra.get("timeout") or 30.0),
    )


class SignoffWebhooksHook(BaseHook):
    """Sync and async clients of the webhook and workflow management API.

    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    conn_name_attr = "signoff_webhooks_conn_id"
    default_conn_name = "signoff_webhooks_default"
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(self, signoff_webhooks_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signoff_webhooks_conn_id = signoff_webhooks_conn_id

    @cached_property
    def settings(self) -> ManagementSettings:
        return management_settings_from_connection(
            self.get_connection(self.signoff_webhooks_conn_id)
        )

    async def asettings(self) -> ManagementSettings:
        """The settings, read without blocking an event loop."""
        conn = await self.aget_connection(self.signoff_webhooks_conn_id)
        return management_settings_from_connection(conn)

    def get_conn(self) -> WorkflowsClient:
        return self.get_workflows_client()

    def get_webhooks_client(self) -> WebhooksClient:
        """A new client of ``/webhooks``; close it (``with hook.get_webhooks_client() as c:``)."""
        return self.settings.webhooks()

    def get_workflows_client(self) -> WorkflowsClient:
        """A new client of ``/workflows``; close it."""
        return self.settings.workflows()

    def get_subscriptions_client(self) -> SubscriptionsClient:
        """A new client that plans and applies subscription specs; close it."""
        return self.settings.subscriptions()

    async def get_async_webhooks_client(self) -> AsyncWebhooksClient:
        return (await self.asettings()).async_webhooks()

    async def get_async_workflows_client(self) -> AsyncWorkflowsClient:
        return (await self.asettings()).async_workflows()

    async def get_async_subscriptions_client(self) -> AsyncSubscriptionsClient:
        return (await self.asettings()).async_subscriptions()

    def test_connection(self) -> tuple[bool, str]:
        """List the workflows and the webhooks: reads only, and both keys are used."""
        try:
            settings = self.settings
            with settings.workflows() as workflows:
                workflows.list()
            with settings.webhooks() as webhooks:
                webhooks.list()
        except Unauthorized as exc:
            return False, f"The API refused the secret key (HTTP {exc.status_code}): {exc.error}"
        except (SignoffError, ValueError) as exc:
            return False, str(exc)
        return True, f"Connected to {settings.environment}; the secret key is accepted."

    # Older cores read the form from the hook; Airflow 3.2+ reads get_provider_info().
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, PasswordField
        from wtforms.validators import NumberRange, Optional

        return {
            "webhooks_secret_key": PasswordField(
                lazy_gettext("Webhooks secret key (previous platform; optional)"),
                widget=BS3PasswordFieldWidget(),
            ),
            "timeout": IntegerField(
                lazy_gettext("Request timeout (seconds)"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=1)],
                default=30,
            ),
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": list(HIDDEN_FIELDS),
            "relabeling": dict(RELABELING),
            "placeholders": dict(PLACEHOLDERS),
        }
