"""Fixtures every test environment shares: the real service, PostgreSQL, a receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from signoff.server.process import ServiceProcess
from tests.pg import fresh_database, postgres_server

API_KEY = "test-pipeline-key"
REVIEWER_TOKEN = "test-reviewer-token"
REVIEWER = "alice"
SIGNING_SECRET = "whsec_test_secret"

StartService = Callable[..., ServiceProcess]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[StartService]:
    """Start ``signoff serve`` processes; all are stopped when the test ends."""
    started: list[ServiceProcess] = []

    def start(database_url: str | None = None, *extra: str, **kwargs: object) -> ServiceProcess:
        service = ServiceProcess(
            database_url=database_url or f"sqlite:///{tmp_path / 'signoff.db'}",
            api_keys=[API_KEY],
            reviewer_tokens=[f"{REVIEWER}={REVIEWER_TOKEN}"],
            extra_args=[
                "--signing-secret", SIGNING_SECRET,
                "--outbound-allow", "127.0.0.0/8",
                "--delivery-backoff", "0.2",
                *extra,
            ],  # fmt: skip
            log_path=tmp_path / f"serve-{len(started)}.log",
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def service(start_service: StartService) -> ServiceProcess:
    """The service on SQLite, the default a user gets."""
    return start_service()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_service(request: pytest.FixtureRequest, start_service: StartService) -> ServiceProcess:
    """The service on each database backend."""
    if request.param == "sqlite":
        return start_service()
    return start_service(request.getfixturevalue("pg_url"))
