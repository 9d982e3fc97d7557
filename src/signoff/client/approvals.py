"""Clients for the approvals API: the hosted service of seed 000 and ``signoff serve``."""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpx

from signoff.client._calls import Calls
from signoff.client._transport import RetryPolicy, Sleep, Step, drive_async, drive_sync
from signoff.client.errors import (
    ApprovalCancelled,
    ApprovalExpired,
    ApprovalRejected,
    DecisionTimeout,
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
        retry: RetryPolicy,
    ) -> None:
        super().__init__(base_url, retry=retry)
        self.api_key = api_key
        self.reviewer_token = reviewer_token

    def _headers(self, auth: str) -> dict[str, str]:
        if auth == "reviewer" or (auth == "any" and not self.api_key):
            return {"Authorization": f"Bearer {self.reviewer_token}"} if self.reviewer_token else {}
        return {"x-api-key": self.api_key} if self.api_key else {}

    def create(self, body: ApprovalRequest, idempotency_key: str | None) -> Step[ApprovalCreated]:
        response = yield from self._request(
            "POST",
            "/api/approvals/request",
            json=body.model_dump(mode="json", by_alias=True, exclude_none=True),
            idempotency_key=idempotency_key,
        )
        return ApprovalCreated.model_validate(response.json())

    def get(self, approval_id: str, wait_ms: int = 0) -> Step[Approval]:
        response = yield from self._get(approval_id, wait_ms)
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

    def list_page(
        self, status: ApprovalStatus | None, limit: int, cursor: str | None
    ) -> Step[ApprovalList]:
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status.value
        if cursor:
            params["cursor"] = cursor
        response = yield from self._request("GET", "/api/approvals", auth="any", params=params)
        return ApprovalList.model_validate(response.json())

    def inbound(self, body: InboundRequest) -> Step[InboundResponse]:
        wait = (body.max_wait_ms or 0) / 1000
        response = yield from self._request(
            "POST",
            "/api/webhooks/inbound",
            json=body.model_dump(mode="json", by_alias=True, exclude_none=True),
            read_timeout=wait + 15,
        )
        return InboundResponse.model_validate(response.json())

    def decide(self, approval_id: str, body: DecisionRequest) -> Step[Approval]:
        response = yield from self._request(
            "POST",
            f"/api/approvals/{approval_id}/decision",
            auth="reviewer",
            json=body.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
        return Approval.model_validate(response.json())

    def cancel(self, approval_id: str, reason: str | None) -> Step[Approval]:
        response = yield from self._request(
            "POST",
            f"/api/approvals/{approval_id}/cancel",
            json=CancelRequest(reason=reason).to_wire(exclude_none=True),
            idempotency_key=f"cancel-{approval_id}",
        )
        return Approval.model_validate(response.json())

    def wait_many(self, ids: builtins.list[str], max_wait_ms: int) -> Step[WaitResult]:
        body = WaitRequest(ids=ids, max_wait_ms=max_wait_ms)
        response = yield from self._request(
            "POST",
            "/api/approvals/wait",
            json=body.to_wire(),
            read_timeout=max_wait_ms / 1000 + 15,
        )
        return WaitResult.model_validate(response.json())

    def callbacks(self, approval_id: str) -> Step[builtins.list[CallbackDelivery]]:
        response = yield from self._request(
            "GET", f"/api/approvals/{approval_id}/callbacks", auth="any"
        )
        return [CallbackDelivery.model_validate(item) for item in response.json()["data"]]

    def wait_for_decision(
        self, approval_id: str, timeout: float | None, poll_interval: float
    ) -> Step[Approval]:
        """Long-poll where the server supports it, else poll with capped, jittered backoff."""
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
                return approval
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


def _approval_request(
    action: str,
    summary: str,
    details: dict[str, Any] | None,
    *,
    risk_level: RiskLevel | str | None,
    risk_score: float | None,
    justification: str | None,
    callback_url: str | None,
    source: Source | dict[str, Any] | None,
    trace: dict[str, Any] | None,
    expires_in: float | None,
) -> ApprovalRequest:
    return ApprovalRequest.model_validate(
        {
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


def require_approved(approval: Approval) -> Approval:
    if approval.status is ApprovalStatus.APPROVED:
        return approval
    if approval.is_expired:
        raise ApprovalExpired(approval)
    if approval.is_cancelled:
        raise ApprovalCancelled(approval)
    raise ApprovalRejected(approval)


class _ClientBase:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        reviewer_token: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.calls = ApprovalCalls(
            base_url, api_key=api_key, reviewer_token=reviewer_token, retry=retry or RetryPolicy()
        )
        self.timeout = httpx.Timeout(timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.calls.base_url!r})"


class ApprovalsClient(_ClientBase):
    """Synchronous client. ``with ApprovalsClient(url, api_key=...) as client: ...``"""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        http: httpx.Client | None = kwargs.pop("http_client", None)
        super().__init__(base_url, **kwargs)
        self._http = http or httpx.Client(timeout=self.timeout)

    def __enter__(self) -> ApprovalsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

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
    ) -> ApprovalCreated:
        """Submit an approval. With ``idempotency_key`` a retry never creates a second one."""
        body = _approval_request(
            action,
            summary,
            details,
            risk_level=risk_level,
            risk_score=risk_score,
            justification=justification,
            callback_url=callback_url,
            source=source,
            trace=trace,
            expires_in=expires_in,
        )
        return drive_sync(self._http, self.calls.create(body, idempotency_key))

    def get(self, approval_id: str, *, wait: float = 0) -> Approval:
        """Read an approval; ``wait`` seconds long-polls on ``signoff serve``."""
        return drive_sync(self._http, self.calls.get(approval_id, int(wait * 1000)))

    def list(
        self, status: ApprovalStatus | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> ApprovalList:
        return drive_sync(self._http, self.calls.list_page(status, limit, cursor))

    def inbound(self, body: InboundRequest) -> InboundResponse:
        """Seed 000's ``/api/webhooks/inbound``: short-wait and/or callback."""
        return drive_sync(self._http, self.calls.inbound(body))

    def decide(self, approval_id: str, decision: DecisionRequest) -> Approval:
        return drive_sync(self._http, self.calls.decide(approval_id, decision))

    def approve(
        self,
        approval_id: str,
        *,
        modified_details: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> Approval:
        decision = DecisionRequest(decision="approve", modified_details=modified_details, note=note)
        return self.decide(approval_id, decision)

    def reject(self, approval_id: str, *, note: str | None = None) -> Approval:
        return self.decide(approval_id, DecisionRequest(decision="reject", note=note))

    def cancel(self, approval_id: str, *, reason: str | None = None) -> Approval:
        """Withdraw a pending approval (409 :class:`Conflict` once it is decided)."""
        return drive_sync(self._http, self.calls.cancel(approval_id, reason))

    def wait_many(self, ids: Iterable[str], *, max_wait: float = 30.0) -> WaitResult:
        return drive_sync(self._http, self.calls.wait_many(list(ids), int(max_wait * 1000)))

    def callbacks(self, approval_id: str) -> builtins.list[CallbackDelivery]:
        return drive_sync(self._http, self.calls.callbacks(approval_id))

    def wait_for_decision(
        self,
        approval_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        raise_on_reject: bool = False,
    ) -> Approval:
        """Block until decided. Raises :class:`DecisionTimeout` when ``timeout`` passes."""
        approval = drive_sync(
            self._http, self.calls.wait_for_decision(approval_id, timeout, poll_interval)
        )
        return require_approved(approval) if raise_on_reject else approval


class AsyncApprovalsClient(_ClientBase):
    """Asynchronous client with the same calls as :class:`ApprovalsClient`."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        http: httpx.AsyncClient | None = kwargs.pop("http_client", None)
        super().__init__(base_url, **kwargs)
        self._http = http or httpx.AsyncClient(timeout=self.timeout)

    async def __aenter__(self) -> AsyncApprovalsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create(
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
    ) -> ApprovalCreated:
        body = _approval_request(
            action,
            summary,
            details,
            risk_level=risk_level,
            risk_score=risk_score,
            justification=justification,
            callback_url=callback_url,
            source=source,
            trace=trace,
            expires_in=expires_in,
        )
        return await drive_async(self._http, self.calls.create(body, idempotency_key))

    async def get(self, approval_id: str, *, wait: float = 0) -> Approval:
        return await drive_async(self._http, self.calls.get(approval_id, int(wait * 1000)))

    async def list(
        self, status: ApprovalStatus | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> ApprovalList:
        return await drive_async(self._http, self.calls.list_page(status, limit, cursor))

    async def inbound(self, body: InboundRequest) -> InboundResponse:
        return await drive_async(self._http, self.calls.inbound(body))

    async def decide(self, approval_id: str, decision: DecisionRequest) -> Approval:
        return await drive_async(self._http, self.calls.decide(approval_id, decision))

    async def approve(
        self,
        approval_id: str,
        *,
        modified_details: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> Approval:
        decision = DecisionRequest(decision="approve", modified_details=modified_details, note=note)
        return await self.decide(approval_id, decision)

    async def reject(self, approval_id: str, *, note: str | None = None) -> Approval:
        return await self.decide(approval_id, DecisionRequest(decision="reject", note=note))

    async def cancel(self, approval_id: str, *, reason: str | None = None) -> Approval:
        return await drive_async(self._http, self.calls.cancel(approval_id, reason))

    async def wait_many(self, ids: Iterable[str], *, max_wait: float = 30.0) -> WaitResult:
        return await drive_async(self._http, self.calls.wait_many(list(ids), int(max_wait * 1000)))

    async def callbacks(self, approval_id: str) -> builtins.list[CallbackDelivery]:
        return await drive_async(self._http, self.calls.callbacks(approval_id))

    async def wait_for_decision(
        self,
        approval_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        raise_on_reject: bool = False,
    ) -> Approval:
        approval = await drive_async(
            self._http, self.calls.wait_for_decision(approval_id, timeout, poll_interval)
        )
        return require_approved(approval) if raise_on_reject else approval
