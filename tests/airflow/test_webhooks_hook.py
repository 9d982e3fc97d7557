"""The ``signoff_webhooks`` connection type: its form, the hook's clients, test_connection."""

from __future__ import annotations

import json

import pytest

from signoff.client import (
    AsyncWebhooksClient,
    AsyncWorkflowsClient,
    WebhooksClient,
    WorkflowsClient,
)
from signoff.subscriptions import AsyncSubscriptionsClient, SubscriptionsClient
from signoff_airflow.hooks.webhooks import (
    SignoffWebhooksHook,
    management_settings_from_connection,
)
from tests.airflow.conftest import WEBHOOKS_CONN_ENV
from tests.conftest import CKO_PREVIOUS_KEY, CKO_SECRET_KEY


def connection(**fields: object):  # type: ignore[no-untyped-def]
    from airflow.sdk import Connection

    return Connection(conn_id="w", conn_type="signoff_webhooks", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "environment"),
    [
        ({"host": "sandbox"}, "sandbox"),
        ({"host": "Production"}, "production"),
        ({"host": "http://127.0.0.1:8000/"}, "http://127.0.0.1:8000"),
        ({"host": "127.0.0.1", "port": 9000, "schema": "http"}, "http://127.0.0.1:9000"),
        ({"host": "api.example.com"}, "https://api.example.com"),
    ],
)
def test_environment_from_the_connection(fields: dict, environment: str) -> None:  # type: ignore[type-arg]
    settings = management_settings_from_connection(connection(password="sk", **fields))
    assert settings.environment == environment and settings.secret_key == "sk"
    assert "sk" not in repr(settings)


def test_the_previous_platform_key_and_what_is_required() -> None:
    extra = json.dumps({"webhooks_secret_key": "sk_prev", "timeout": 5})
    settings = management_settings_from_connection(
        connection(host="sandbox", password="sk", extra=extra)
    )
    assert settings.webhooks_secret_key == "sk_prev" and settings.timeout == 5
    with pytest.raises(ValueError, match="host"):
        management_settings_from_connection(connection(host="", password="sk"))
    with pytest.raises(ValueError, match="secret key"):
        management_settings_from_connection(connection(host="sandbox"))


async def test_sync_and_async_clients_from_the_core(
    webhooks_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {
        "conn_type": "signoff_webhooks",
        "host": webhooks_conn,
        "password": CKO_SECRET_KEY,
        "extra": {"webhooks_secret_key": CKO_PREVIOUS_KEY},
    }
    monkeypatch.setenv(WEBHOOKS_CONN_ENV, json.dumps(conn))
    hook = SignoffWebhooksHook()
    with hook.get_webhooks_client() as webhooks:
        assert isinstance(webhooks, WebhooksClient)
        assert webhooks.calls.secret_key == CKO_PREVIOUS_KEY  # /webhooks takes the old key
        webhooks.list()
    with hook.get_workflows_client() as workflows:
        assert (
            isinstance(workflows, WorkflowsClient) and workflows.calls.secret_key == CKO_SECRET_KEY
        )
        workflows.list()
    with hook.get_subscriptions_client() as subscriptions:
        assert isinstance(subscriptions, SubscriptionsClient)
        assert subscriptions.calls.webhooks.secret_key == CKO_PREVIOUS_KEY
    async with await hook.get_async_webhooks_client() as awebhooks:
        assert isinstance(awebhooks, AsyncWebhooksClient)
        await awebhooks.list()
    async with await hook.get_async_workflows_client() as aworkflows:
        assert isinstance(aworkflows, AsyncWorkflowsClient)
        await aworkflows.list()
    async with await hook.get_async_subscriptions_client() as asubscriptions:
        assert isinstance(asubscriptions, AsyncSubscriptionsClient)


def test_test_connection(webhooks_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = SignoffWebhooksHook().test_connection()
    assert ok and webhooks_conn in message
    gone = {"conn_type": "signoff_webhooks", "host": "http://127.0.0.1:9", "password": "sk"}
    monkeypatch.setenv(WEBHOOKS_CONN_ENV, json.dumps(gone))
    ok, message = SignoffWebhooksHook().test_connection()
    assert not ok and "127.0.0.1:9" in message


def test_provider_registers_the_connection_type_and_modules() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook = ProvidersManagerTaskRuntime().hooks["signoff_webhooks"]
    assert hook is not None and hook.hook_class_name.endswith("SignoffWebhooksHook")
    pm = ProvidersManager()
    widgets = pm.connection_form_widgets
    assert widgets["extra__signoff_webhooks__webhooks_secret_key"].is_sensitive
    assert "extra__signoff_webhooks__timeout" in widgets
    behaviour = pm.field_behaviours["signoff_webhooks"]
    assert behaviour["relabeling"] == {"host": "Base URL or environment", "password": "Secret key"}
    info = pm.providers["signoff"].data
    hooks = [m for entry in info["hooks"] for m in entry["python-modules"]]
    operators = [m for entry in info["operators"] for m in entry["python-modules"]]
    assert "signoff_airflow.hooks.webhooks" in hooks
    for module in ["signoff_airflow.operators.webhooks", "signoff_airflow.operators.subscriptions"]:
        assert module in operators
        __import__(module)


def test_older_cores_read_the_same_form_from_the_hook() -> None:
    from signoff_airflow.get_provider_info import get_provider_info

    types = get_provider_info()["connection-types"]
    declared = next(c for c in types if c["connection-type"] == "signoff_webhooks")
    assert declared["hook-class-name"] == "signoff_airflow.hooks.webhooks.SignoffWebhooksHook"
    behaviour = SignoffWebhooksHook.get_ui_field_behaviour()
    form = declared["ui-field-behaviour"]
    assert behaviour["hidden_fields"] == form["hidden-fields"]
    assert behaviour["relabeling"] == form["relabeling"]
    assert behaviour["placeholders"] == form["placeholders"]
