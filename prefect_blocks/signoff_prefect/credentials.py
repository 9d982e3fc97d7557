"""Credentials blocks: where a flow finds the approvals service and the webhook API."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr

from signoff.client import (
    ApprovalsClient,
    AsyncApprovalsClient,
    AsyncWebhooksClient,
    AsyncWorkflowsClient,
    WebhooksClient,
    WorkflowsClient,
)
from signoff.subscriptions import AsyncSubscriptionsClient, SubscriptionsClient

LOGO_FILE = Path(__file__).parent / "logo.png"
LOGO = "https://raw.githubusercontent.com/signoff-dev/signoff/main/prefect_blocks/signoff_prefect/logo.png"
"""Where the UI loads the logo from; the same image ships as ``LOGO_FILE``."""
DOCS = "https://github.com/signoff-dev/signoff#prefect"


class SignoffCredentials(CredentialsBlock):
    """Connects flows to a signoff approvals service (signoff serve, or the hosted API)."""

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

    def get_client(
        self, client_type: Literal["sync", "async"] = "sync"
    ) -> ApprovalsClient | AsyncApprovalsClient:
        """A client from signoff's core; ``client_type="async"`` for async flows."""
        key = self.api_key.get_secret_value()
        if client_type == "async":
            return AsyncApprovalsClient(self.base_url, api_key=key, timeout=self.timeout)
        return ApprovalsClient(self.base_url, api_key=key, timeout=self.timeout)


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

    def get_client(
        self,
        client_type: Literal["webhooks", "workflows", "subscriptions"] = "subscriptions",
        *,
        asynchronous: bool = False,
    ) -> Any:
        """A core client: webhooks, workflows, or subscriptions (plan and apply)."""
        key = self.secret_key.get_secret_value()
        webhooks_key = (
            self.webhooks_secret_key.get_secret_value() if self.webhooks_secret_key else key
        )
        if client_type == "webhooks":
            kind = AsyncWebhooksClient if asynchronous else WebhooksClient
            return kind(self.environment, secret_key=webhooks_key)
        if client_type == "workflows":
            flows = AsyncWorkflowsClient if asynchronous else WorkflowsClient
            return flows(self.environment, secret_key=key)
        subscriptions = AsyncSubscriptionsClient if asynchronous else SubscriptionsClient
        return subscriptions(self.environment, secret_key=key, webhooks_secret_key=webhooks_key)
