"""What several command groups share: the consoles, styles, and turning errors into one line.

Every command prints through these two consoles so that output goes to stdout and
errors to stderr the same way everywhere, and every API error ends as exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Column

from signoff.client import SignoffError
from signoff.client.errors import APIError

F = TypeVar("F", bound=Callable[..., Any])
out = Console()
err = Console(stderr=True)

RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}
STATUS_STYLE = {"PENDING": "yellow", "APPROVED": "green", "REJECTED": "red"}

DEFAULT_URL = "http://127.0.0.1:8000"


def id_column(ids: list[str], header: str = "id") -> Column:
    """An id is there to be copied: never cut (``req_oi4o…``) nor wrapped, however narrow
    the terminal; the other columns of the table shrink instead."""
    return Column(header, no_wrap=True, min_width=max((len(i) for i in ids), default=len(header)))


@contextmanager
def handled() -> Iterator[None]:
    """API and client errors (and invalid input) become one readable line and exit 1."""
    try:
        yield
    except APIError as exc:
        err.print(f"[red]error[/]: {exc.error} (HTTP {exc.status_code})")
        sys.exit(1)
    except (SignoffError, ValueError) as exc:
        err.print(f"[red]error[/]: {exc}")
        sys.exit(1)


def management_options(func: F) -> F:
    """``--url``, ``--api-key`` and ``--json`` of the webhook, workflow and spec commands."""
    for option in reversed(
        [
            click.option(
                "--url",
                default=DEFAULT_URL,
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


ADMIN_KEY_ENV = "SIGNOFF_ADMIN_KEY"


def admin_hints(what: str) -> dict[int, str]:
    """What to say when the service refuses the admin key of a command managing ``what``."""
    return {
        401: f"check the admin key (--api-key or {ADMIN_KEY_ENV})",
        403: f"pass an admin key with --api-key or {ADMIN_KEY_ENV}: an API key or a reviewer "
        f"token cannot manage {what} (signoff serve --admin-key NAME=KEY, or signoff keys "
        "create --kind admin)",
    }


def admin_options(*, required: bool, with_json: bool = False) -> Callable[[F], F]:
    """``--url`` and the admin key (``--api-key`` / SIGNOFF_ADMIN_KEY) of the commands
    that manage reviewers, groups and policies; ``with_json`` adds ``--json``."""
    options = [
        click.option(
            "--url",
            default=DEFAULT_URL,
            show_default=True,
            envvar="SIGNOFF_URL",
            help="The signoff service.",
        ),
        click.option(
            "--api-key",
            "admin_key",
            envvar=ADMIN_KEY_ENV,
            required=required,
            help=f"Admin key (or {ADMIN_KEY_ENV}); an API key or reviewer token is refused.",
        ),
    ]
    if with_json:
        options.append(click.option("--json", "as_json", is_flag=True, help="Print JSON."))

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def health(state: Any) -> str:
    """An endpoint's health as one coloured cell."""
    if state is None or state.status == "healthy":
        return "[green]healthy[/]"
    return f"[red]{state.status}[/] ({state.consecutive_failures}x: {state.last_error})"
