"""Credentials blocks: where a flow finds the approvals service and the webhook API."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias, overload

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr

from signoff.client import (
    ApprovalsClient,
    AsyncApprovalsClient,
    AsyncPoliciesClient,
    AsyncWebhooksClient,
    AsyncWorkflowsClient,
    PoliciesClient,
    WebhooksClient,
    WorkflowsClient,
    webhooks_key,
)
from signoff.subscriptions import AsyncSubscriptionsClient, SubscriptionsClient

ManagementClient: TypeAlias = (
    WebhooksClient
    | AsyncWebhooksClient
    | WorkflowsClient
    | AsyncWorkflowsClient
    | SubscriptionsClient
    | AsyncSubscriptionsClient
)
"""Any client :meth:`SignoffWebhooksCredentials.get_client` makes (its overloads say which)."""

LOGO_FILE = Path(__file__).parent / "logo.png"
LOGO = "https://raw.githubusercontent.com/signoff-dev/signoff/main/prefect_blocks/signoff_prefect/logo.png"
"""Where the UI loads the logo from; the same image ships as ``LOGO_FILE``."""
DOCS = "https://github.com/signoff-dev/signoff#prefect"


class SignoffCredentials(CredentialsBlock):
    """Connects flows to a signoff approvals service (signoff serve, or the hosted API).

    ``admin_key`` (optional) is an admin key of ``signoff serve`` (``--admin-key
    NAME=KEY`` or ``signoff keys create --kind admin``): only the policies API takes it
    (:func:`~signoff_prefect.policies.apply_policies`), and ``api_key`` cannot manage
    policies. Keep it in a block of its own, used only by the flows that apply policies.
    """

    _block_type_name = "Signoff Credentials"
    _logo_url: ClassVar[Any] = LOGO
    _documentation_url: ClassVar[Any] = DOCS
    _code_example = """
```python
from signoff_prefect import SignoffCredentials

credentials = SignoffCredentials.load("BLOCK_NAME")
with credentials.get_client() as client:
    print(client.list().data)
```
"""

    base_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the approvals service."
    )
    api_key: SecretStr = Field(description="API key the service gave this pipeline.")
    timeout: float = Field(default=30.0, description="Seconds before a request gives up.")
    admin_key: SecretStr | None = Field(
        default=None,
        description="Admin key of signoff serve, for applying approval policies (optional).",
    )

    @overload
    def get_client(self, client_type: Literal["sync"] = "sync") -> ApprovalsClient: ...

    @overload
    def get_client(self, client_type: Literal["async"]) -> AsyncApprovalsClient: ...

    def get_client(
        self, client_type: Literal["sync", "async"] = "sync"
    ) -> ApprovalsClient | AsyncApprovalsClient:
        """A client from signoff's core; ``client_type="async"`` for async flows (typed by
        ``client_type``; :meth:`get_sync_client` and :meth:`get_async_client` say it in
        the name)."""
        if client_type == "async":
            return self.get_async_client()
        return self.get_sync_client()

    def get_sync_client(self) -> ApprovalsClient:
        """A new synchronous client; close it (``with credentials.get_sync_client() as c:``)."""
        key = self.api_key.get_secret_value()
        return ApprovalsClient(self.base_url, api_key=key, timeout=self.timeout)

    def get_async_client(self) -> AsyncApprovalsClient:
        """A new asynchronous client; close it (``async with ... as client:``)."""
        key = self.api_key.get_secret_value()
        return AsyncApprovalsClient(self.base_url, api_key=key, timeout=self.timeout)

    def get_policies_client(self) -> PoliciesClient:
        """A new client of the policies API, with ``admin_key`` (:class:`ValueError`
        without one); close it."""
        return PoliciesClient(self.base_url, admin_key=self._admin_key, timeout=self.timeout)

    def get_async_policies_client(self) -> AsyncPoliciesClient:
        key = self._admin_key
        return AsyncPoliciesClient(self.base_url, admin_key=key, timeout=self.timeout)

    @property
    def _admin_key(self) -> str:
        if self.admin_key is None or not self.admin_key.get_secret_value():
            raise ValueError(
                "managing policies needs an admin key of signoff serve in the block's "
                "admin_key (the api_key cannot manage them)"
            )
        return self.admin_key.get_secret_value()


class SignoffWebhooksCredentials(CredentialsBlock):
    """Connects flows to a webhook management API (hosted, or signoff serve)."""

    _block_type_name = "Signoff Webhooks Credentials"
    _logo_url: ClassVar[Any] = LOGO
    _documentation_url: ClassVar[Any] = DOCS
    _code_example = """
```python
from signoff_prefect import SignoffWebhooksCredentials

credentials = SignoffWebhooksCredentials.load("BLOCK_NAME")
with credentials.get_client("subscriptions") as client:
    print(client.plan(spec).summary())
```
"""

    environment: str = Field(
        default="sandbox",
        description="sandbox, production, or the base URL of signoff serve.",
    )
    secret_key: SecretStr = Field(description="Secret key of the account.")
    webhooks_secret_key: SecretStr | None = Field(
        default=None,
        description="Key of the previous platform for /webhooks, when it differs.",
    )

    @overload
    def get_client(
        self, client_type: Literal["webhooks"], *, asynchronous: Literal[False] = False
    ) -> WebhooksClient: ...

    @overload
    def get_client(
        self, client_type: Literal["webhooks"], *, asynchronous: Literal[True]
    ) -> AsyncWebhooksClient: ...

    @overload
    def get_client(
        self, client_type: Literal["workflows"], *, asynchronous: Literal[False] = False
    ) -> WorkflowsClient: ...

    @overload
    def get_client(
        self, client_type: Literal["workflows"], *, asynchronous: Literal[True]
    ) -> AsyncWorkflowsClient: ...

    @overload
    def get_client(
        self,
        client_type: Literal["subscriptions"] = "subscriptions",
        *,
        asynchronous: Literal[False] = False,
    ) -> SubscriptionsClient: ...

    @overload
    def get_client(
        self,
        client_type: Literal["subscriptions"] = "subscriptions",
        *,
        asynchronous: Literal[True],
    ) -> AsyncSubscriptionsClient: ...

    def get_client(
        self,
        client_type: Literal["webhooks", "workflows", "subscriptions"] = "subscriptions",
        *,
        asynchronous: bool = False,
    ) -> ManagementClient:
        """A core client: webhooks, workflows, or subscriptions (plan and apply); typed by
        its arguments, and by name in the ``get_*_client`` methods."""
        if client_type == "webhooks":
            return self.get_async_webhooks_client() if asynchronous else self.get_webhooks_client()
        if client_type == "workflows":
            return (
                self.get_async_workflows_client() if asynchronous else self.get_workflows_client()
            )
        if asynchronous:
            return self.get_async_subscriptions_client()
        return self.get_subscriptions_client()

    def get_webhooks_client(self) -> WebhooksClient:
        """A new client of ``/webhooks``; close it."""
        return WebhooksClient(self.environment, secret_key=self._webhooks_key)

    def get_async_webhooks_client(self) -> AsyncWebhooksClient:
        return AsyncWebhooksClient(self.environment, secret_key=self._webhooks_key)

    def get_workflows_client(self) -> WorkflowsClient:
        """A new client of ``/workflows``; close it."""
        return WorkflowsClient(self.environment, secret_key=self._secret_key)

    def get_async_workflows_client(self) -> AsyncWorkflowsClient:
        return AsyncWorkflowsClient(self.environment, secret_key=self._secret_key)

    def get_subscriptions_client(self) -> SubscriptionsClient:
        """A new client that plans and applies subscription specs; close it."""
        return SubscriptionsClient(
            self.environment, secret_key=self._secret_key, webhooks_secret_key=self._webhooks_key
        )

    def get_async_subscriptions_client(self) -> AsyncSubscriptionsClient:
        return AsyncSubscriptionsClient(
            self.environment, secret_key=self._secret_key, webhooks_secret_key=self._webhooks_key
        )

    @property
    def _secret_key(self) -> str:
        return self.secret_key.get_secret_value()

    @property
    def _webhooks_key(self) -> str:
        other = self.webhooks_secret_key
        return webhooks_key(self._secret_key, other.get_secret_value() if other else None)
