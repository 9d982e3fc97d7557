"""Wire models of the policies API (signoff's own, admin key only).

The document is the policy file as JSON (``signoff.policies.spec.PolicyFile``); the
service compiles its conditions and keeps every applied version.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from signoff.models._base import JsonInput, JsonObject, UtcDateTime, WireModel


class PolicyDocument(WireModel):
    """Body of validate / plan / apply: the policy file as JSON."""

    document: JsonInput


class PolicyTestRequest(PolicyDocument):
    since_seconds: int = Field(default=30 * 24 * 3600, ge=1, le=366 * 24 * 3600)
    limit: int = Field(default=10_000, ge=1, le=100_000)
    """Newest approvals replayed at most."""


class PolicyProblem(WireModel):
    field: str
    """Where in the document, as ``policies.1.when``."""
    message: str


class PolicyVersion(WireModel):
    """``GET /api/policies``: the active policy."""

    version: int
    document: JsonObject
    created_at: UtcDateTime
    created_by: str | None = None


class PolicyChange(WireModel):
    op: Literal["add", "change", "remove", "move"]
    kind: Literal["policy", "group"]
    name: str
    before: Any = None
    after: Any = None


class PolicyPlan(WireModel):
    """What applying the document would change against the active version."""

    version: int | None
    """The active version (``None``: nothing applied yet)."""
    changes: list[PolicyChange]
    changed: bool


class PolicyApplied(PolicyPlan):
    """``PUT /api/policies``: ``version`` is the active one after applying."""


class PolicyValid(WireModel):
    valid: bool = True
    policies: int
    groups: int


class RuleReport(WireModel):
    """One rule of a draft replayed over stored approvals (the playground)."""

    name: str
    matched: int = 0
    auto_approved: int = 0
    auto_rejected: int = 0
    routed: int = 0
    changed: int = 0
    """Approvals this rule would have handled differently from what happened."""
    examples: list[str] = Field(default_factory=list)
    """Ids of some of the changed ones."""
    errors: int = 0
    """Approvals whose evaluation failed (a missing field, a wrong type): no match."""


class PolicyTestReport(WireModel):
    approvals: int
    since: UtcDateTime
    rules: list[RuleReport]
    unmatched: int
    changed: int
