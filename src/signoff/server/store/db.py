"""Engine set-up for SQLite (WAL) and PostgreSQL, and schema migration at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x5160FF  # pg advisory lock id: two processes starting at once


def async_url(database_url: str) -> URL:
    """``sqlite:///x.db`` / ``postgresql://...`` -> the async driver's URL."""
    try:
        url = make_url(database_url)
    except Exception:
        raise ValueError(
            f"not a database URL: {database_url!r} (use sqlite:///path.db or postgresql://...)"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def asyncpg_dsn(url: URL) -> str:
    """The plain DSN asyncpg wants for the LISTEN connection."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(database_url: str) -> AsyncEngine:
    """``hide_parameters``: a failed statement's error never carries its values, which
    include webhook header values, action credentials and signature keys."""
    url = async_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, pool_size=8, max_overflow=8, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True
    )


_write_locks: WeakKeyDictionary[AsyncEngine, asyncio.Lock] = WeakKeyDictionary()


@asynccontextmanager
async def write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction.

    SQLite admits one writer at a time; concurrent writers otherwise wait in SQLite's
    busy handler, which sleeps in growing steps (seconds of tail latency under load).
    Queueing them here, on the event loop, hands the lock over at once.
    """
    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            yield conn
        return
    lock = _write_locks.get(engine)
    if lock is None:
        lock = _write_locks[engine] = asyncio.Lock()
    async with lock, engine.begin() as conn:
        yield conn


@asynccontextmanager
async def joined(
    engine: AsyncEngine, conn: AsyncConnection | None
) -> AsyncIterator[AsyncConnection]:
    """The caller's transaction when one is given, else a new write transaction.

    An idempotent create runs inside the transaction that claims its key, so the object
    and the remembered answer commit together or not at all.
    """
    if conn is not None:
        yield conn
        return
    async with write(engine) as own:
        yield own


@asynccontextmanager
async def reading(
    engine: AsyncEngine, conn: AsyncConnection | None
) -> AsyncIterator[AsyncConnection]:
    """The caller's connection (to read its own uncommitted writes), else a new one."""
    if conn is not None:
        yield conn
        return
    async with engine.connect() as own:
        yield own


async def ping(engine: AsyncEngine) -> None:
    """Raises when the database cannot be reached (``/healthz``)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; safe to run from several processes."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
