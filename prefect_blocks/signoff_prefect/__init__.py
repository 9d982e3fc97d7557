"""signoff for Prefect: approvals for flows, and webhook subscriptions as code."""

__version__ = "0.1.0"
