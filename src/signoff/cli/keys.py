"""``signoff keys``: the keys a service stores, managed on its database directly.

Works without a running service (an operator bootstraps or rotates keys before or while
it runs); services pick changes up within seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from signoff.cli._common import F, err, id_column, out

DEFAULT_DATABASE_URL = "sqlite:///signoff.db"


def database_url_option(func: F) -> F:
    return click.option(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        show_default=True,
        envvar="SIGNOFF_DATABASE_URL",
        help="The service's database.",
    )(func)


@click.group()
def keys() -> None:
    """API keys, admin keys and reviewer tokens stored by the service (hashed).

    Rotation without downtime: create the new key, move clients to it, revoke the old
    one; running services pick both changes up within seconds.
    """


def run_store(database_url: str, work: Callable[[Any], Any]) -> Any:
    """Migrate the database, then run ``work(engine)`` on it (the server extra is needed)."""
    import asyncio

    try:
        from signoff.server.store.db import create_engine, migrate
    except ImportError as exc:
        raise click.ClickException(
            f"needs the server extra: pip install 'signoff[server]' ({exc})"
        ) from None

    async def go() -> Any:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@keys.command("create")
@database_url_option
@click.option(
    "--kind",
    type=click.Choice(["api", "reviewer", "admin"]),
    required=True,
    help="api: pipelines; reviewer: a person who decides; admin: an operator (an API key "
    "that may also act on other keys' approvals).",
)
@click.option("--name", required=True, help="Who or what uses it (a reviewer's name).")
def keys_create(database_url: str, kind: str, name: str) -> None:
    """Create a key and print it once."""
    from signoff.server.store.credentials import create_key

    key_id, key = run_store(database_url, lambda e: create_key(e, kind, name))  # type: ignore[arg-type]
    out.print(f"created {kind} key {key_id} for {escape(name)} (shown once):")
    click.echo(key)


@keys.command("list")
@database_url_option
def keys_list(database_url: str) -> None:
    """Stored keys (never their values)."""
    from signoff.server.store.credentials import list_keys

    rows = run_store(database_url, list_keys)
    table = Table(id_column([str(r["id"]) for r in rows]), "kind", "name", "created", "revoked")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["kind"]),
            escape(str(row["name"])),
            str(row["created_at"]),
            str(row["revoked_at"] or "-"),
        )
    out.print(table)


@keys.command("revoke")
@database_url_option
@click.argument("key_id")
def keys_revoke(database_url: str, key_id: str) -> None:
    """Revoke a stored key; services refuse it within seconds."""
    from signoff.server.store.credentials import revoke_key

    if not run_store(database_url, lambda e: revoke_key(e, key_id)):
        err.print(f"[red]error[/]: no active key with id {escape(key_id)}")
        sys.exit(1)
    out.print(f"revoked {key_id}")
