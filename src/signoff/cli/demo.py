"""``signoff demo``: one approval from request to result, on a throw-away service."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--port", default=0, type=int, help="Port for the demo service (0: any free one).")
@click.option("--wait", is_flag=True, help="Wait for you to decide instead of a stand-in.")
def demo(port: int, wait: bool) -> None:
    """Start a throw-away service and walk one approval from request to result."""
    from signoff.demo import run_demo

    sys.exit(run_demo(port, wait=wait))
