"""Webhooks as code: a spec file, a plan of what would change, and apply.

``SubscriptionsClient(url_or_environment, secret_key=...)`` reads and changes the webhooks
and workflows of an account (hosted, or ``signoff serve``); ``plan(spec)`` compares
them with a :class:`Spec`, ``apply(plan)`` carries the plan out.
"""

from __future__ import annotations

import httpx

from signoff.client._calls import AsyncClient, Calls, SyncClient, async_method, sync_method
from signoff.client._transport import RetryPolicy, Step
from signoff.client.webhooks import WebhookCalls, WorkflowCalls, base_url_for, webhooks_key
from signoff.subscriptions.plan import (
    ApplyFailed,
    ApplyResult,
    Change,
    FieldChange,
    Plan,
    StepResult,
    Unmanaged,
    apply_steps,
    plan_steps,
)
from signoff.subscriptions.spec import (
    MANAGED_HEADER,
    Spec,
    SpecError,
    json_schema,
    load,
    loads,
)


class SubscriptionCalls(Calls):
    """Both APIs at once; each request carries its own API's authorization."""

    def __init__(
        self,
        environment: str,
        *,
        secret_key: str,
        webhooks_secret_key: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        base_url = base_url_for(environment)
        super().__init__(base_url, retry=retry)
        self.webhooks = WebhookCalls(
            base_url, secret_key=webhooks_key(secret_key, webhooks_secret_key), retry=retry
        )
        self.workflows = WorkflowCalls(base_url, secret_key=secret_key, retry=retry)

    def plan(self, spec: Spec, prune: bool = False, prune_unmanaged: bool = False) -> Step[Plan]:
        """Read the account (the only calls a no-change plan makes) and compare."""
        return plan_steps(spec, self.webhooks, self.workflows, prune, prune_unmanaged)

    def apply(self, plan: Plan) -> Step[ApplyResult]:
        """Carry out ``plan``; stops at the first failure (re-running converges)."""
        return apply_steps(plan, self.webhooks, self.workflows)


class SubscriptionsClient(SyncClient):
    """``SubscriptionsClient("sandbox" | "production" | url, secret_key=...)``

    On the hosted platform ``/webhooks`` may need another key (the "previous" platform's):
    pass it as ``webhooks_secret_key``.
    """

    calls: SubscriptionCalls

    def __init__(
        self,
        environment: str,
        *,
        secret_key: str,
        webhooks_secret_key: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        calls = SubscriptionCalls(
            environment, secret_key=secret_key, webhooks_secret_key=webhooks_secret_key, retry=retry
        )
        super().__init__(calls, timeout=timeout, http_client=http_client)

    plan = sync_method(SubscriptionCalls.plan)
    apply = sync_method(SubscriptionCalls.apply)


class AsyncSubscriptionsClient(AsyncClient):
    calls: SubscriptionCalls

    def __init__(
        self,
        environment: str,
        *,
        secret_key: str,
        webhooks_secret_key: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        calls = SubscriptionCalls(
            environment, secret_key=secret_key, webhooks_secret_key=webhooks_secret_key, retry=retry
        )
        super().__init__(calls, timeout=timeout, http_client=http_client)

    plan = async_method(SubscriptionCalls.plan)
    apply = async_method(SubscriptionCalls.apply)


__all__ = [
    "MANAGED_HEADER",
    "ApplyFailed",
    "ApplyResult",
    "AsyncSubscriptionsClient",
    "Change",
    "FieldChange",
    "Plan",
    "Spec",
    "SpecError",
    "StepResult",
    "SubscriptionsClient",
    "Unmanaged",
    "json_schema",
    "load",
    "loads",
]
