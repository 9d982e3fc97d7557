"""Clients for the approvals API: the hosted service of seed 000 and ``signoff serve``."""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Any

import httpx

from signoff.client._calls import AsyncClient, Calls, SyncClient, async_method, sync_method
from signoff.client._transport import RetryPolicy, Sleep, Step, raise_for_error
from signoff.client.errors import (
    ApprovalCancelled,
    ApprovalExpired,
    ApprovalRejected,
    Conflict,
    DecisionTimeout,
    NotFound,
    TransportError,
)
from signoff.models import (
    LONG_POLL_HEADER,
    MAX_LONG_POLL_MS,
    Approval,
    ApprovalCreated,
    ApprovalList,
    ApprovalRequest,
    ApprovalStatus,
    CallbackDelivery,
    CancelRequest,
    DecisionRequest,
    InboundRequest,
    InboundResponse,
    RiskLevel,
    Source,
    StepSpec,
    WaitRequest,
    WaitResult,
)

DEFAULT_POLL_INTERVAL = 10.0
"""Longest gap between polls against a server without long-poll (backoff starts at 1 s)."""


class ApprovalCalls(Calls):
    """Every approvals call, once, as a sans-I/O generator (see ``_transport``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        reviewer_token: str | None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(base_url, retry=retry)
        self.api_key = api_key
        self.reviewer_token = reviewer_token

    def _headers(self, auth: str) -> dict[str, str]:
        if auth == "reviewer" or (auth == "any" and not self.api_key):
            return {"Authorization": f"Bearer {self.reviewer_token}"} if self.reviewer_token else {}
        return {"x-api-key": self.api_key} if self.api_key else {}

    def create(
        self,
        action: str,
        summary: str,
        details: dict[str, Any] | None = None,
        *,
        risk_level: RiskLevel | str | None = None,
        risk_score: float | None = None,
        justification: str | None = None,
        callback_url: str | None = None,
        source: Source | dict[str, Any] | None = None,
        trace: dict[str, Any] | None = None,
        expires_in: float | None = None,
        idempotency_key: str | None = None,
        reviewers: Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
        required_approvals: int | None = None,
        steps: Sequence[StepSpec | dict[str, Any]] | None = None,
        requested_by: str | None = None,
        options: Sequence[str] | None = None,
        multiple: bool | None = None,
        reason_codes: Sequence[str] | None = None,
        details_schema: dict[str, Any] | None = None,
    ) -> Step[ApprovalCreated]:
        """Submit an approval. With ``idempotency_key`` a retry never creates a second one.

        Who decides (``signoff serve`` only; the hosted service ignores them): named
        ``reviewers`` and/or ``groups``, ``required_approvals`` distinct approvers, or an
        ordered chain of ``steps``; ``requested_by`` can never approve; reviewers pick of
        ``options`` (several with ``multiple``) and ``reason_codes``; their edits must keep
        ``details_schema`` (a JSON Schema).
        """
        body = ApprovalRequest.model_validate(
            {
                "reviewers": _names(reviewers),
                "groups": _names(groups),
                "required_approvals": required_approvals,
                "steps": None if steps is None else builtins.list(steps),
                "requested_by": requested_by,
                "options": _names(options),
                "multiple": multiple,
                "reason_codes": _names(reason_codes),
                "details_schema": details_schema,
                "action": action,
                "summary": summary,
                "details": details or {},
                "risk_level": risk_level,
                "risk_score": risk_score,
                "justification": justification,
                "callback_url": callback_url,
                "source": source,
                "trace": trace,
                "expires_in_seconds": None if expires_in is None else max(1, int(expires_in)),
            }
        )
        response = yield from self._request(
            "POST",
            "/api/approvals/request",
            json=body.model_dump(mode="json", by_alias=True, exclude_none=True),
            idempotency_key=idempotency_key,
        )
        return ApprovalCreated.model_validate(response.json())

    def get(self, approval_id: str, *, wait: float = 0) -> Step[Approval]:
        """Read an approval; ``wait`` seconds long-polls on ``signoff serve``."""
        response = yield from self._get(approval_id, int(wait * 1000))
        return Approval.model_validate(response.json())

    def _get(self, approval_id: str, wait_ms: int) -> Step[httpx.Response]:
        params = {"waitMs": wait_ms} if wait_ms > 0 else None
        return (
            yield from self._request(
                "GET",
                f"/api/approvals/{approval_id}",
                params=params,
                read_timeout=wait_ms / 1000 + 15 if wait_ms else None,
            )
        )

    def list(
        self, status: ApprovalStatus | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> Step[ApprovalList]:
        """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status.value
        if cursor:
            params["cursor"] = cursor
        response = yield from self._request("GET", "/api/approvals", auth="any", params=params)
        return ApprovalList.model_validate(response.json())

    def inbound(self, body: InboundRequest) -> Step[InboundResponse]:
        """Seed 000's ``/api/webhooks/inbound``: short-wait and/or callback."""
        wait = (body.max_wait_ms or 0) / 1000
        response = yield from self._request(
            "POST",
            "/api/webhooks/inbound",
            json=body.model_dump(mode="json", by_alias=True, exclude_none=True),
            read_timeout=wait + 15,
        )
        return InboundResponse.model_validate(response.json())

    def decide(self, approval_id: str, decision: DecisionRequest) -> Step[Approval]:
        """Record a reviewer's decision (needs the reviewer token)."""
        response = yield from self._request(
            "POST",
            f"/api/approvals/{approval_id}/decision",
            auth="reviewer",
            json=decision.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
        return Approval.model_validate(response.json())

    def approve(
        self,
        approval_id: str,
        *,
        modified_details: dict[str, Any] | None = None,
        note: str | None = None,
        chosen_options: Sequence[str] | None = None,
        reason_code: str | None = None,
    ) -> Step[Approval]:
        """Approve as the reviewer; on an n-of-m approval or a chain this counts one
        approval toward the open step (the answer may still read PENDING)."""
        decision = DecisionRequest(
            decision="approve",
            modified_details=modified_details,
            note=note,
            chosen_options=_names(chosen_options),
            reason_code=reason_code,
        )
        return (yield from self.decide(approval_id, decision))

    def reject(
        self, approval_id: str, *, note: str | None = None, reason_code: str | None = None
    ) -> Step[Approval]:
        decision = DecisionRequest(decision="reject", note=note, reason_code=reason_code)
        return (yield from self.decide(approval_id, decision))

    def cancel(self, approval_id: str, *, reason: str | None = None) -> Step[Approval]:
        """Withdraw a pending approval (409 :class:`Conflict` once it is decided)."""
        response = yield from self._request(
            "POST",
            f"/api/approvals/{approval_id}/cancel",
            json=CancelRequest(reason=reason).to_wire(exclude_none=True),
            idempotency_key=f"cancel-{approval_id}",
        )
        return Approval.model_validate(response.json())

    def withdraw(self, approval_id: str, *, reason: str | None = None) -> Step[Approval | None]:
        """:meth:`cancel` if it is still pending: the withdrawn approval, or ``None`` when
        there is nothing to withdraw (decided already, 409; unknown to the service, 404).

        What a pipeline does when it stops waiting (its task was killed, or its deadline
        passed): a decision that got there first is no error, it is simply kept.
        """
        try:
            return (yield from self.cancel(approval_id, reason=reason))
        except (Conflict, NotFound):
            return None

    def wait_many(self, ids: Iterable[str], *, max_wait: float = 30.0) -> Step[WaitResult]:
        """Answer as soon as any of ``ids`` is decided (``signoff serve`` only)."""
        max_wait_ms = int(max_wait * 1000)
        body = WaitRequest(ids=builtins.list(ids), max_wait_ms=max_wait_ms)
        response = yield from self._request(
            "POST",
            "/api/approvals/wait",
            json=body.to_wire(),
            read_timeout=max_wait_ms / 1000 + 15,
        )
        return WaitResult.model_validate(response.json())

    def wait_stream_request(self, ids: Iterable[str], *, max_wait: float) -> httpx.Request:
        """The ``stream: true`` form of :meth:`wait_many`, to be sent with ``stream=True``.

        A request, not a call: its answer is read line by line as decisions happen, which
        the whole-answer transport cannot do (see :meth:`AsyncApprovalsClient.decisions`).
        """
        max_wait_ms = int(max_wait * 1000)
        body = WaitRequest(ids=builtins.list(ids), max_wait_ms=max_wait_ms, stream=True)
        timeout = httpx.Timeout(10.0, read=max_wait_ms / 1000 + 15)
        return httpx.Request(
            "POST",
            self.base_url + "/api/approvals/wait",
            json=body.to_wire(),
            headers=self._headers("api"),
            extensions={"timeout": timeout.as_dict()},
        )

    def callbacks(self, approval_id: str) -> Step[builtins.list[CallbackDelivery]]:
        """The approval's callback with every delivery attempt."""
        response = yield from self._request(
            "GET", f"/api/approvals/{approval_id}/callbacks", auth="any"
        )
        return [CallbackDelivery.model_validate(item) for item in response.json()["data"]]

    def wait_for_decision(
        self,
        approval_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        raise_on_reject: bool = False,
    ) -> Step[Approval]:
        """Block until decided: long-poll where the server supports it, else poll with
        capped, jittered backoff. Raises :class:`DecisionTimeout` when ``timeout`` passes;
        with ``raise_on_reject``, :class:`ApprovalRejected` (or its expired / cancelled
        kinds) unless approved."""
        deadline = None if timeout is None else time.monotonic() + timeout
        long_poll = True
        delay = min(1.0, poll_interval)
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait_ms = 0
            if long_poll:
                wait_ms = MAX_LONG_POLL_MS if remaining is None else int(remaining * 1000)
                wait_ms = min(wait_ms, MAX_LONG_POLL_MS)
            response = yield from self._get(approval_id, wait_ms)
            approval = Approval.model_validate(response.json())
            if approval.is_decided:
                return require_approved(approval) if raise_on_reject else approval
            if deadline is not None and time.monotonic() >= deadline:
                raise DecisionTimeout(approval_id, timeout or 0.0)
            if LONG_POLL_HEADER.lower() not in response.headers:
                long_poll = False
            if not long_poll:
                pause = delay * random.uniform(0.8, 1.2)
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline - time.monotonic()))
                yield Sleep(pause)
                delay = min(poll_interval, delay * 1.5)


def _names(values: Sequence[str] | None) -> builtins.list[str] | None:
    """A tuple or a single string given by mistake: a list (a string is one name)."""
    if values is None:
        return None
    return [values] if isinstance(values, str) else builtins.list(values)


def require_approved(approval: Approval) -> Approval:
    if approval.status is ApprovalStatus.APPROVED:
        return approval
    if approval.is_expired:
        raise ApprovalExpired(approval)
    if approval.is_cancelled:
        raise ApprovalCancelled(approval)
    raise ApprovalRejected(approval)


class ApprovalsClient(SyncClient):
    """Synchronous client. ``with ApprovalsClient(url, api_key=...) as client: ...``

    ``reviewer_token`` is needed only to decide; ``http_client`` replaces the
    ``httpx.Client`` (proxies, certificates, event hooks).
    """

    calls: ApprovalCalls

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        reviewer_token: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        calls = ApprovalCalls(base_url, api_key=api_key, reviewer_token=reviewer_token, retry=retry)
        super().__init__(calls, timeout=timeout, http_client=http_client)

    create = sync_method(ApprovalCalls.create)
    get = sync_method(ApprovalCalls.get)
    list = sync_method(ApprovalCalls.list)
    inbound = sync_method(ApprovalCalls.inbound)
    decide = sync_method(ApprovalCalls.decide)
    approve = sync_method(ApprovalCalls.approve)
    reject = sync_method(ApprovalCalls.reject)
    cancel = sync_method(ApprovalCalls.cancel)
    withdraw = sync_method(ApprovalCalls.withdraw)
    wait_many = sync_method(ApprovalCalls.wait_many)
    callbacks = sync_method(ApprovalCalls.callbacks)
    wait_for_decision = sync_method(ApprovalCalls.wait_for_decision)


class AsyncApprovalsClient(AsyncClient):
    """Asynchronous client with the same calls as :class:`ApprovalsClient`."""

    calls: ApprovalCalls

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        reviewer_token: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        calls = ApprovalCalls(base_url, api_key=api_key, reviewer_token=reviewer_token, retry=retry)
        super().__init__(calls, timeout=timeout, http_client=http_client)

    create = async_method(ApprovalCalls.create)
    get = async_method(ApprovalCalls.get)
    list = async_method(ApprovalCalls.list)
    inbound = async_method(ApprovalCalls.inbound)
    decide = async_method(ApprovalCalls.decide)
    approve = async_method(ApprovalCalls.approve)
    reject = async_method(ApprovalCalls.reject)
    cancel = async_method(ApprovalCalls.cancel)
    withdraw = async_method(ApprovalCalls.withdraw)
    wait_many = async_method(ApprovalCalls.wait_many)
    callbacks = async_method(ApprovalCalls.callbacks)
    wait_for_decision = async_method(ApprovalCalls.wait_for_decision)

    async def decisions(
        self, ids: Iterable[str], *, max_wait: float = 30.0
    ) -> AsyncGenerator[Approval, None]:
        """Each of ``ids`` as it is decided (already decided ones first), until all are or
        ``max_wait`` passes: one streamed ``POST /api/approvals/wait`` (``signoff serve``).

        A server that does not stream answers one ``WaitResult``: its decided ones are
        yielded and the iteration ends, as after :meth:`wait_many`. Not retried: a caller
        waiting on many approvals decides how to go on (see ``signoff.waiting``). Close it
        (``contextlib.aclosing``) when stopping early, to hang up at once.
        """
        request = self.calls.wait_stream_request(ids, max_wait=max_wait)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise TransportError(f"POST {request.url}: {exc}") from exc
        try:
            streamed = response.headers.get("content-type", "").startswith("application/x-ndjson")
            if not (response.is_success and streamed):
                await response.aread()
                raise_for_error(response)
                for approval in WaitResult.model_validate(response.json()).decided:
                    yield approval
                return
            async for line in response.aiter_lines():
                if line:
                    yield Approval.model_validate_json(line)
        except httpx.TransportError as exc:
            raise TransportError(f"POST {request.url}: {exc}") from exc
        finally:
            await response.aclose()
