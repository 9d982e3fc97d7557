"""The ``signoff`` command: run the service, and act on approvals from a terminal.

One module per command group, so that each group is read (and changed) on its own;
this module only gathers them under :func:`main`, the entry point of ``signoff`` and of
``python -m signoff``.
"""

from __future__ import annotations

import click

from signoff._version import __version__
from signoff.cli.approvals import approvals
from signoff.cli.demo import demo
from signoff.cli.keys import keys
from signoff.cli.policies import policies
from signoff.cli.reviewers import groups_group, reviewers
from signoff.cli.subscriptions import subscriptions
from signoff.cli.webhooks import webhooks
from signoff.cli.workflows import workflows


class _Commands(click.Group):
    """``serve`` is imported only when asked for: its options come from the service's
    settings (pydantic-settings, the server extra), which the client commands do without."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "serve"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "serve":
            from signoff.cli.serve import serve

            return serve
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="signoff")
def main() -> None:
    """signoff: human sign-off for data pipelines, and webhooks as code."""


for command in (
    keys,
    approvals,
    reviewers,
    groups_group,
    policies,
    webhooks,
    workflows,
    subscriptions,
    demo,
):
    main.add_command(command)

__all__ = ["main"]
