"""``signoff workflows``: inspect and test workflows (seed 001 API, hosted or signoff serve)."""

from __future__ import annotations

import json

import click
from rich.table import Table

from signoff.cli._common import handled, health, id_column, management_options, out
from signoff.client import WorkflowsClient


@click.group()
def workflows() -> None:
    """Inspect and test workflows (seed 001 API, hosted or signoff serve)."""


@workflows.command("list")
@management_options
def workflows_list(url: str, api_key: str, as_json: bool) -> None:
    with handled(), WorkflowsClient(url, secret_key=api_key) as client:
        found = client.list().data
    if as_json:
        click.echo(json.dumps([w.to_wire() for w in found], indent=2))
        return
    table = Table(id_column([w.id for w in found]), "name", "active")
    for w in found:
        table.add_row(w.id, w.name, str(w.active))
    out.print(table if found else "no workflows")


@workflows.command("show")
@management_options
@click.argument("workflow_id")
def workflows_show(url: str, api_key: str, as_json: bool, workflow_id: str) -> None:
    with handled(), WorkflowsClient(url, secret_key=api_key) as client:
        found = client.get(workflow_id)
    if as_json:
        click.echo(json.dumps(found.to_wire(), indent=2))
        return
    out.print(f"[bold]{found.id}[/] {found.name} active={found.active}")
    for condition in found.conditions:
        out.print(f"  condition {condition.id}: {condition.to_wire(exclude_none=True)}")
    for action in found.actions:
        signed = "signed" if action.signature else "unsigned"
        out.print(f"  action {action.id}: {action.url} ({signed}) {health(action.health)}")


@workflows.command("test")
@management_options
@click.argument("workflow_id")
@click.option("--event-type", "event_types", multiple=True, required=True, help="Repeatable.")
def workflows_test(
    url: str, api_key: str, as_json: bool, workflow_id: str, event_types: tuple[str, ...]
) -> None:
    """Trigger every action of the workflow once for each event type."""
    with handled(), WorkflowsClient(url, secret_key=api_key) as client:
        client.test(workflow_id, list(event_types))
    out.print(f"triggered {workflow_id} with {len(event_types)} test event(s)")
