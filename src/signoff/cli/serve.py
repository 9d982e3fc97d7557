"""``signoff serve``: the embedded service, with one option per field of its ``Settings``.

The options are built from :class:`signoff.server.config.Settings`, not written out, so
that a setting cannot lack its option and an option cannot disagree with the setting's
default, range or environment variable. Only values given on the command line are
passed on; pydantic-settings reads the environment and fills in the defaults, so both
are parsed in one place.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

try:
    from pydantic import ValidationError
    from pydantic.fields import FieldInfo

    from signoff.server.config import Settings, env_name, option_name
except ImportError as missing:  # a plain `pip install signoff`: the client only
    MISSING: ImportError | None = missing
else:
    MISSING = None


def _needs_extra(exc: ImportError) -> click.ClickException:
    return click.ClickException(
        f"the service needs the server extra: pip install 'signoff[server]' ({exc})"
    )


def _bounds(field: FieldInfo) -> dict[str, Any]:
    """``ge``/``gt`` of the field as click's range arguments."""
    for rule in field.metadata:
        if hasattr(rule, "ge"):
            return {"min": rule.ge}
        if hasattr(rule, "gt"):
            return {"min": rule.gt, "min_open": True}
    return {}


def _click_type(field: FieldInfo) -> tuple[click.ParamType, bool]:
    """The click type of a field's values, and whether the option repeats."""
    annotation = field.annotation
    multiple = typing.get_origin(annotation) is list
    if multiple:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else str
    bounds = _bounds(field)
    if annotation is int:
        return (click.IntRange(**bounds) if bounds else click.INT), multiple
    if annotation is float:
        return (click.FloatRange(**bounds) if bounds else click.FLOAT), multiple
    if annotation is Path:
        return click.Path(path_type=Path), multiple
    return click.STRING, multiple


def _help(name: str, field: FieldInfo) -> str:
    """The field's description, its environment variable and its default (as click would
    show them, which it cannot here: the option itself has no envvar and no default)."""
    extra = [f"env var: {env_name(name, field)}"]
    default = field.get_default(call_default_factory=True)
    if default not in (None, []):
        extra.append(f"default: {default}")
    return f"{field.description}  [{'; '.join(extra)}]"


def settings_option(name: str, field: FieldInfo) -> click.Option:
    """``--delivery-timeout`` for ``delivery_timeout``. No click default and no envvar:
    an option that is not given leaves the field to the environment and its default."""
    kind, multiple = _click_type(field)
    return click.Option(
        [option_name(name, field), name],
        type=kind,
        multiple=multiple,
        help=_help(name, field),
    )


def settings_from(params: dict[str, Any]) -> Settings:
    """Settings from the options given on the command line, the environment, defaults."""
    ctx = click.get_current_context()
    given: dict[str, Any] = {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in params.items()
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    }
    try:
        return Settings(**given)
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = str(problem["loc"][0]) if problem["loc"] else ""
        cause = problem.get("ctx", {}).get("error")
        message = str(cause) if cause is not None else problem["msg"]
        if name not in Settings.model_fields:
            raise click.BadParameter(message) from None
        hint = option_name(name) if name in given else env_name(name)
        raise click.BadParameter(message, param_hint=hint) from None


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


def _serve(**params: Any) -> None:
    """Run the embedded service: approvals, webhooks and workflows."""
    try:
        from signoff.server.app import serve as run
        from signoff.server.store.db import async_url
    except ImportError as exc:
        raise _needs_extra(exc) from None
    warn_secret_flags("api_keys", "--api-key", "--api-key-file or SIGNOFF_API_KEY")
    warn_secret_flags("admin_keys", "--admin-key", "SIGNOFF_ADMIN_KEY or `signoff keys create`")
    warn_secret_flags(
        "reviewer_tokens", "--reviewer-token", "--reviewer-token-file or SIGNOFF_REVIEWER_TOKEN"
    )
    settings = settings_from(params)
    try:
        async_url(settings.database_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--database-url") from None
    run(settings)


def _without_extra(**_: Any) -> None:
    """Run the embedded service (needs the server extra)."""
    assert MISSING is not None
    raise _needs_extra(MISSING)


if MISSING is None:
    serve = click.Command(
        "serve",
        callback=_serve,
        params=[settings_option(n, f) for n, f in Settings.model_fields.items()],
        help=_serve.__doc__,
    )
else:
    serve = click.Command(
        "serve",
        callback=_without_extra,
        help=_without_extra.__doc__,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
