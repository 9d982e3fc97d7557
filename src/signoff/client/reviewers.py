"""Clients for reviewers and groups (``signoff serve`` only): who may decide approvals.

Every call needs an admin key (``signoff serve --admin-key NAME=KEY`` or ``signoff keys
create --kind admin``); an API key or a reviewer token gets 403 (:class:`Unauthorized`).
Contract: ``shared/guide/architecture.md``, "Who decides".

Retries as the other clients: reads and ``remove`` (a DELETE: deactivating twice is
deactivating once) are retried on transient failures; ``add`` and ``update`` are sent
once. ``add`` in particular: its answer carries the new reviewer's token, shown in that
answer only, so a lost answer cannot be replayed (the retry would read 409).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from signoff.client._calls import AsyncClient, Calls, SyncClient, async_method, sync_method
from signoff.client._transport import RetryPolicy, Step
from signoff.models.reviewers import (
    Group,
    Reviewer,
    ReviewerCreate,
    ReviewerCreated,
    ReviewerUpdate,
)


def _path(name: str) -> str:
    # Quoted whole: a name is one path segment whatever it holds (``../x`` stays a name).
    return f"/api/reviewers/{quote(name, safe='')}"


class ReviewerCalls(Calls):
    """Every reviewers and groups call, once, as a sans-I/O generator (see ``_transport``)."""

    def __init__(self, base_url: str, *, admin_key: str, retry: RetryPolicy | None = None) -> None:
        super().__init__(base_url, retry=retry)
        self.admin_key = admin_key

    def _headers(self, auth: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def list(self) -> Step[builtins.list[Reviewer]]:
        """Every reviewer: stored ones (active or not) and holders of tokens configured
        with ``--reviewer-token NAME=TOKEN`` that have no record yet (``configured``)."""
        response = yield from self._request("GET", "/api/reviewers")
        return [Reviewer.model_validate(item) for item in response.json()["data"]]

    def get(self, name: str) -> Step[Reviewer]:
        """One reviewer (404 :class:`NotFound` for a name nobody has)."""
        response = yield from self._request("GET", _path(name))
        return Reviewer.model_validate(response.json())

    def add(
        self,
        name: str,
        *,
        email: str | None = None,
        groups: Sequence[str] | None = None,
        notify: Sequence[str] | None = None,
    ) -> Step[ReviewerCreated]:
        """A new reviewer; the answer's ``token`` is theirs and is never shown again.

        ``notify``: their own chat or push targets, Apprise URLs (``slack://...``,
        ``msteams://...``, ``ntfy://...``, ``json://host/path``); the ``email`` is told too.
        409 :class:`Conflict` if the name exists (removed reviewers keep theirs); a name,
        email or target the service would refuse for its shape raises ``ValueError``
        before anything is sent (a URL Apprise does not know: 422 :class:`InvalidRequest`).
        """
        given = {"name": name, "email": email, "groups": _names(groups) or []}
        if notify:  # only when given: a service older than notifications knows no such key
            given["notify"] = _names(notify)
        body = ReviewerCreate.model_validate(given)
        response = yield from self._request(
            "POST",
            "/api/reviewers",
            json=body.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True),
        )
        return ReviewerCreated.model_validate(response.json())

    def update(
        self,
        name: str,
        changes: ReviewerUpdate | dict[str, Any] | None = None,
        *,
        email: str | None = None,
        groups: Sequence[str] | None = None,
        notify: Sequence[str] | None = None,
        active: bool | None = None,
    ) -> Step[Reviewer]:
        """Replace what is given: ``groups`` and ``notify`` (chat/push targets) as a whole
        (``[]`` leaves none), ``email``, ``active``. ``None`` leaves a field as it is; to
        clear the email pass ``changes={"email": None}``. A ``--reviewer-token`` reviewer
        gets a record."""
        values: dict[str, Any] = {}
        if changes is not None:
            values.update(
                changes.model_dump(exclude_unset=True)
                if isinstance(changes, ReviewerUpdate)
                else changes
            )
        if email is not None:
            values["email"] = email
        if groups is not None:
            values["groups"] = _names(groups)
        if notify is not None:
            values["notify"] = _names(notify)
        if active is not None:
            values["active"] = active
        body = ReviewerUpdate.model_validate(values)
        wire = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        response = yield from self._request("PATCH", _path(name), json=wire)
        return Reviewer.model_validate(response.json())

    def remove(self, name: str) -> Step[Reviewer]:
        """Deactivate: the record stays for the audit trail, stored tokens are revoked at
        once and the reviewer may decide nothing more. The answer reads ``active: false``."""
        response = yield from self._request("DELETE", _path(name))
        return Reviewer.model_validate(response.json())

    def groups(self) -> Step[builtins.list[Group]]:
        """Every group with its active members (groups exist through memberships)."""
        response = yield from self._request("GET", "/api/groups")
        return [Group.model_validate(item) for item in response.json()["data"]]


def _names(values: Sequence[str] | None) -> builtins.list[str] | None:
    """A tuple or a single string given by mistake: a list (a string is one name or
    target)."""
    if values is None:
        return None
    return [values] if isinstance(values, str) else builtins.list(values)


class ReviewersClient(SyncClient):
    """``with ReviewersClient(url, admin_key=...) as client: client.add("bob", groups=[...])``"""

    calls: ReviewerCalls

    def __init__(
        self,
        base_url: str,
        *,
        admin_key: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        calls = ReviewerCalls(base_url, admin_key=admin_key, retry=retry)
        super().__init__(calls, timeout=timeout, http_client=http_client)

    list = sync_method(ReviewerCalls.list)
    get = sync_method(ReviewerCalls.get)
    add = sync_method(ReviewerCalls.add)
    update = sync_method(ReviewerCalls.update)
    remove = sync_method(ReviewerCalls.remove)
    groups = sync_method(ReviewerCalls.groups)


class AsyncReviewersClient(AsyncClient):
    """Asynchronous client with the same calls as :class:`ReviewersClient`."""

    calls: ReviewerCalls

    def __init__(
        self,
        base_url: str,
        *,
        admin_key: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        calls = ReviewerCalls(base_url, admin_key=admin_key, retry=retry)
        super().__init__(calls, timeout=timeout, http_client=http_client)

    list = async_method(ReviewerCalls.list)
    get = async_method(ReviewerCalls.get)
    add = async_method(ReviewerCalls.add)
    update = async_method(ReviewerCalls.update)
    remove = async_method(ReviewerCalls.remove)
    groups = async_method(ReviewerCalls.groups)
