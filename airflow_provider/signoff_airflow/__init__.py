"""signoff's Apache Airflow provider: approvals and webhook subscriptions for DAGs."""

__version__ = "0.1.0"
