"""``signoff serve``: the embedded service, configured by options or ``SIGNOFF_*``."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource


@click.command()
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
