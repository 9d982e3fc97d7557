"""The ``signoff`` command: run the service, and act on approvals from a terminal.

One module per command group, so that each group is read (and changed) on its own;
this module only gathers them under :func:`main`, the entry point of ``signoff`` and of
``python -m signoff``.
"""

from __future__ import annotations

import click

from signoff.cli.approvals import approvals
from signoff.cli.demo import demo
from signoff.cli.keys import keys
from signoff.cli.serve import serve
from signoff.cli.subscriptions import subscriptions
from signoff.cli.webhooks import webhooks
from signoff.cli.workflows import workflows


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="signoff")
def main() -> None:
    """signoff: human sign-off for data pipelines, and webhooks as code."""


for command in (serve, keys, approvals, webhooks, workflows, subscriptions, demo):
    main.add_command(command)

__all__ = ["main"]
