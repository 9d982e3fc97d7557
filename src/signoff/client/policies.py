"""Clients for approval policies (``signoff serve`` only): policies as code, over the API.

Every call needs an admin key (``signoff serve --admin-key NAME=KEY`` or ``signoff keys
create --kind admin``); an API key or a reviewer token gets 403 (:class:`Unauthorized`),
so that nobody who asks for approvals can change how they are decided.
Contract: ``shared/guide/architecture.md``, "Policies".

A document is the policy file as JSON: a :class:`~signoff.policies.spec.PolicyFile`
(sent as its canonical :meth:`~signoff.policies.spec.PolicyFile.document`) or a dict. A
document the service refuses (a condition that does not compile, an unknown group)
raises :class:`InvalidRequest` whose ``problems`` name each field (``policies.1.when``).

Retries: ``active`` (a GET) and ``apply`` (a PUT: applying the same document twice makes
one version, the second answer reads ``changed: false``) are retried on transient
failures; ``validate``, ``plan`` and ``test`` are POSTs and are sent once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

import httpx

from signoff.client._calls import AsyncClient, Calls, SyncClient, async_method, sync_method
from signoff.client._transport import RetryPolicy, Step
from signoff.client.errors import NotFound
from signoff.models.policies import (
    PolicyApplied,
    PolicyDocument,
    PolicyPlan,
    PolicyTestReport,
    PolicyTestRequest,
    PolicyValid,
    PolicyVersion,
)

if TYPE_CHECKING:  # the file model reads YAML: clients that never touch a file skip it
    from signoff.policies.spec import PolicyFile

ROUTE_MISSING = "Not Found"
"""What a service without the policies routes answers (the framework's own 404)."""

Document = Union["PolicyFile", Mapping[str, Any]]


def _document(document: Document) -> dict[str, Any]:
    if isinstance(document, Mapping):
        return dict(document)
    return document.document()


class PolicyCalls(Calls):
    """Every policies call, once, as a sans-I/O generator (see ``_transport``)."""

    def __init__(self, base_url: str, *, admin_key: str, retry: RetryPolicy | None = None) -> None:
        super().__init__(base_url, retry=retry)
        self.admin_key = admin_key

    def _headers(self, auth: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def _body(self, document: Document) -> dict[str, Any]:
        return PolicyDocument(document=_document(document)).to_wire()

    def active(self) -> Step[PolicyVersion | None]:
        """The active policy and its version; ``None`` when none was ever applied."""
        try:
            response = yield from self._request("GET", "/api/policies")
        except NotFound as exc:
            if exc.error == ROUTE_MISSING:  # a service that has no policies at all
                raise
            return None
        return PolicyVersion.model_validate(response.json())

    def validate(self, document: Document) -> Step[PolicyValid]:
        """Have the service check the document (its conditions compiled, its groups
        known) without applying it."""
        response = yield from self._request(
            "POST", "/api/policies/validate", json=self._body(document)
        )
        return PolicyValid.model_validate(response.json())

    def plan(self, document: Document) -> Step[PolicyPlan]:
        """What applying the document would change against the active version."""
        response = yield from self._request("POST", "/api/policies/plan", json=self._body(document))
        return PolicyPlan.model_validate(response.json())

    def apply(self, document: Document) -> Step[PolicyApplied]:
        """Make the document the active policy: a new version when it changes anything
        (``changed``), the active one untouched otherwise."""
        response = yield from self._request("PUT", "/api/policies", json=self._body(document))
        return PolicyApplied.model_validate(response.json())

    def test(
        self,
        document: Document,
        *,
        since_seconds: int = 30 * 24 * 3600,
        limit: int | None = None,
    ) -> Step[PolicyTestReport]:
        """Replay the approvals of the last ``since_seconds`` (the newest ``limit`` at
        most) against the document: per rule, what it would have decided or routed, and
        how much of that differs from what happened. Nothing is changed."""
        values: dict[str, Any] = {"document": _document(document), "since_seconds": since_seconds}
        if limit is not None:
            values["limit"] = limit
        body = PolicyTestRequest.model_validate(values)
        response = yield from self._request(
            "POST", "/api/policies/test", json=body.to_wire(exclude_none=True)
        )
        return PolicyTestReport.model_validate(response.json())


class PoliciesClient(SyncClient):
    """``with PoliciesClient(url, admin_key=...) as client: client.plan(load("p.yaml"))``"""

    calls: PolicyCalls

    def __init__(
        self,
        base_url: str,
        *,
        admin_key: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        calls = PolicyCalls(base_url, admin_key=admin_key, retry=retry)
        super().__init__(calls, timeout=timeout, http_client=http_client)

    active = sync_method(PolicyCalls.active)
    validate = sync_method(PolicyCalls.validate)
    plan = sync_method(PolicyCalls.plan)
    apply = sync_method(PolicyCalls.apply)
    test = sync_method(PolicyCalls.test)


class AsyncPoliciesClient(AsyncClient):
    """Asynchronous client with the same calls as :class:`PoliciesClient`."""

    calls: PolicyCalls

    def __init__(
        self,
        base_url: str,
        *,
        admin_key: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        calls = PolicyCalls(base_url, admin_key=admin_key, retry=retry)
        super().__init__(calls, timeout=timeout, http_client=http_client)

    active = async_method(PolicyCalls.active)
    validate = async_method(PolicyCalls.validate)
    plan = async_method(PolicyCalls.plan)
    apply = async_method(PolicyCalls.apply)
    test = async_method(PolicyCalls.test)
