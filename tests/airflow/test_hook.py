"""The connection type, its form, the hook's clients and test_connection; provider info."""

from __future__ import annotations

import json

import pytest

from signoff.client import ApprovalsClient, AsyncApprovalsClient
from signoff_airflow.hooks.approvals import SignoffHook, settings_from_connection
from tests.airflow.conftest import CONN_ENV


def connection(**fields: object):  # type: ignore[no-untyped-def]
    from airflow.sdk import Connection

    return Connection(conn_id="c", conn_type="signoff", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"host": "http://127.0.0.1:8000/"}, "http://127.0.0.1:8000"),
        ({"host": "127.0.0.1", "port": 9000}, "http://127.0.0.1:9000"),
        ({"host": "approvals.example.com", "extra": '{"service": "hosted"}'}, None),
        ({"host": "https://approvals.example.com", "port": 8443}, None),
    ],
)
def test_base_url_from_the_connection(fields: dict, url: str | None) -> None:  # type: ignore[type-arg]
    settings = settings_from_connection(connection(password="k", **fields))
    expected = url or (
        "https://approvals.example.com"
        if "port" not in fields
        else "https://approvals.example.com:8443"
    )
    assert settings.base_url == expected and settings.api_key == "k"


def test_hosted_cannot_withdraw_and_bad_service_is_refused() -> None:
    hosted = settings_from_connection(connection(host="h", extra='{"service": "hosted"}'))
    assert hosted.can_withdraw is False
    with pytest.raises(ValueError, match="embedded or hosted"):
        settings_from_connection(connection(host="h", extra='{"service": "cloud"}'))
    with pytest.raises(ValueError, match="host"):
        settings_from_connection(connection(host=""))


@pytest.mark.usefixtures("signoff_conn")
async def test_sync_and_async_clients_from_the_core() -> None:
    hook = SignoffHook()
    with hook.get_client() as client:
        assert isinstance(client, ApprovalsClient)
        created = client.create("a", "from the hook")
    async with await hook.get_async_client() as aclient:
        assert isinstance(aclient, AsyncApprovalsClient)
        assert (await aclient.get(created.id)).summary == "from the hook"


def test_test_connection(signoff_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = SignoffHook().test_connection()
    assert ok, message
    bad = {"conn_type": "signoff", "host": signoff_conn, "password": "wrong"}
    monkeypatch.setenv(CONN_ENV, json.dumps(bad))
    ok, message = SignoffHook().test_connection()
    assert not ok and "API key" in message
    gone = {"conn_type": "signoff", "host": "http://127.0.0.1:9", "password": "k"}
    monkeypatch.setenv(CONN_ENV, json.dumps(gone))
    ok, message = SignoffHook().test_connection()
    assert not ok and "127.0.0.1:9" in message


def test_provider_registers_connection_form_link_and_modules() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    widgets = pm.connection_form_widgets
    assert "extra__signoff__service" in widgets and "extra__signoff__timeout" in widgets
    behaviour = pm.field_behaviours["signoff"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API key"}
    assert "signoff_airflow.operators.approval.SignoffReviewLink" in pm.extra_links_class_names
    info = pm.providers["signoff"].data
    conn_type = next(c for c in info["connection-types"] if c["connection-type"] == "signoff")
    assert conn_type["hook-class-name"] == "signoff_airflow.hooks.approvals.SignoffHook"
    for kind, module in [
        ("operators", "signoff_airflow.operators.approval"),
        ("sensors", "signoff_airflow.sensors.approval"),
        ("hooks", "signoff_airflow.hooks.approvals"),
        ("triggers", "signoff_airflow.triggers.approval"),
    ]:
        assert module in info[kind][0]["python-modules"]
        __import__(module)


def test_older_cores_read_the_same_form_from_the_hook() -> None:
    from signoff_airflow.get_provider_info import get_provider_info

    types = get_provider_info()["connection-types"]
    conn_type = next(c for c in types if c["connection-type"] == "signoff")
    declared = conn_type["ui-field-behaviour"]
    behaviour = SignoffHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == declared["hidden-fields"]
    assert behaviour["relabeling"] == declared["relabeling"]
    assert behaviour["placeholders"] == declared["placeholders"]
