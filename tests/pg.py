"""A real PostgreSQL server for the tests: the one given, the local one, or a throw-away one.

Order: ``SIGNOFF_TEST_POSTGRES_URL``; a server on 127.0.0.1:5432 (trust auth); else a
cluster made with ``initdb`` on a free port in a temporary directory (as the ``postgres``
user when the tests run as root, since PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from signoff.server.process import free_port

CANDIDATES = [
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://127.0.0.1:5432/test",
]


def _can_connect(url: str) -> bool:
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception:
        return False
    return True


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(
        f"PostgreSQL tests need a server: set SIGNOFF_TEST_POSTGRES_URL, run one on "
        f"127.0.0.1:5432, or install PostgreSQL so that {name} is available"
    )


class Cluster:
    """A PostgreSQL cluster of our own, which a test may stop and start again."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        self.workdir = Path(tempfile.mkdtemp(prefix="signoff-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.workdir / "log")
        self._run(self.pg_ctl, "-D", str(self.data), "-l", log, "-w", "start", "-o", options)

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    cluster = Cluster()
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    """A URL of a maintenance database on a server the tests may create databases on."""
    given = os.environ.get("SIGNOFF_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    for url in CANDIDATES:
        if _can_connect(url):
            yield url
            return
    with throwaway_cluster() as url:
        deadline = time.monotonic() + 20
        while not _can_connect(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        yield url


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    import asyncpg

    name = f"signoff_test_{uuid.uuid4().hex[:12]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
