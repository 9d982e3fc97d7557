"""The connection to an approvals API: ``signoff serve`` (embedded) or the hosted service.

The hook owns the connection and hands out the core's clients; it has no HTTP code of
its own. A connection is ``host`` (the base URL), ``password`` (the API key) and three
extras: ``service`` (``embedded`` or ``hosted``), ``timeout`` (seconds per request) and
``admin_key`` (optional: an admin key of ``signoff serve``, which only
:class:`~signoff_airflow.operators.policies.ApplyPoliciesOperator` uses; the API key
cannot manage policies). To keep the admin key away from the DAGs that only ask for
approvals, put it on a connection of its own (``host`` and ``admin_key``, no password)
and give that connection's id to the policies operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from signoff.client import (
    ApprovalsClient,
    AsyncApprovalsClient,
    AsyncPoliciesClient,
    NotFound,
    PoliciesClient,
    SignoffError,
    Unauthorized,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

EMBEDDED = "embedded"
HOSTED = "hosted"
CONNECTION_PROBE_ID = "req_airflow_connection_test"
"""An id no approval has: reading it proves the URL and the key without side effects."""


@dataclass(frozen=True)
class ServiceSettings:
    """What a client needs, read from an Airflow connection (never serialized anywhere)."""

    base_url: str
    api_key: str | None = field(repr=False)
    service: str = EMBEDDED
    timeout: float = 30.0
    admin_key: str | None = field(default=None, repr=False)
    """``signoff serve``'s admin key (the ``admin_key`` extra): policies only."""
    conn_id: str | None = None

    @property
    def can_withdraw(self) -> bool:
        """Only ``signoff serve`` has ``POST /api/approvals/{id}/cancel``."""
        return self.service == EMBEDDED

    def client(self) -> ApprovalsClient:
        return ApprovalsClient(self.base_url, api_key=self.api_key, timeout=self.timeout)

    def async_client(self) -> AsyncApprovalsClient:
        return AsyncApprovalsClient(self.base_url, api_key=self.api_key, timeout=self.timeout)

    def _admin_key(self) -> str:
        if not self.admin_key:
            raise ValueError(
                f"connection {self.conn_id}: managing policies needs an admin key of signoff "
                "serve in the extra admin_key (the API key in password cannot manage them)"
            )
        if self.service != EMBEDDED:
            raise ValueError(f"connection {self.conn_id}: policies are signoff serve's only")
        return self.admin_key

    def policies(self) -> PoliciesClient:
        return PoliciesClient(self.base_url, admin_key=self._admin_key(), timeout=self.timeout)

    def async_policies(self) -> AsyncPoliciesClient:
        key = self._admin_key()
        return AsyncPoliciesClient(self.base_url, admin_key=key, timeout=self.timeout)


def settings_from_connection(conn: Connection) -> ServiceSettings:
    extra = conn.extra_dejson or {}
    service = str(extra.get("service") or EMBEDDED).lower()
    if service not in (EMBEDDED, HOSTED):
        raise ValueError(f"connection {conn.conn_id}: service must be embedded or hosted")
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise ValueError(f"connection {conn.conn_id}: host (the service's base URL) is empty")
    if "://" not in host:
        scheme = conn.schema or ("http" if service == EMBEDDED else "https")
        port = f":{conn.port}" if conn.port else ""
        host = f"{scheme}://{host}{port}"
    elif conn.port and host.count(":") == 1:
        host = f"{host}:{conn.port}"
    return ServiceSettings(
        base_url=host,
        api_key=conn.password or None,
        service=service,
        timeout=float(extra.get("timeout") or 30.0),
        admin_key=extra.get("admin_key") or None,
        conn_id=conn.conn_id,
    )


class SignoffHook(BaseHook):
    """Sync and async clients of the approvals API, from an Airflow connection.

    :param signoff_conn_id: connection of type ``signoff``.
    """

    conn_name_attr = "signoff_conn_id"
    default_conn_name = "signoff_default"
    conn_type = "signoff"
    hook_name = "signoff approvals"

    def __init__(self, signoff_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signoff_conn_id = signoff_conn_id

    @cached_property
    def settings(self) -> ServiceSettings:
        return settings_from_connection(self.get_connection(self.signoff_conn_id))

    async def asettings(self) -> ServiceSettings:
        """The settings, read without blocking the triggerer's event loop."""
        return settings_from_connection(await self.aget_connection(self.signoff_conn_id))

    def get_conn(self) -> ApprovalsClient:
        return self.get_client()

    def get_client(self) -> ApprovalsClient:
        """A new synchronous client; close it (``with hook.get_client() as client:``)."""
        return self.settings.client()

    async def get_async_client(self) -> AsyncApprovalsClient:
        """A new asynchronous client; close it (``async with await hook.get_async_client()``)."""
        return (await self.asettings()).async_client()

    def get_policies_client(self) -> PoliciesClient:
        """A new client of the policies API with the connection's ``admin_key`` extra
        (:class:`ValueError` when it has none); close it."""
        return self.settings.policies()

    async def get_async_policies_client(self) -> AsyncPoliciesClient:
        return (await self.asettings()).async_policies()

    def test_connection(self) -> tuple[bool, str]:
        """Read an approval that does not exist: 404 proves URL and key, 401 the key is wrong."""
        try:
            settings = self.settings
            with settings.client() as client:
                client.get(CONNECTION_PROBE_ID)
        except NotFound:
            return True, f"Connected to {settings.base_url}; the API key is accepted."
        except Unauthorized as exc:
            return False, f"The service refused the API key: {exc.error}"
        except (SignoffError, ValueError) as exc:
            return False, str(exc)
        return True, f"Connected to {settings.base_url}."

    # Older cores read the form from the hook; Airflow 3.2+ reads get_provider_info().
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, PasswordField, StringField
        from wtforms.validators import AnyOf, NumberRange, Optional

        return {
            "service": StringField(
                lazy_gettext("Service (embedded or hosted)"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), AnyOf([EMBEDDED, HOSTED])],
                default=EMBEDDED,
            ),
            "timeout": IntegerField(
                lazy_gettext("Request timeout (seconds)"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=1)],
                default=30,
            ),
            "admin_key": PasswordField(
                lazy_gettext("Admin key (policies only; optional)"),
                widget=BS3PasswordFieldWidget(),
            ),
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "port", "extra"],
            "relabeling": {"host": "Base URL", "password": "API key"},
            "placeholders": {
                "host": "http://127.0.0.1:8000",
                "password": "the key `signoff serve` printed on first start",
            },
        }
