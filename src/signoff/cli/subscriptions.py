"""``signoff subscriptions``: webhooks as code (validate, plan and apply a spec).

Exit codes follow terraform's detailed exit code, so that CI can tell "nothing to do"
from "changes pending" from "broken": 0, 2 and 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.markup import escape

from signoff.cli._common import F, err, handled, management_options, out


@click.group()
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
