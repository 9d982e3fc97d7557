"""Approval policies as code: a file of groups and ordered policies (``spec``), checked,
planned and applied through the service's admin API."""

from signoff._specfile import SpecError
from signoff.policies.spec import (
    GroupSpec,
    PolicyFile,
    PolicySpec,
    SlaSpec,
    StepRule,
    load,
    loads,
    seconds_of,
)

__all__ = [
    "GroupSpec",
    "PolicyFile",
    "PolicySpec",
    "SlaSpec",
    "SpecError",
    "StepRule",
    "load",
    "loads",
    "seconds_of",
]
