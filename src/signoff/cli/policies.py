"""``signoff policies``: approval policies as code (validate, plan, apply, show, test).

Every command but ``schema`` (and ``validate --offline``) talks to a running ``signoff
serve`` with an admin key (``--api-key`` or ``SIGNOFF_ADMIN_KEY``): a pipeline's API key
or a reviewer token is refused, so that nobody who asks for approvals can decide how
they are decided.

Exit codes follow terraform's detailed exit code, as ``signoff subscriptions``: 0 nothing
to change, 2 changes, 1 error. Usage errors (a missing FILE or key, a bad ``--since``)
exit 1 too, so that 2 always means "changes".

What is wrong with a file is shown as ``file:line: field: message``, whether the file's
shape is wrong (found here) or the service refuses it (a condition that does not
compile, an unknown group: its ``problems`` are placed on the file's lines).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Column, Table

from signoff.cli._common import ADMIN_KEY_ENV, F, admin_hints, err, out
from signoff.cli._common import admin_options as common_admin_options
from signoff.client import PoliciesClient, SignoffError
from signoff.client.errors import APIError, InvalidRequest

if TYPE_CHECKING:
    from signoff.models.policies import PolicyChange, PolicyPlan, PolicyTestReport
    from signoff.policies.spec import LoadedFile

HINTS = admin_hints("policies")

SIGNS = {
    "add": "[green]+[/]",
    "change": "[yellow]~[/]",
    "remove": "[red]-[/]",
    "move": "[cyan]>[/]",
}
VERBS = {"add": "to add", "change": "to change", "remove": "to remove", "move": "to move"}
DONE = {"add": "added", "change": "changed", "remove": "removed", "move": "moved"}


class _UsageError(click.UsageError):
    exit_code = 1


class _PoliciesGroup(click.Group):
    """Usage errors exit 1 (click's own code is 2, which here means "changes")."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if isinstance(exc, _UsageError):
                raise
            raise _UsageError(exc.format_message(), exc.ctx) from None


@click.group(cls=_PoliciesGroup)
def policies() -> None:
    """Approval policies as code: which approvals are decided at once, who decides the
    others, how many and by when.

    Needs an admin key (--api-key or SIGNOFF_ADMIN_KEY). Exit codes: 0 nothing to
    change, 2 changes (plan, apply, test), 1 error.
    """


admin_options = common_admin_options(required=False, with_json=True)
"""The key is checked by the command itself, so that a missing one exits 1, not 2."""


def file_argument(func: F) -> F:
    return click.argument("policy_file", metavar="FILE", type=click.Path(dir_okay=False))(func)


def _fail(message: str, *lines: str) -> NoReturn:
    err.print(f"[red]error[/]: {escape(message)}", soft_wrap=True)
    for line in lines:
        err.print(escape(line), soft_wrap=True)
    sys.exit(1)


def _read(policy_file: str) -> LoadedFile:
    """The file, checked here; its problems as ``file:line: field: message``, exit 1."""
    from signoff.policies.spec import SpecError, load_located

    try:
        return load_located(policy_file)
    except SpecError as exc:
        err.print("[red]invalid policy file[/]")
        err.print(escape(str(exc)), soft_wrap=True)
        sys.exit(1)


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        field = ".".join(str(part) for part in error.get("loc", ())) or "input"
        parts.append(f"{field}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts)


@contextmanager
def policy_client(
    url: str, admin_key: str | None, loaded: LoadedFile | None = None
) -> Iterator[PoliciesClient]:
    """A client whose errors become readable lines and exit code 1; the service's
    problems with ``loaded`` are placed on its lines."""
    if not admin_key:
        _fail(f"an admin key is needed: --api-key or {ADMIN_KEY_ENV}")
    try:
        with PoliciesClient(url, admin_key=admin_key) as client:
            yield client
    except InvalidRequest as exc:
        where = f"the service refused {loaded.source}" if loaded else "the service refused it"
        lines = [
            loaded.problem(p.field, p.message) if loaded else f"{p.field}: {p.message}"
            for p in exc.problems
        ]
        # with problems, the summary would only repeat the first of them
        _fail(f"{where} (HTTP {exc.status_code})" + ("" if lines else f": {exc.error}"), *lines)
    except APIError as exc:
        hint = HINTS.get(exc.status_code)
        _fail(f"{exc.error} (HTTP {exc.status_code})", *([hint] if hint else []))
    except ValidationError as exc:
        _fail(_problems(exc))
    except SignoffError as exc:
        _fail(str(exc))


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


@policies.command("schema")
def schema_command() -> None:
    """Print the policy file's JSON Schema (for editor completion)."""
    from signoff.policies.spec import dumps_schema

    click.echo(dumps_schema(), nl=False)


@policies.command("validate")
@file_argument
@admin_options
@click.option(
    "--offline",
    is_flag=True,
    help="Check the file's shape only, without the service (conditions are not compiled).",
)
def validate_command(
    policy_file: str, url: str, admin_key: str | None, as_json: bool, offline: bool
) -> None:
    """Check FILE: its shape here, then its conditions and groups by the service
    (nothing is applied). Exit 0: valid; 1: not."""
    loaded = _read(policy_file)
    counts = f"{len(loaded.file.policies)} policies, {len(loaded.file.groups)} groups"
    if offline:
        if as_json:
            _echo_json(
                {
                    "valid": True,
                    "policies": len(loaded.file.policies),
                    "groups": len(loaded.file.groups),
                }
            )
        else:
            out.print(
                f"{escape(policy_file)}: valid shape ({counts}; conditions not compiled)",
                soft_wrap=True,
            )
        return
    with policy_client(url, admin_key, loaded) as client:
        valid = client.validate(loaded.file)
    if as_json:
        _echo_json(valid.to_wire())
        return
    out.print(
        f"{escape(policy_file)}: valid ({valid.policies} policies, {valid.groups} groups)",
        soft_wrap=True,
    )


def _value(value: Any) -> str:
    return escape(value if isinstance(value, str) else json.dumps(value))


def _change_lines(change: PolicyChange) -> list[str]:
    before, after = change.before, change.after
    if change.op == "add" and isinstance(after, dict):
        return [f"{escape(k)}: {_value(v)}" for k, v in after.items() if k != "name"]
    if change.op == "change" and isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in [*before, *(k for k in after if k not in before)]:
            if before.get(key) != after.get(key):
                was = _value(before[key]) if key in before else "(unset)"
                now = _value(after[key]) if key in after else "(unset)"
                lines.append(f"{escape(key)}: {was} -> {now}")
        return lines
    if change.op in ("change", "move") and before is not None and after is not None:
        if change.op == "move" and isinstance(before, int) and isinstance(after, int):
            # counted from 1 for people; the first matching policy wins
            return [f"position: {before + 1} -> {after + 1}"]
        return [f"{_value(before)} -> {_value(after)}"]
    return []


def show_plan(plan: PolicyPlan, *, source: str, target: str, applied: bool = False) -> None:
    """The changes as ``+ add``, ``~ change``, ``- remove`` and ``> move`` lines."""
    if applied:
        active = f"version {plan.version}" + ("" if plan.changed else ", unchanged")
    else:
        active = f"active version {plan.version}" if plan.version else "nothing applied yet"
    out.print(f"[bold]{escape(source)}[/] against {escape(target)} ({active})", soft_wrap=True)
    for change in plan.changes:
        out.print(
            f"  {SIGNS.get(change.op, '?')} {change.kind} [bold]{escape(change.name)}[/]: "
            f"{change.op}",
            soft_wrap=True,
        )
        for line in _change_lines(change):
            out.print(f"      {line}", soft_wrap=True)
    if not plan.changed:
        out.print("No changes: the active policy matches the file.")
        return
    counts = {op: sum(1 for c in plan.changes if c.op == op) for op in VERBS}
    words = DONE if applied else VERBS
    summary = ", ".join(f"{n} {words[op]}" for op, n in counts.items() if n) or "changes"
    if applied:
        out.print(f"Applied: version {plan.version} is active ({summary}).")
    else:
        out.print(f"Plan: {summary}.")


@policies.command("plan")
@file_argument
@admin_options
def plan_command(policy_file: str, url: str, admin_key: str | None, as_json: bool) -> None:
    """Show what applying FILE would change against the active policy.
    Exit 0: nothing; 2: changes; 1: error."""
    loaded = _read(policy_file)
    with policy_client(url, admin_key, loaded) as client:
        plan = client.plan(loaded.file)
    if as_json:
        _echo_json(plan.to_wire())
    else:
        show_plan(plan, source=policy_file, target=client.calls.base_url)
    sys.exit(2 if plan.changed else 0)


@policies.command("apply")
@file_argument
@admin_options
def apply_command(policy_file: str, url: str, admin_key: str | None, as_json: bool) -> None:
    """Make FILE the active policy (a new version when it changes anything).
    Exit 0: nothing changed; 2: applied changes; 1: error."""
    loaded = _read(policy_file)
    with policy_client(url, admin_key, loaded) as client:
        applied = client.apply(loaded.file)
    if as_json:
        _echo_json(applied.to_wire())
    else:
        show_plan(applied, source=policy_file, target=client.calls.base_url, applied=True)
    sys.exit(2 if applied.changed else 0)


@policies.command("show")
@admin_options
def show_command(url: str, admin_key: str | None, as_json: bool) -> None:
    """The active policy: its version and document (as YAML, or --json)."""
    import yaml

    with policy_client(url, admin_key) as client:
        active = client.active()
    if as_json:
        _echo_json(active.to_wire() if active else None)
        return
    if active is None:
        out.print("no policy applied yet (signoff policies apply FILE)")
        return
    by = f" by {active.created_by}" if active.created_by else ""
    out.print(
        f"version {active.version}, applied {active.to_wire()['createdAt']}{escape(by)}",
        soft_wrap=True,
    )
    click.echo(yaml.safe_dump(active.document, sort_keys=False, allow_unicode=True), nl=False)


def _since(value: str) -> int:
    from signoff.policies.spec import seconds_of

    try:
        return seconds_of(int(value) if value.isdigit() else value, most_days=366)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


EXAMPLES_SHOWN = 3


def show_report(report: PolicyTestReport, *, source: str) -> None:
    """One row per rule: what it would have matched, decided and routed, and how many of
    those differ from what happened (some of their ids as examples)."""
    since = report.to_wire()["since"]
    counts = ("matched", "auto-approved", "auto-rejected", "routed", "changed", "errors")
    table = Table(
        Column("rule"),
        *(Column(name, justify="right") for name in counts),
        Column("examples", no_wrap=True),
        title=f"{source}: {report.approvals} approvals since {since}",
    )
    for rule in report.rules:
        shown = rule.examples[:EXAMPLES_SHOWN]
        more = len(rule.examples) - len(shown)
        examples = ", ".join(shown) + (f" (+{more})" if more > 0 else "")
        table.add_row(
            escape(rule.name),
            str(rule.matched),
            str(rule.auto_approved),
            str(rule.auto_rejected),
            str(rule.routed),
            f"[yellow]{rule.changed}[/]" if rule.changed else "0",
            f"[red]{rule.errors}[/]" if rule.errors else "0",
            escape(examples or "-"),
        )
    out.print(table)
    out.print(
        f"{report.unmatched} matched no rule; {report.changed} of {report.approvals} "
        "would have been handled differently.",
        soft_wrap=True,
    )
    if any(rule.errors for rule in report.rules):
        out.print(
            "errors: approvals whose condition could not be evaluated (a missing field, a "
            "wrong type) match no rule",
            soft_wrap=True,
        )


@policies.command("test")
@file_argument
@admin_options
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="How far back to replay: 30d, 12h, 1d12h, or seconds (at most 366d).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    help="Replay at most this many of the newest approvals (the service's default: 10000).",
)
def test_command(
    policy_file: str, url: str, admin_key: str | None, as_json: bool, since: str, limit: int | None
) -> None:
    """Replay stored approvals against FILE (nothing is changed): per rule, how many it
    matches, would decide or route, and how many of those differ from what happened.
    Exit 0: nothing would have been handled differently; 2: some would; 1: error."""
    since_seconds = _since(since)
    loaded = _read(policy_file)
    with policy_client(url, admin_key, loaded) as client:
        report = client.test(loaded.file, since_seconds=since_seconds, limit=limit)
    if as_json:
        _echo_json(report.to_wire())
    else:
        show_report(report, source=policy_file)
    sys.exit(2 if report.changed else 0)
