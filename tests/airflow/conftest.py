"""Real Airflow, in a throw-away AIRFLOW_HOME with its own SQLite metadata database."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator

import pytest

_home = tempfile.mkdtemp(prefix="signoff-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__API__BASE_URL", "http://airflow.example:8080")

CONN_ENV = "AIRFLOW_CONN_SIGNOFF_DEFAULT"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata database, once per session (``airflow db reset``)."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def signoff_conn(service, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The ``signoff_default`` connection, pointing at the module's service."""
    from tests.conftest import API_KEY

    conn = {"conn_type": "signoff", "host": service.url, "password": API_KEY}
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    yield service.url


WEBHOOKS_CONN_ENV = "AIRFLOW_CONN_SIGNOFF_WEBHOOKS_DEFAULT"


@pytest.fixture
def webhooks_conn(service, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The ``signoff_webhooks_default`` connection, pointing at the module's service."""
    from tests.conftest import CKO_SECRET_KEY

    conn = {"conn_type": "signoff_webhooks", "host": service.url, "password": CKO_SECRET_KEY}
    monkeypatch.setenv(WEBHOOKS_CONN_ENV, json.dumps(conn))
    yield service.url
