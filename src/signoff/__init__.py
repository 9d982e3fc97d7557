"""signoff: human sign-off for data pipelines, and webhook subscriptions as code.

The names below are loaded on first use (:func:`__getattr__`), not on ``import
signoff``: importing any part of the package imports this module first, and the
embedded service (``signoff.server``) must not load the clients it never uses.
``from signoff import ApprovalsClient`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from signoff._version import __version__  # read in one place (package metadata)

_EXPORTS = {
    "Approval": "signoff.models",
    "ApprovalExpired": "signoff.client",
    "ApprovalRejected": "signoff.client",
    "ApprovalStatus": "signoff.models",
    "ApprovalsClient": "signoff.client",
    "AsyncApprovalsClient": "signoff.client",
    "DecisionTimeout": "signoff.client",
    "RiskLevel": "signoff.models",
    "SignoffError": "signoff.client",
}
"""Each exported name and the module that defines it."""

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

if TYPE_CHECKING:
    from signoff.client import (
        ApprovalExpired,
        ApprovalRejected,
        ApprovalsClient,
        AsyncApprovalsClient,
        DecisionTimeout,
        SignoffError,
    )
    from signoff.models import Approval, ApprovalStatus, RiskLevel


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'signoff' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
