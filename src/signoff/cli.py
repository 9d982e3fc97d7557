"""The ``signoff`` command: run the service, and act on approvals from a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import pendulum
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from signoff.client import ApprovalsClient, SignoffError, WebhooksClient, WorkflowsClient
from signoff.client.errors import APIError
from signoff.models import Approval, ApprovalStatus

F = TypeVar("F", bound=Callable[..., Any])
out = Console()
err = Console(stderr=True)

RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}
STATUS_STYLE = {"PENDING": "yellow", "APPROVED": "green", "REJECTED": "red"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="signoff")
def main() -> None:
    """signoff: human sign-off for data pipelines, and webhooks as code."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="SIGNOFF_HOST")
@click.option("--port", default=8000, show_default=True, type=int, envvar="SIGNOFF_PORT")
@click.option(
    "--database-url",
    default="sqlite:///signoff.db",
    show_default=True,
    envvar="SIGNOFF_DATABASE_URL",
    help="sqlite:///file.db, or postgresql://user@host/db for PostgreSQL.",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    envvar="SIGNOFF_API_KEY",
    help="Key clients send as x-api-key or Authorization: Bearer (repeatable; in "
    "SIGNOFF_API_KEY separated by spaces). Prefer --api-key-file: a flag shows in ps.",
)
@click.option(
    "--api-key-file",
    type=click.Path(path_type=Path),
    envvar="SIGNOFF_API_KEY_FILE",
    help="File of API keys, one a line; blank lines and lines starting with # are skipped.",
)
@click.option(
    "--reviewer-token",
    "reviewer_tokens",
    multiple=True,
    envvar="SIGNOFF_REVIEWER_TOKEN",
    help="Token reviewers send as Authorization: Bearer; NAME=TOKEN names the reviewer "
    "(repeatable; in SIGNOFF_REVIEWER_TOKEN separated by spaces).",
)
@click.option(
    "--reviewer-token-file",
    type=click.Path(path_type=Path),
    envvar="SIGNOFF_REVIEWER_TOKEN_FILE",
    help="File of reviewer tokens, one a line as for --reviewer-token (NAME=TOKEN); "
    "blank lines and lines starting with # are skipped.",
)
@click.option("--public-url", envvar="SIGNOFF_PUBLIC_URL", help="Base of reviewUrl links.")
@click.option(
    "--default-expiry",
    default=86400,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="SIGNOFF_DEFAULT_EXPIRY",
    help="Seconds before an undecided approval expires.",
)
@click.option("--signing-secret", envvar="SIGNOFF_SIGNING_SECRET", help="Callback HMAC key.")
@click.option(
    "--outbound-allow",
    multiple=True,
    envvar="SIGNOFF_OUTBOUND_ALLOW",
    help="Private network callbacks may reach anyway, e.g. 127.0.0.0/8 (repeatable).",
)
@click.option(
    "--delivery-backoff",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    envvar="SIGNOFF_DELIVERY_BACKOFF",
    help="First retry delay of a failed callback (seconds).",
)
@click.option(
    "--endpoint-flag-after",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="SIGNOFF_ENDPOINT_FLAG_AFTER",
    help="Consecutive failed deliveries after which an endpoint shows as failing.",
)
@click.option(
    "--endpoint-deactivate-after",
    default=72 * 3600.0,
    show_default=True,
    type=click.FloatRange(min=0),
    envvar="SIGNOFF_ENDPOINT_DEACTIVATE_AFTER",
    help="Seconds a failing endpoint may keep failing before it is deactivated.",
)
@click.option(
    "--delivery-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    envvar="SIGNOFF_DELIVERY_TIMEOUT",
    help="Seconds a receiver has to answer a delivery.",
)
@click.option(
    "--rate-limit",
    default=2000.0,
    show_default=True,
    type=click.FloatRange(min=0),
    envvar="SIGNOFF_RATE_LIMIT",
    help="Requests per second per key (bursts of twice); 0: off.",
)
@click.option(
    "--auth-failure-rate",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    envvar="SIGNOFF_AUTH_FAILURE_RATE",
    help="Failed keys and sign-ins per second per client address (bursts of ten times "
    "that); past it, 429 for that address; 0: off.",
)
def serve(
    host: str,
    port: int,
    database_url: str,
    api_keys: tuple[str, ...],
    api_key_file: Path | None,
    reviewer_tokens: tuple[str, ...],
    reviewer_token_file: Path | None,
    public_url: str | None,
    default_expiry: int,
    signing_secret: str | None,
    outbound_allow: tuple[str, ...],
    delivery_backoff: float,
    endpoint_flag_after: int,
    endpoint_deactivate_after: float,
    delivery_timeout: float,
    rate_limit: float,
    auth_failure_rate: float,
) -> None:
    """Run the embedded service: approvals, webhooks and workflows."""
    try:
        from signoff.server.app import serve as run
        from signoff.server.config import Settings, parse_networks
        from signoff.server.store.db import async_url
    except ImportError as exc:
        raise click.ClickException(
            f"the service needs the server extra: pip install 'signoff[server]' ({exc})"
        ) from None
    try:
        async_url(database_url)
        networks = parse_networks(list(outbound_allow))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    warn_secret_flags("api_keys", "--api-key", "--api-key-file or SIGNOFF_API_KEY")
    warn_secret_flags(
        "reviewer_tokens", "--reviewer-token", "--reviewer-token-file or SIGNOFF_REVIEWER_TOKEN"
    )
    api_keys += tuple(read_keys(api_key_file, "--api-key-file"))
    reviewer_tokens += tuple(read_keys(reviewer_token_file, "--reviewer-token-file"))
    run(
        Settings(
            host=host,
            port=port,
            database_url=database_url,
            api_keys=list(api_keys),
            reviewer_tokens=list(reviewer_tokens),
            public_url=public_url,
            default_expiry_seconds=default_expiry,
            signing_secret=signing_secret,
            outbound_allow=networks,
            delivery_backoff_base=delivery_backoff,
            endpoint_flag_after=endpoint_flag_after,
            endpoint_deactivate_after=endpoint_deactivate_after,
            rate_limit=rate_limit,
            auth_failure_rate=auth_failure_rate,
            delivery_timeout=delivery_timeout,
        )
    )


def read_keys(path: Path | None, option: str) -> list[str]:
    """Keys from a file, one a line, so that they stay out of ``/proc/PID/cmdline``."""
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise click.BadParameter(f"cannot read {path}: {reason}", param_hint=option) from None
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def warn_secret_flags(param: str, flag: str, instead: str) -> None:
    """Any user of the machine can read a flag's value (``ps``); the environment and a
    file are the owner's alone. Warns without ever echoing the value."""
    ctx = click.get_current_context()
    if ctx.params.get(param) and ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE:
        click.echo(
            f"signoff: warning: {flag} values are visible to other users of this machine "
            f"(ps, /proc/PID/cmdline); use {instead} instead",
            err=True,
        )


def _database_url_option(func: F) -> F:
    return click.option(
        "--database-url",
        default="sqlite:///signoff.db",
        show_default=True,
        envvar="SIGNOFF_DATABASE_URL",
        help="The service's database.",
    )(func)


@main.group()
def keys() -> None:
    """API keys, admin keys and reviewer tokens stored by the service (hashed).

    Rotation without downtime: create the new key, move clients to it, revoke the old
    one; running services pick both changes up within seconds.
    """


def _run_store(database_url: str, work: Callable[[Any], Any]) -> Any:
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
@_database_url_option
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

    key_id, key = _run_store(database_url, lambda e: create_key(e, kind, name))  # type: ignore[arg-type]
    out.print(f"created {kind} key {key_id} for {escape(name)} (shown once):")
    click.echo(key)


@keys.command("list")
@_database_url_option
def keys_list(database_url: str) -> None:
    """Stored keys (never their values)."""
    from signoff.server.store.credentials import list_keys

    table = Table("id", "kind", "name", "created", "revoked")
    for row in _run_store(database_url, list_keys):
        table.add_row(
            str(row["id"]),
            str(row["kind"]),
            escape(str(row["name"])),
            str(row["created_at"]),
            str(row["revoked_at"] or "-"),
        )
    out.print(table)


@keys.command("revoke")
@_database_url_option
@click.argument("key_id")
def keys_revoke(database_url: str, key_id: str) -> None:
    """Revoke a stored key; services refuse it within seconds."""
    from signoff.server.store.credentials import revoke_key

    if not _run_store(database_url, lambda e: revoke_key(e, key_id)):
        err.print(f"[red]error[/]: no active key with id {escape(key_id)}")
        sys.exit(1)
    out.print(f"revoked {key_id}")


def connection_options(func: F) -> F:
    for option in reversed(
        [
            click.option(
                "--url",
                default="http://127.0.0.1:8000",
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


@main.group()
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
    table = Table("id", "status", "risk", "action", "summary", "created", "expires")
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


def management_options(func: F) -> F:
    for option in reversed(
        [
            click.option(
                "--url",
                default="http://127.0.0.1:8000",
                show_default=True,
                envvar="SIGNOFF_URL",
                help="signoff serve, or sandbox / production for the hosted platform.",
            ),
            click.option(
                "--api-key",
                envvar="SIGNOFF_API_KEY",
                required=True,
                help="API key (the secret key on the hosted platform).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
        ]
    ):
        func = option(func)
    return func


@contextmanager
def handled() -> Iterator[None]:
    try:
        yield
    except APIError as exc:
        err.print(f"[red]error[/]: {exc.error} (HTTP {exc.status_code})")
        sys.exit(1)
    except (SignoffError, ValueError) as exc:
        err.print(f"[red]error[/]: {exc}")
        sys.exit(1)


def _health(health: Any) -> str:
    if health is None or health.status == "healthy":
        return "[green]healthy[/]"
    return f"[red]{health.status}[/] ({health.consecutive_failures}x: {health.last_error})"


@main.group()
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
    table = Table("id", "url", "active", "event types", "health")
    for w in found:
        table.add_row(w.id, w.url, str(w.active), ", ".join(w.event_types), _health(w.health))
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
    out.print(f"[bold]{found.id}[/] {found.url} active={found.active} {_health(found.health)}")
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


@main.group()
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
    table = Table("id", "name", "active")
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
        out.print(f"  action {action.id}: {action.url} ({signed}) {_health(action.health)}")


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


@main.group()
def subscriptions() -> None:
    """Webhooks as code: validate, plan and apply a subscription spec.

    Exit codes follow terraform's detailed exit code: 0 no changes (or applied),
    2 changes present (plan), 1 error.
    """


def spec_option(func: F) -> F:
    return click.option(
        "-f",
        "--file",
        "spec_file",
        default="subscriptions.yaml",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The spec (YAML or JSON).",
    )(func)


def _load_spec(spec_file: str, *, resolve: bool = True) -> Any:
    from signoff.subscriptions import SpecError, load

    try:
        return load(spec_file, env=None if resolve else _AnyEnv())
    except SpecError as exc:
        err.print(f"[red]invalid spec[/]\n{escape(str(exc))}")
        sys.exit(1)


class _AnyEnv(dict[str, str]):
    """Validation without the secrets at hand: every reference resolves to a stand-in."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return "stand-in-secret"


@subscriptions.command("validate")
@spec_option
def subscriptions_validate(spec_file: str) -> None:
    """Check the file (no network, secrets need not be set)."""
    spec = _load_spec(spec_file, resolve=False)
    out.print(
        f"{escape(spec_file)}: valid ({len(spec.webhooks)} webhooks, "
        f"{len(spec.workflows)} workflows)"
    )


@subscriptions.command("schema")
def subscriptions_schema() -> None:
    """Print the spec's JSON Schema (for editor completion)."""
    from signoff.subscriptions.spec import dumps_schema

    click.echo(dumps_schema(), nl=False)


def _plan(spec_file: str, url: str, api_key: str, prune: bool, prune_unmanaged: bool) -> Any:
    from signoff.subscriptions import SubscriptionsClient

    if prune_unmanaged and not prune:
        raise click.UsageError("--prune-unmanaged only goes with --prune")
    spec = _load_spec(spec_file)
    client = SubscriptionsClient(url, secret_key=api_key)
    with handled():
        plan = client.plan(spec, prune, prune_unmanaged)
    return spec, client, plan


def prune_options(func: F) -> F:
    func = click.option(
        "--prune-unmanaged",
        is_flag=True,
        help="With --prune, also delete what the spec never managed.",
    )(func)
    return click.option("--prune", is_flag=True, help="Delete managed objects that left the file.")(
        func
    )


@subscriptions.command("plan")
@spec_option
@management_options
@prune_options
def subscriptions_plan(
    spec_file: str, url: str, api_key: str, as_json: bool, prune: bool, prune_unmanaged: bool
) -> None:
    """Show what apply would change. Exit 0: nothing; 2: changes; 1: error."""
    from signoff.subscriptions.render import show_plan

    _, client, plan = _plan(spec_file, url, api_key, prune, prune_unmanaged)
    client.close()
    if as_json:
        click.echo(plan.model_dump_json(indent=2))
    else:
        show_plan(out, plan, source=spec_file, target=client.calls.base_url)
    sys.exit(2 if plan.has_changes else 0)


@subscriptions.command("apply")
@spec_option
@management_options
@prune_options
def subscriptions_apply(
    spec_file: str, url: str, api_key: str, as_json: bool, prune: bool, prune_unmanaged: bool
) -> None:
    """Make the account match the spec. Exit 0: done; 1: error (re-run converges)."""
    from signoff.subscriptions.render import show_apply, show_plan

    _, client, plan = _plan(spec_file, url, api_key, prune, prune_unmanaged)
    with client, handled():
        result = client.apply(plan)
    if as_json:
        click.echo(
            json.dumps(
                {"plan": plan.model_dump(mode="json"), "result": result.model_dump(mode="json")},
                indent=2,
            )
        )
    else:
        show_plan(out, plan, source=spec_file, target=client.calls.base_url)
        show_apply(out, result)
    sys.exit(0 if result.ok else 1)


@main.command()
@click.option("--port", default=0, type=int, help="Port for the demo service (0: any free one).")
@click.option("--wait", is_flag=True, help="Wait for you to decide instead of a stand-in.")
def demo(port: int, wait: bool) -> None:
    """Start a throw-away service and walk one approval from request to result."""
    from signoff.demo import run_demo

    sys.exit(run_demo(port, wait=wait))


if __name__ == "__main__":
    main()
