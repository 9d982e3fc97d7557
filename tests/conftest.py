"""Fixtures every test environment shares: the real service, PostgreSQL, a receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from signoff.server.process import ServiceProcess
from tests.pg import fresh_database, postgres_server

API_KEY = "test-pipeline-key"
REVIEWER_TOKEN = "test-reviewer-token"
REVIEWER = "alice"
ADMIN_KEY = "test-admin-key"
"""An operator's key (``--admin-key``): manages reviewers and groups."""
SIGNING_SECRET = "whsec_test_secret"
CKO_SECRET_KEY = "sk_sbox_m73dzbpy7cf3gfd46xr4yj5xo4e"
"""A key in the shape the checkout SDK accepts for the current platform (workflows)."""
CKO_PREVIOUS_KEY = "sk_test_fde517a8-3f01-41ef-b4bd-4282384b0a64"
"""A key in the shape the checkout SDK accepts for the previous platform (webhooks)."""

StartService = Callable[..., ServiceProcess]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server) as url:
        yield url


@contextmanager
def launcher(workdir: Path) -> Iterator[StartService]:
    started: list[ServiceProcess] = []

    def start(database_url: str | None = None, *extra: str, **kwargs: object) -> ServiceProcess:
        service = ServiceProcess(
            database_url=database_url or f"sqlite:///{workdir / 'signoff.db'}",
            api_keys=[API_KEY, CKO_SECRET_KEY, CKO_PREVIOUS_KEY],
            reviewer_tokens=[f"{REVIEWER}={REVIEWER_TOKEN}"],
            extra_args=[
                "--signing-secret",
                SIGNING_SECRET,
                "--outbound-allow",
                "127.0.0.0/8",
                "--delivery-backoff",
                "0.2",
                "--admin-key",
                f"admin={ADMIN_KEY}",
                *extra,
            ],
            log_path=workdir / f"serve-{len(started)}.log",
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(service)
        return service.start()

    try:
        yield start
    finally:
        for service in started:
            service.stop()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[StartService]:
    """Start ``signoff serve`` processes of this test; all stop when the test ends."""
    with launcher(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The service on SQLite, shared by a test module (tests must not assume a clean slate)."""
    with launcher(tmp_path_factory.mktemp("service")) as start:
        yield start()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_service(request: pytest.FixtureRequest, start_service: StartService) -> ServiceProcess:
    """The service on each database backend."""
    if request.param == "sqlite":
        return start_service()
    return start_service(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Each backend in turn: None is the default SQLite file, else a fresh PostgreSQL db."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url
