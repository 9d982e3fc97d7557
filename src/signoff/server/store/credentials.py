"""API keys, admin keys and reviewer tokens (kept only as SHA-256 hashes); page sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signoff.server.ids import new_id
from signoff.server.store.db import write
from signoff.server.store.tables import credentials, sessions
from signoff.server.store.tables import secrets as secrets_table

Kind = Literal["api", "reviewer", "admin"]
KINDS: dict[str, Kind] = {"api": "api", "reviewer": "reviewer", "admin": "admin"}
PREFIXES: dict[Kind, str] = {"api": "so_live_", "reviewer": "so_rev_", "admin": "so_adm_"}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key (a pipeline), a reviewer token (a person), or an admin
    key (an operator: everything an API key may, plus acting on other keys' objects)."""

    kind: Kind
    name: str


@dataclass(frozen=True)
class KeyEntry:
    hash: str
    principal: Principal


def parse_configured(value: str, kind: Kind, index: int) -> tuple[str, str]:
    """``--reviewer-token alice=TOKEN`` names the reviewer; a bare token gets a number."""
    name, sep, key = value.partition("=")
    if sep and name and key and "=" not in name:
        return name, key
    return f"{kind}-{index + 1}", value


class Keyring:
    """Checks presented keys against the hashes, comparing in constant time."""

    def __init__(self, entries: list[KeyEntry]) -> None:
        self.entries = entries

    def names(self, kind: Kind) -> set[str]:
        """Who holds a key of ``kind`` (configured or stored, not revoked)."""
        return {entry.principal.name for entry in self.entries if entry.principal.kind == kind}

    def identify(self, presented: str | None) -> Principal | None:
        if not presented:
            return None
        digest = key_hash(presented)
        found: Principal | None = None
        for entry in self.entries:  # no early exit: the time taken does not tell which key
            if hmac.compare_digest(entry.hash, digest):
                found = entry.principal
        return found


@dataclass(frozen=True)
class Generated:
    api_key: str | None
    reviewer_token: str | None
    signing_secret: str | None


def configured_entries(
    api_keys: list[str], reviewer_tokens: list[str], admin_keys: list[str] | None = None
) -> list[KeyEntry]:
    entries = []
    groups: tuple[tuple[Kind, list[str]], ...] = (
        ("api", api_keys),
        ("reviewer", reviewer_tokens),
        ("admin", admin_keys or []),
    )
    for kind, values in groups:
        for index, value in enumerate(values):
            name, key = parse_configured(value, kind, index)
            entries.append(KeyEntry(key_hash(key), Principal(kind, name)))
    return entries


async def stored_entries(engine: AsyncEngine) -> list[KeyEntry]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(credentials.c.kind, credentials.c.name, credentials.c.key_hash).where(
                credentials.c.revoked_at.is_(None)
            )
        )
        return [  # a kind this version does not know grants nothing
            KeyEntry(row.key_hash, Principal(KINDS[row.kind], row.name))
            for row in rows
            if row.kind in KINDS
        ]


async def find_stored(engine: AsyncEngine, presented: str) -> Principal | None:
    """A stored key this process has not loaded yet (made on another process moments ago:
    ``signoff reviewers add`` through one process, the token used on another)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(credentials.c.kind, credentials.c.name)
                .where(credentials.c.key_hash == key_hash(presented))
                .where(credentials.c.revoked_at.is_(None))
            )
        ).first()
    if row is None or row.kind not in KINDS:
        return None
    return Principal(KINDS[row.kind], row.name)


async def create_key(engine: AsyncEngine, kind: Kind, name: str) -> tuple[str, str]:
    """Store a new key (only its hash); returns (id, key) — the key is shown once."""
    async with write(engine) as conn:
        return await insert_key(conn, kind, name)


async def insert_key(conn: AsyncConnection, kind: Kind, name: str) -> tuple[str, str]:
    """:func:`create_key` in the caller's transaction (a reviewer and their first token
    are stored together or not at all)."""
    key = PREFIXES[kind] + secrets.token_urlsafe(24)
    key_id = new_id("key")
    await conn.execute(
        credentials.insert().values(
            id=key_id,
            kind=kind,
            name=name,
            key_hash=key_hash(key),
            created_at=datetime.now(timezone.utc),
        )
    )
    return key_id, key


async def revoke_key(engine: AsyncEngine, key_id: str) -> bool:
    async with write(engine) as conn:
        result = await conn.execute(
            credentials.update()
            .where(credentials.c.id == key_id)
            .where(credentials.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(timezone.utc))
        )
    return result.rowcount == 1


async def list_keys(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(credentials).order_by(credentials.c.created_at))
        return [{k: v for k, v in row._mapping.items() if k != "key_hash"} for row in rows]


async def load_keyring(
    engine: AsyncEngine,
    *,
    api_keys: list[str],
    reviewer_tokens: list[str],
    admin_keys: list[str] | None = None,
) -> tuple[Keyring, Generated]:
    """Configured keys plus stored ones; on a first start with neither, one of each kind
    is created (and returned once, to be printed)."""
    stored = await stored_entries(engine)
    made: dict[Kind, str | None] = {"api": None, "reviewer": None}
    for kind_, configured in (("api", api_keys), ("reviewer", reviewer_tokens)):
        kind: Kind = "api" if kind_ == "api" else "reviewer"
        if configured or any(entry.principal.kind == kind for entry in stored):
            continue
        _, made[kind] = await create_key(engine, kind, "default" if kind == "api" else "reviewer")
    entries = configured_entries(api_keys, reviewer_tokens, admin_keys) + await stored_entries(
        engine
    )
    return Keyring(entries), Generated(made["api"], made["reviewer"], None)


async def signing_secret(engine: AsyncEngine, configured: str | None) -> tuple[str, bool]:
    """The callback signing secret: configured, stored, or made now (``True``: just made)."""
    if configured:
        return configured, False
    async with write(engine) as conn:
        stored = await conn.scalar(
            select(secrets_table.c.value).where(secrets_table.c.name == "signing_secret")
        )
        if stored:
            return str(stored), False
        value = "whsec_" + secrets.token_urlsafe(32)
        await conn.execute(secrets_table.insert().values(name="signing_secret", value=value))
        return value, True


async def session_secret(engine: AsyncEngine) -> str:
    """The key that signs reviewer page sessions: stored, or made now on first use.

    Kept in the database like the signing secret, so sessions survive a restart and every
    process sharing one PostgreSQL accepts the others' cookies. Never shown to anyone.
    """
    query = select(secrets_table.c.value).where(secrets_table.c.name == "session_secret")
    async with engine.connect() as conn:
        stored = await conn.scalar(query)
    if stored:
        return str(stored)
    value = secrets.token_urlsafe(32)
    try:
        async with write(engine) as conn:
            await conn.execute(secrets_table.insert().values(name="session_secret", value=value))
    except IntegrityError:  # another request or process made it first: use theirs
        async with engine.connect() as conn:
            stored = await conn.scalar(query)
        return str(stored)
    return value


async def open_session(engine: AsyncEngine, session_id: str, reviewer: str, max_age: float) -> None:
    """Records a signed-in session; sessions past ``max_age`` are pruned on the way.

    Only the id is stored (the cookie carries it, signed), so a database dump holds
    nothing that signs anyone in.
    """
    now = datetime.now(timezone.utc)
    async with write(engine) as conn:
        await conn.execute(
            delete(sessions).where(sessions.c.created_at < now - timedelta(seconds=max_age))
        )
        await conn.execute(
            sessions.insert().values(id=session_id, reviewer=reviewer, created_at=now)
        )


async def session_open(engine: AsyncEngine, session_id: str) -> bool:
    """Whether the session is still there and not signed out (on any process)."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            select(sessions.c.id)
            .where(sessions.c.id == session_id)
            .where(sessions.c.revoked_at.is_(None))
        )
    return found is not None


async def end_session(engine: AsyncEngine, session_id: str) -> None:
    async with write(engine) as conn:
        await conn.execute(
            sessions.update()
            .where(sessions.c.id == session_id)
            .where(sessions.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(timezone.utc))
        )
