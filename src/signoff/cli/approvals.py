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
from rich.markup import escape
from rich.table import Table

from signoff.cli._common import DEFAULT_URL, RISK_STYLE, STATUS_STYLE, F, err, id_column, out
from signoff.client import ApprovalsClient, SignoffError
from signoff.client.errors import APIError
from signoff.models import Approval, ApprovalStatus, StepProgress


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


def _choices(options: list[str] | None, *, multiple: bool) -> str | None:
    if not options:
        return None
    return ", ".join(options) + (" (one or more)" if multiple else " (one)")


def _who(step: StepProgress) -> str:
    if step.is_open_to_all:
        return "any reviewer"
    named = [*step.reviewers, *(f"group {g}" for g in step.groups)]
    return ", ".join(named)


def _approved_by(step: StepProgress) -> str:
    names = [
        a.reviewer if a.counted else f"{a.reviewer} (before an edit, not counted)"
        for a in step.approvals
    ]
    return ", ".join(names) or "-"


def steps_table(approval: Approval) -> Table:
    """Who decides, step by step: who may approve it and who has so far."""
    table = Table("step", "who may approve", "approvals", "approved by", "state", title=None)
    for step in approval.steps:
        counted = sum(1 for a in step.approvals if a.counted)
        if step.satisfied:
            state = "[green]done[/]"
        elif step.open:
            state = "[yellow]open[/]"
        else:
            state = "waiting" if not approval.is_decided else "-"
        table.add_row(
            f"{step.number}/{len(approval.steps)}",
            escape(_who(step)),
            f"{min(counted, step.required_approvals)} of {step.required_approvals}",
            escape(_approved_by(step)),
            state,
        )
    return table


def progress(approval: Approval) -> str:
    """Where an approval that is still pending stands: the open step and its count."""
    step = next((s for s in approval.steps if s.open), None)
    if step is None:
        return "still pending"
    counted = sum(1 for a in step.approvals if a.counted)
    where = (
        f"now at step {step.number} of {len(approval.steps)}, " if len(approval.steps) > 1 else ""
    )
    return f"{where}{counted} of {step.required_approvals} approvals; still pending"


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
    extensions: list[tuple[str, str | None]] = [  # what signoff adds: who decides
        ("requested by", approval.requested_by),
        ("options", _choices(approval.options, multiple=approval.multiple)),
        ("chosen options", ", ".join(approval.chosen_options or []) or None),
        ("reason codes", ", ".join(approval.reason_codes or []) or None),
        ("reason code", approval.reason_code),
    ]
    rows += [(name, escape(value)) for name, value in extensions if value is not None]
    for name, value in rows:
        if value is not None:
            table.add_row(name, str(value))
    out.print(table)
    if approval.steps:
        out.print(steps_table(approval))
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
@click.option(
    "--option",
    "chosen",
    multiple=True,
    help="The option you choose, of the approval's options (repeat where it allows several).",
)
@click.option("--reason-code", help="Why, as one of the approval's reason codes.")
def approve_command(
    url: str,
    api_key: str | None,
    reviewer_token: str | None,
    approval_id: str,
    note: str | None,
    details: str | None,
    details_file: Path | None,
    chosen: tuple[str, ...],
    reason_code: str | None,
) -> None:
    """Approve, optionally with edited details (needs a reviewer token).

    Where the approval needs several approvals (or has steps) this counts yours toward
    the open step; it turns APPROVED once the last step has enough.
    """
    modified = _load_details(details, details_file)
    with client_for(url, api_key, reviewer_token) as client:
        approval = client.approve(
            approval_id,
            modified_details=modified,
            note=note,
            chosen_options=list(chosen) or None,
            reason_code=reason_code,
        )
    chose = f" (chose {', '.join(approval.chosen_options)})" if approval.chosen_options else ""
    if approval.status is ApprovalStatus.APPROVED:
        out.print(f"[green]approved[/] {approval.id} as {approval.decided_by}{escape(chose)}")
        return
    me = approval.approvals[-1].reviewer if approval.approvals else "you"
    out.print(f"[green]approval counted[/] on {approval.id} as {escape(me)}; {progress(approval)}")


@approvals.command("reject")
@connection_options
@click.argument("approval_id")
@click.option("--note", help="Why, shown to whoever asked.")
@click.option("--reason-code", help="Why, as one of the approval's reason codes.")
def reject_command(
    url: str,
    api_key: str | None,
    reviewer_token: str | None,
    approval_id: str,
    note: str | None,
    reason_code: str | None,
) -> None:
    """Reject (needs a reviewer token): any reviewer who may decide rejects at once."""
    with client_for(url, api_key, reviewer_token) as client:
        approval = client.reject(approval_id, note=note, reason_code=reason_code)
    because = f" ({approval.reason_code})" if approval.reason_code else ""
    out.print(f"[red]rejected[/] {approval.id} as {approval.decided_by}{escape(because)}")
