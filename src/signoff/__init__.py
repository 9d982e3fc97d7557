"""signoff: human sign-off for data pipelines, and webhook subscriptions as code."""

from signoff.client import (
    ApprovalExpired,
    ApprovalRejected,
    ApprovalsClient,
    AsyncApprovalsClient,
    DecisionTimeout,
    SignoffError,
)
from signoff.models import Approval, ApprovalStatus, RiskLevel

__version__ = "0.1.0"

__all__ = [
    "Approval",
    "ApprovalExpired",
    "ApprovalRejected",
    "ApprovalStatus",
    "ApprovalsClient",
    "AsyncApprovalsClient",
    "DecisionTimeout",
    "RiskLevel",
    "SignoffError",
    "__version__",
]
