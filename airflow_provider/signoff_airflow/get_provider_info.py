"""What Airflow's ProvidersManager reads through the ``apache_airflow_provider`` entry point.

The connection form is declared here (``conn-fields``, ``ui-field-behaviour``), which is
what Airflow 3.2+ reads without importing the hook; older cores call the hook's
``get_connection_form_widgets`` / ``get_ui_field_behaviour``, which say the same.
"""

from __future__ import annotations

from typing import Any

from signoff_airflow import __version__

INTEGRATION = "signoff"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "signoff",
        "name": "signoff",
        "description": (
            "Human sign-off for DAGs, and approval policies and webhook subscriptions as code."
        ),
        "state": "ready",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://github.com/signoff/signoff",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "signoff_airflow.operators.approval",
                    "signoff_airflow.operators.branch",
                    "signoff_airflow.operators.webhooks",
                    "signoff_airflow.operators.subscriptions",
                    "signoff_airflow.operators.policies",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["signoff_airflow.sensors.approval"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "signoff_airflow.hooks.approvals",
                    "signoff_airflow.hooks.webhooks",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["signoff_airflow.triggers.approval"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "signoff_airflow.hooks.approvals.SignoffHook",
                "hook-name": "signoff approvals",
                "connection-type": "signoff",
                "conn-fields": {
                    "service": {
                        "label": "Service",
                        "description": "embedded (signoff serve) or hosted",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["embedded", "hosted"],
                            "default": "embedded",
                        },
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "default": 30},
                    },
                    "admin_key": {
                        "label": "Admin key (policies only; optional)",
                        "description": "signoff serve's admin key, for ApplyPoliciesOperator",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {
                        "host": "http://127.0.0.1:8000",
                        "password": "the key `signoff serve` printed on first start",
                    },
                },
            },
            {
                "hook-class-name": "signoff_airflow.hooks.webhooks.SignoffWebhooksHook",
                "hook-name": "signoff webhooks",
                "connection-type": "signoff_webhooks",
                "conn-fields": {
                    "webhooks_secret_key": {
                        "label": "Webhooks secret key (previous platform; optional)",
                        "description": "the hosted /webhooks API's key when it differs",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "default": 30},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "Base URL or environment", "password": "Secret key"},
                    "placeholders": {
                        "host": "sandbox, production, or http://127.0.0.1:8000",
                        "password": "sk_...",
                    },
                },
            },
        ],
        "extra-links": ["signoff_airflow.operators.approval.SignoffReviewLink"],
    }
