"""``signoff webhooks``: inspect and test webhooks (seed 002 API, hosted or signoff serve)."""

from __future__ import annotations

import json

import click
from rich.table import Table

from signoff.cli._common import handled, health, id_column, management_options, out
from signoff.client import WebhooksClient


@click.group()
def webhooks() -> None:
    """Inspect and test webhooks (seed 002 API, hosted or signoff serve)."""


@webhooks.command("list")
@management_options
def webhooks_list(url: str, api_key: str, as_json: bool) -> None:
    with handled(), WebhooksClient(url, secret_key=api_key) as client:
        found = client.list()
    if as_json:
        click.echo(json.dumps([w.to_wire() for w in found], indent=2))
        return
    table = Table(id_column([w.id for w in found]), "url", "active", "event types", "health")
    for w in found:
        table.add_row(w.id, w.url, str(w.active), ", ".join(w.event_types), health(w.health))
    out.print(table if found else "no webhooks")


@webhooks.command("show")
@management_options
@click.argument("webhook_id")
def webhooks_show(url: str, api_key: str, as_json: bool, webhook_id: str) -> None:
    with handled(), WebhooksClient(url, secret_key=api_key) as client:
        found = client.get(webhook_id)
    if as_json:
        click.echo(json.dumps(found.to_wire(), indent=2))
        return
    out.print(f"[bold]{found.id}[/] {found.url} active={found.active} {health(found.health)}")
    out.print("event types: " + ", ".join(found.event_types))
    out.print("headers: " + (", ".join(found.headers) or "-") + " (values not shown)")


@webhooks.command("test")
@management_options
@click.argument("webhook_id")
@click.option("--event-type", "event_types", multiple=True, required=True, help="Repeatable.")
def webhooks_test(
    url: str, api_key: str, as_json: bool, webhook_id: str, event_types: tuple[str, ...]
) -> None:
    """Send a test event of each type to the webhook."""
    with handled(), WebhooksClient(url, secret_key=api_key) as client:
        client.test(webhook_id, list(event_types))
    out.print(f"sent {len(event_types)} test event(s) to {webhook_id}")
