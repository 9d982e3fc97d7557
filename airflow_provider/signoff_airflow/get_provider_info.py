"""What Airflow's ProvidersManager reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from signoff_airflow import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "signoff",
        "name": "signoff",
        "description": "Human sign-off for DAGs, and webhook subscriptions as code.",
        "versions": [__version__],
    }
