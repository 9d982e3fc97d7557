"""Wire models of the approvals API (seed 000 plus signoff's own extensions).

Field names follow the hosted service and its `cheqpoint` SDK exactly; what signoff adds
(`waitMs`, `POST /api/approvals/wait`, the reviewer decision) is marked as such.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from signoff.models._base import JsonInput, JsonObject, UtcDateTime, WireModel
from signoff.models.reviewers import (
    MAX_NAMES,
    MAX_REQUIRED,
    MAX_STEPS,
    Name,
    RecordedApproval,
    StepProgress,
    StepSpec,
    unique,
)
from signoff.models.webhooks import check_url

MAX_OPTIONS = 50
Choice = Annotated[str, Field(min_length=1, max_length=200)]

MAX_INBOUND_WAIT_MS = 10_000
"""The seed caps the short wait of `/api/webhooks/inbound` at 10 s."""

MAX_LONG_POLL_MS = 30_000
"""signoff's own long-poll (`?waitMs=` and `/api/approvals/wait`) holds at most 30 s."""


LONG_POLL_HEADER = "X-Signoff-Long-Poll"
"""Set by ``signoff serve`` on answers to ``?waitMs=``; without it a client polls instead."""


class ApprovalStatus(str, Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class RiskLevel(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @classmethod
    def from_score(cls, score: float) -> RiskLevel:
        """The SDK sends 0.2 / 0.5 / 0.9 for low / medium / high."""
        if score >= 0.95:
            return cls.CRITICAL
        if score >= 0.7:
            return cls.HIGH
        if score >= 0.35:
            return cls.MEDIUM
        return cls.LOW

    @property
    def score(self) -> float:
        return {"low": 0.2, "medium": 0.5, "high": 0.9, "critical": 1.0}[self.value]


class DecisionReason(str, Enum):
    """Why an approval left PENDING (`decisionReasonCode` on the wire)."""

    REVIEWER = "REVIEWER"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    """Withdrawn by whoever asked (e.g. the Airflow task was killed or marked failed)."""
    POLICY = "POLICY"
    """Decided by a policy (``autoDecided``; ``autoDecisionRuleName`` names it)."""


class Source(WireModel):
    """Who asked: the pipeline, run and task behind an approval (signoff extension)."""

    system: str | None = Field(default=None, max_length=50, description="airflow, prefect, ...")
    pipeline: str | None = Field(default=None, max_length=250, description="DAG id / flow name")
    run: str | None = Field(default=None, max_length=250)
    task: str | None = Field(default=None, max_length=250)
    url: str | None = Field(default=None, max_length=2000, description="Link back to the run")


def _check_http_url(value: str | None) -> str | None:
    """The same rule as every webhook URL: http(s), a host, nothing unsendable."""
    return check_url(value)


class ApprovalRequest(WireModel):
    """Body of `POST /api/approvals/request`."""

    action: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=2000)
    details: JsonInput = Field(default_factory=dict)
    risk_level: RiskLevel | None = None
    risk_score: float | None = Field(default=None, ge=0.0, le=1.0)
    justification: str | None = Field(default=None, max_length=10_000)
    callback_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("webhookUrl", "callbackUrl", "webhook_url", "callback_url"),
        serialization_alias="webhookUrl",
    )
    trace: JsonInput | None = None
    source: Source | None = None
    expires_in_seconds: int | None = Field(
        default=None, ge=1, le=90 * 24 * 3600, description="signoff extension: lifetime"
    )
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    """The SDK repeats its key in the body; accepted and never stored or echoed."""

    # Who decides (signoff extensions; without them any reviewer decides, once).
    reviewers: list[Name] | None = Field(default=None, max_length=MAX_NAMES)
    groups: list[Name] | None = Field(default=None, max_length=MAX_NAMES)
    required_approvals: int | None = Field(default=None, ge=1, le=MAX_REQUIRED)
    steps: list[StepSpec] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)
    requested_by: str | None = Field(default=None, min_length=1, max_length=200)
    """The person on whose behalf the pipeline asks: never eligible to decide it."""
    options: list[Choice] | None = Field(default=None, min_length=1, max_length=MAX_OPTIONS)
    multiple: bool | None = None
    """Reviewers may pick several ``options`` (default: exactly one)."""
    reason_codes: list[Choice] | None = Field(default=None, min_length=1, max_length=MAX_OPTIONS)
    details_schema: JsonInput | None = None
    """A JSON Schema that ``details`` and every reviewer's edit of them must satisfy."""

    _check_url = field_validator("callback_url")(_check_http_url)

    @model_validator(mode="after")
    def _routing(self) -> ApprovalRequest:
        if self.steps is not None and (
            self.reviewers or self.groups or self.required_approvals is not None
        ):
            raise ValueError(
                "steps: give either steps or reviewers/groups/requiredApprovals, not both "
                "(steps replaces them)"
            )
        if self.steps is None:
            StepSpec(  # the same checks as a step's
                reviewers=self.reviewers or [],
                groups=self.groups or [],
                required_approvals=self.required_approvals or 1,
            )
        if self.options is not None:
            unique(self.options, "options")
        elif self.multiple:
            raise ValueError("multiple: only with options")
        if self.reason_codes is not None:
            unique(self.reason_codes, "reasonCodes")
        return self

    def routed_steps(self) -> list[StepSpec]:
        """The chain this request asks for: its ``steps``, or one step of the rest."""
        if self.steps is not None:
            return list(self.steps)
        return [
            StepSpec(
                reviewers=self.reviewers or [],
                groups=self.groups or [],
                required_approvals=self.required_approvals or 1,
            )
        ]

    def effective_risk_level(self) -> RiskLevel:
        if self.risk_level is not None:
            return self.risk_level
        if self.risk_score is not None:
            return RiskLevel.from_score(self.risk_score)
        return RiskLevel.MEDIUM


class ApprovalCreated(WireModel):
    id: str
    status: ApprovalStatus


class Approval(WireModel):
    """`GET /api/approvals/{id}`: every field the SDK reads plus signoff's own."""

    id: str
    status: ApprovalStatus
    action: str
    summary: str
    details: JsonObject
    risk_level: RiskLevel
    risk_score: float | None = None
    justification: str | None = None
    modified_details: JsonObject | None = None
    response_notes: str | None = None
    decision_reason_code: DecisionReason | None = None
    decision_note: str | None = None
    auto_decided: bool = False
    auto_decision_rule_name: str | None = None
    decided_at: UtcDateTime | None = None
    decided_by: str | None = None
    retryable: bool = False
    review_url: str | None = None
    created_at: UtcDateTime
    expires_at: UtcDateTime | None = None
    callback_url: str | None = None
    source: Source | None = None
    trace: JsonObject | None = None
    # Who decides (signoff extensions). reviewers / groups / requiredApprovals describe
    # the step open now (the last one once decided); steps has the whole chain.
    reviewers: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    required_approvals: int = 1
    steps: list[StepProgress] = Field(default_factory=list)
    current_step: int | None = None
    """1-based number of the open step; ``None`` once decided."""
    approvals: list[RecordedApproval] = Field(default_factory=list)
    """Every approve recorded, in order (those an edit superseded read ``counted: false``)."""
    requested_by: str | None = None
    options: list[str] | None = None
    multiple: bool = False
    reason_codes: list[str] | None = None
    details_schema: JsonObject | None = None
    chosen_options: list[str] | None = None
    reason_code: str | None = None
    # Policies (signoff extensions): which applied version and rule routed or decided it.
    policy_version: int | None = None
    policy_rule: str | None = None
    sla_due_at: UtcDateTime | None = None
    """When the policy's SLA wants it decided by."""
    sla_breached_at: UtcDateTime | None = None
    escalated_groups: list[str] = Field(default_factory=list)
    """Groups that may also decide since the SLA was breached."""

    @property
    def is_decided(self) -> bool:
        return self.status is not ApprovalStatus.PENDING

    @property
    def is_expired(self) -> bool:
        return self.decision_reason_code is DecisionReason.EXPIRED

    @property
    def is_cancelled(self) -> bool:
        return self.decision_reason_code is DecisionReason.CANCELLED

    @property
    def effective_details(self) -> JsonObject:
        """What the pipeline should act on: the reviewer's edit if there is one."""
        return self.modified_details if self.modified_details is not None else self.details


class ApprovalList(WireModel):
    data: list[Approval]
    next_cursor: str | None = None


class InboundRequest(WireModel):
    """Body of `POST /api/webhooks/inbound` (seed 000's short-wait and callback forms)."""

    action: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=2000)
    details: JsonInput = Field(default_factory=dict)
    justification: str | None = Field(default=None, max_length=10_000)
    risk_level: RiskLevel | None = None
    max_wait_ms: int | None = Field(default=None, ge=0)
    callback_url: str | None = None

    _check_url = field_validator("callback_url")(_check_http_url)


class InboundResponse(WireModel):
    status: Literal["approved", "rejected", "pending"]
    approval_id: str
    modified_details: JsonObject | None = None
    decision_note: str | None = None
    review_url: str | None = None


class DecisionRequest(WireModel):
    """Body of the reviewer's `POST /api/approvals/{id}/decision` (signoff's own API)."""

    decision: Literal["approve", "reject"]
    modified_details: JsonInput | None = None
    note: str | None = Field(default=None, max_length=10_000)
    chosen_options: list[Choice] | None = Field(default=None, min_length=1, max_length=MAX_OPTIONS)
    """Of the approval's ``options``: exactly one unless it allows ``multiple``."""
    reason_code: Choice | None = None
    """One of the approval's ``reasonCodes``."""

    @model_validator(mode="after")
    def _no_edit_on_reject(self) -> DecisionRequest:
        if self.decision == "reject" and self.modified_details is not None:
            raise ValueError("modifiedDetails: only an approval can carry edited details")
        if self.decision == "reject" and self.chosen_options is not None:
            raise ValueError("chosenOptions: only an approval chooses options")
        if self.chosen_options is not None:
            unique(self.chosen_options, "chosenOptions")
        return self


class CancelRequest(WireModel):
    """Body of ``POST /api/approvals/{id}/cancel``: the asker withdraws a pending approval."""

    reason: str | None = Field(default=None, max_length=2000)


class WaitRequest(WireModel):
    """Body of `POST /api/approvals/wait`: one connection waits on many approvals."""

    ids: list[str] = Field(min_length=1, max_length=10_000)
    max_wait_ms: int = Field(default=MAX_LONG_POLL_MS, ge=0)
    stream: bool = False
    """Answer NDJSON, one Approval per line as each is decided, instead of one WaitResult."""


class WaitResult(WireModel):
    decided: list[Approval]
    pending: list[str]


class CallbackPayload(WireModel):
    """What is POSTed to `callbackUrl` / `webhookUrl` when an approval is decided."""

    approval_id: str
    status: Literal["approved", "rejected"]
    modified_details: JsonObject | None
    decision_note: str | None
    details: JsonObject
    decision_reason_code: DecisionReason | None = None
    decided_by: str | None = None
    decided_at: UtcDateTime | None = None
    chosen_options: list[str] | None = None
    reason_code: str | None = None


class DeliveryAttempt(WireModel):
    attempted_at: UtcDateTime
    status_code: int | None
    error: str | None
    duration_ms: int


class CallbackDelivery(WireModel):
    """One callback of one approval, with every attempt made to deliver it."""

    id: str
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempt_count: int
    next_attempt_at: UtcDateTime | None
    created_at: UtcDateTime
    attempts: list[DeliveryAttempt]


_STATUS_WORDS: dict[ApprovalStatus, Literal["approved", "rejected", "pending"]] = {
    ApprovalStatus.APPROVED: "approved",
    ApprovalStatus.REJECTED: "rejected",
    ApprovalStatus.PENDING: "pending",
}


def status_word(status: ApprovalStatus) -> Literal["approved", "rejected", "pending"]:
    """The lower-case status of the inbound endpoint and callbacks."""
    return _STATUS_WORDS[status]
