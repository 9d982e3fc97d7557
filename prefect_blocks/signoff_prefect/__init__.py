"""signoff for Prefect: approvals for flows, and approval policies and webhook subscriptions
as code."""

from signoff_prefect.approvals import (
    ApprovalCancelled,
    ApprovalExpired,
    ApprovalOutcome,
    ApprovalRejected,
    DecisionTimeout,
    approval_outcome,
    request_approval,
    request_approval_and_wait_for_decision,
    wait_for_decision,
)
from signoff_prefect.credentials import SignoffCredentials, SignoffWebhooksCredentials
from signoff_prefect.policies import apply_policies
from signoff_prefect.subscriptions import apply_subscriptions
from signoff_prefect.suspend import ApprovalDecision, request_approval_and_suspend

__version__ = "0.1.0"

__all__ = [
    "ApprovalCancelled",
    "ApprovalDecision",
    "ApprovalExpired",
    "ApprovalOutcome",
    "ApprovalRejected",
    "DecisionTimeout",
    "SignoffCredentials",
    "SignoffWebhooksCredentials",
    "apply_policies",
    "apply_subscriptions",
    "approval_outcome",
    "request_approval",
    "request_approval_and_suspend",
    "request_approval_and_wait_for_decision",
    "wait_for_decision",
]
