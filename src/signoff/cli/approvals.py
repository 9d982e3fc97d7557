"""``signoff approvals``: list, show and decide approvals on any signoff-compatible server."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pendulum
from rich.table import Table

from signoff.cli._common import DEFAULT_URL, RISK_STYLE, STATUS_STYLE, F, err, id_column, out
from signoff.client import ApprovalsClient, SignoffError
from signoff.client.errors import APIError
from signoff.models import Approval, ApprovalStatus


def connection_options(func: F) -> F:
    """Where the service is, and the key to read with or the token to decide with."""
    for option in reversed(
        [
            click.option(
                "--url",
                default=DEFAULT_URL,
                show_default=True,
                envvar="SIGNOFF_URL",
                help="The approvals service.",
            ),
            click.option("--api-key", envvar="SIGNOFF_API_KEY", help="API key (to read)."),
            click.option(
                "--reviewer-token",
                envvar="SIGNOFF_REVIEWER_TOKEN",
                help="Reviewer token (to decide).",
            ),
        ]
    ):
        func = option(func)
    return func


@contextmanager
def client_for(
    url: str, api_key: str | None, reviewer_token: str | None
) -> Iterator[ApprovalsClient]:
    """A client whose errors become one readable line and exit code 1."""
    try:
        with ApprovalsClient(url, api_key=api_key, reviewer_token=reviewer_token) as client:
            yield client
    except APIError as exc:
        err.print(f"[red]error[/]: {exc.error} (HTTP {exc.status_code})")
        sys.exit(1)
    except SignoffError as exc:
        err.print(f"[red]error[/]: {exc}")
        sys.exit(1)


@click.group()
def approvals() -> None:
    """List, show and decide approvals on any signoff-compatible server."""


def _age(moment: Any) -> str:
    return str(pendulum.instance(moment).diff_for_humans()) if moment else "-"


@approvals.command("list")
@connection_options
@click.option(
    "--status", type=click.Choice([s.value for s in ApprovalStatus], case_sensitive=False)
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(
    url: str,
    api_key: str | None,
    reviewer_token: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Approvals, newest first."""
    with client_for(url, api_key, reviewer_token) as client:
        page = client.list(ApprovalStatus(status.upper()) if status else None, limit=limit)
    if as_json:
        click.echo(json.dumps([a.to_wire() for a in page.data], indent=2))
        return
    table = Table(
        id_column([a.id for a in page.data]),
        "status",
        "risk",
        "action",
        "summary",
        "created",
        "expires",
    )
    for a in page.data:
        table.add_row(
            a.id,
            f"[{STATUS_STYLE[a.status.value]}]{a.status.value}[/]",
            f"[{RISK_STYLE[a.risk_level.value]}]{a.risk_level.value}[/]",
            a.action,
            a.summary,
            _age(a.created_at),
            _age(a.expires_at) if not a.is_decided else "-",
        )
    out.print(table)
    if not page.data:
        out.print("no approvals")


def show_approval(approval: Approval) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, Any]] = [
        ("id", approval.id),
        ("status", f"[{STATUS_STYLE[approval.status.value]}]{approval.status.value}[/]"),
        ("action", approval.action),
        ("summary", approval.summary),
        ("risk", f"[{RISK_STYLE[approval.risk_level.value]}]{approval.risk_level.value}[/]"),
        ("justification", approval.justification),
        ("review url", approval.review_url),
        ("created", approval.created_at.isoformat()),
        ("expires", approval.expires_at.isoformat() if approval.expires_at else None),
        ("decided by", approval.decided_by),
        ("decided at", approval.decided_at.isoformat() if approval.decided_at else None),
        ("reason", approval.decision_reason_code.value if approval.decision_reason_code else None),
        ("note", approval.decision_note),
    ]
    for name, value in rows:
        if value is not None:
            table.add_row(name, str(value))
    out.print(table)
    out.print("[bold]details[/]")
    out.print_json(data=approval.details)
    if approval.modified_details is not None:
        out.print("[bold]modified details[/]")
        out.print_json(data=approval.modified_details)


@approvals.command("show")
@connection_options
@click.argument("approval_id")
@click.option("--json", "as_json", is_flag=True)
def show_command(
    url: str, api_key: str | None, reviewer_token: str | None, approval_id: str, as_json: bool
) -> None:
    """One approval with its details."""
    with client_for(url, api_key, reviewer_token) as client:
        approval = client.get(approval_id)
    if as_json:
        click.echo(json.dumps(approval.to_wire(), indent=2))
    else:
        show_approval(approval)


def _load_details(details: str | None, details_file: Path | None) -> dict[str, Any] | None:
    if details is not None and details_file is not None:
        raise click.UsageError("give --details or --details-file, not both")
    raw = details if details is not None else (details_file.read_text() if details_file else None)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--details") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--details")
    return value


@approvals.command("approve")
@connection_options
@click.argument("approval_id")
@click.option("--note", help="Why, for the audit trail.")
@click.option("--details", help="Edited details as a JSON object (replaces the original).")
@click.option("--details-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def approve_command(
    url: str,
    api_key: str | None,
    reviewer_token: str | None,
    approval_id: str,
    note: str | None,
    details: str | None,
    details_file: Path | None,
) -> None:
    """Approve, optionally with edited details (needs a reviewer token)."""
    modified = _load_details(details, details_file)
    with client_for(url, api_key, reviewer_token) as client:
        approval = client.approve(approval_id, modified_details=modified, note=note)
    out.print(f"[green]approved[/] {approval.id} as {approval.decided_by}")


@approvals.command("reject")
@connection_options
@click.argument("approval_id")
@click.option("--note", help="Why, shown to whoever asked.")
def reject_command(
    url: str, api_key: str | None, reviewer_token: str | None, approval_id: str, note: str | None
) -> None:
    """Reject (needs a reviewer token)."""
    with client_for(url, api_key, reviewer_token) as client:
        approval = client.reject(approval_id, note=note)
    out.print(f"[red]rejected[/] {approval.id} as {approval.decided_by}")
