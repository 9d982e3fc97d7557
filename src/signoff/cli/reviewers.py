"""``signoff reviewers`` and ``signoff groups``: who may decide, managed with an admin key.

Every command talks to a running ``signoff serve`` with an admin key (``--api-key`` or
``SIGNOFF_ADMIN_KEY``): a pipeline's API key or a reviewer token is refused, so that
nobody who asks for an approval (or decides one) can choose who approves it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from signoff.cli._common import F, admin_hints, err, out
from signoff.cli._common import admin_options as common_admin_options
from signoff.client import ReviewersClient, SignoffError
from signoff.client.errors import APIError
from signoff.models import Reviewer

HINTS = admin_hints("reviewers")
admin_options = common_admin_options(required=True)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def _invalid(exc: ValidationError) -> str:
    """A refused name or email as the service would word it: ``field: why``."""
    parts = []
    for error in exc.errors()[:5]:
        field = ".".join(str(part) for part in error.get("loc", ())) or "input"
        parts.append(f"{field}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts)


@contextmanager
def admin_client(url: str, admin_key: str) -> Iterator[ReviewersClient]:
    """A client whose errors become one readable line (and a hint) and exit code 1."""
    try:
        with ReviewersClient(url, admin_key=admin_key) as client:
            yield client
    except APIError as exc:
        err.print(f"[red]error[/]: {escape(exc.error)} (HTTP {exc.status_code})")
        if exc.status_code in HINTS:
            err.print(HINTS[exc.status_code])
        sys.exit(1)
    except ValidationError as exc:
        err.print(f"[red]error[/]: {escape(_invalid(exc))}")
        sys.exit(1)
    except SignoffError as exc:
        err.print(f"[red]error[/]: {escape(str(exc))}")
        sys.exit(1)


def _groups_text(groups: list[str]) -> str:
    return ", ".join(groups) if groups else "no groups"


def _notify_text(notify: list[str]) -> str:
    """Targets as the service shows them: an Apprise URL's tokens masked."""
    return ", ".join(notify) if notify else "no chat targets"


def _describe(reviewer: Reviewer) -> str:
    email = f" <{reviewer.email}>" if reviewer.email else ""
    told = f", told at {', '.join(reviewer.notify)}" if reviewer.notify else ""
    return escape(f"{reviewer.name}{email}, {_groups_text(reviewer.groups)}{told}")


NOTIFY_HELP = (
    "A chat or push target to tell them at, an Apprise URL such as slack://..., "
    "msteams://..., ntfy://... or json://host/path (repeat for several; the email is told too)."
)


@click.group()
def reviewers() -> None:
    """Reviewers: the people who decide, and the groups approvals are routed to.

    Needs an admin key (--api-key or SIGNOFF_ADMIN_KEY).
    """


@reviewers.command("add")
@admin_options
@click.argument("name")
@click.option("--email", help="Where to reach them.")
@click.option(
    "--group", "groups", multiple=True, help="A group they belong to (repeat for several)."
)
@click.option("--notify", "notify", multiple=True, metavar="URL", help=NOTIFY_HELP)
def add_command(
    url: str,
    admin_key: str,
    name: str,
    email: str | None,
    groups: tuple[str, ...],
    notify: tuple[str, ...],
) -> None:
    """Add a reviewer and print their token, once (it cannot be shown again)."""
    with admin_client(url, admin_key) as client:
        created = client.add(name, email=email, groups=groups, notify=notify)
    out.print(f"added reviewer {_describe(created)}")
    out.print(f"reviewer token for {escape(created.name)} (shown once, store it now):")
    click.echo(created.token)


@reviewers.command("list")
@admin_options
@json_option
def list_command(url: str, admin_key: str, as_json: bool) -> None:
    """Every reviewer, removed ones too (active: no), with their chat targets (notify,
    their tokens masked).

    configured: known only from a token given to signoff serve (--reviewer-token
    NAME=TOKEN), without a stored record; set-groups gives them one.
    """
    with admin_client(url, admin_key) as client:
        found = client.list()
    if as_json:
        click.echo(json.dumps([r.to_wire() for r in found], indent=2))
        return
    table = Table("name", "email", "groups", "notify", "active", "configured")
    for r in found:
        table.add_row(
            escape(r.name),
            escape(r.email or "-"),
            escape(", ".join(r.groups) or "-"),
            escape(", ".join(r.notify) or "-"),
            "yes" if r.active else "[red]no[/]",
            "yes" if r.configured else "-",
        )
    out.print(table)
    if not found:
        out.print("no reviewers")


@reviewers.command("remove")
@admin_options
@click.argument("name")
def remove_command(url: str, admin_key: str, name: str) -> None:
    """Remove a reviewer: their tokens stop working at once and they may decide nothing
    more. The record stays (inactive) for the audit trail, so the name is not reused."""
    with admin_client(url, admin_key) as client:
        before = client.get(name)
        removed = client.remove(name)
    out.print(
        f"removed reviewer {escape(removed.name)}: may decide nothing more, stored tokens "
        "revoked (kept, inactive, for the audit trail)"
    )
    if before.configured:
        out.print(
            "their --reviewer-token still authenticates until it is taken off signoff "
            "serve's flags, but it may decide nothing"
        )


@reviewers.command("set-groups")
@admin_options
@click.argument("name")
@click.argument("groups", nargs=-1)
@click.option("--none", "no_groups", is_flag=True, help="Take them out of every group.")
def set_groups_command(
    url: str, admin_key: str, name: str, groups: tuple[str, ...], no_groups: bool
) -> None:
    """Replace a reviewer's groups: they end up in exactly GROUPS, no others.

    Give at least one group, or --none to leave them in none; a bare NAME is refused
    so that a forgotten argument cannot empty someone's groups.
    """
    if no_groups and groups:
        raise click.UsageError("give groups or --none, not both")
    if not no_groups and not groups:
        raise click.UsageError("give the groups (all of them), or --none to clear them")
    with admin_client(url, admin_key) as client:
        updated = client.update(name, groups=list(groups))
    out.print(f"{escape(updated.name)}: {escape(_groups_text(updated.groups))}")


@reviewers.command("set-notify")
@admin_options
@click.argument("name")
@click.argument("targets", nargs=-1, metavar="URL...")
@click.option("--none", "no_targets", is_flag=True, help="Tell them by email only.")
def set_notify_command(
    url: str, admin_key: str, name: str, targets: tuple[str, ...], no_targets: bool
) -> None:
    """Replace a reviewer's chat or push targets: they are told at exactly URL..., no
    others (Apprise URLs such as slack://..., msteams://..., ntfy://..., json://host/path;
    their email, if any, is told too).

    Give at least one URL, or --none to leave them none; a bare NAME is refused so that
    a forgotten argument cannot silence someone.
    """
    if no_targets and targets:
        raise click.UsageError("give targets or --none, not both")
    if not no_targets and not targets:
        raise click.UsageError("give the targets (all of them), or --none to clear them")
    with admin_client(url, admin_key) as client:
        updated = client.update(name, notify=list(targets))
    out.print(f"{escape(updated.name)}: {escape(_notify_text(updated.notify))}")


@click.group("groups")
def groups_group() -> None:
    """Groups: made of reviewers' memberships (signoff reviewers add --group, set-groups).

    Needs an admin key (--api-key or SIGNOFF_ADMIN_KEY).
    """


@groups_group.command("list")
@admin_options
@json_option
def groups_list_command(url: str, admin_key: str, as_json: bool) -> None:
    """Every group with its active members."""
    with admin_client(url, admin_key) as client:
        found = client.groups()
    if as_json:
        click.echo(json.dumps([g.to_wire() for g in found], indent=2))
        return
    table = Table("group", "members")
    for g in found:
        table.add_row(escape(g.name), escape(", ".join(g.members) or "-"))
    out.print(table)
    if not found:
        out.print("no groups")
