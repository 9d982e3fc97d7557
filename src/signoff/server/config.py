"""Settings of ``signoff serve``, defined once.

Each field here is a ``serve`` option and an environment variable of the same name:
field ``delivery_timeout`` is ``--delivery-timeout`` and ``SIGNOFF_DELIVERY_TIMEOUT``;
a field whose public name differs from the attribute says so with ``validation_alias``
(``api_keys`` is ``--api-key`` / ``SIGNOFF_API_KEY``, as the contract names it). The CLI
builds its options from these fields (``signoff.cli.serve``), so a default, a range or an
environment name cannot differ between the command line, the environment and
``Settings(...)`` in code.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ENV_PREFIX = "SIGNOFF_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # Code says Settings(api_keys=[...]); the environment says SIGNOFF_API_KEY.
        populate_by_name=True,
        # An unset-but-empty variable means "not set", as it always has for click.
        env_ignore_empty=True,
        # A misspelt keyword is an error, as it was for the dataclass.
        extra="forbid",
    )

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, description="Port to listen on.")
    database_url: str = Field(
        "sqlite:///signoff.db",
        description="sqlite:///file.db, or postgresql://user@host/db for PostgreSQL.",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="SIGNOFF_API_KEY",
        description="Key clients send as x-api-key or Authorization: Bearer (repeatable; in "
        "SIGNOFF_API_KEY separated by spaces). Prefer --api-key-file: a flag shows in ps.",
    )
    api_key_file: Path | None = Field(
        None,
        description="File of API keys, one a line; blank lines and lines starting with # "
        "are skipped.",
    )
    reviewer_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="SIGNOFF_REVIEWER_TOKEN",
        description="Token reviewers send as Authorization: Bearer; NAME=TOKEN names the "
        "reviewer (repeatable; in SIGNOFF_REVIEWER_TOKEN separated by spaces).",
    )
    reviewer_token_file: Path | None = Field(
        None,
        description="File of reviewer tokens, one a line as for --reviewer-token "
        "(NAME=TOKEN); blank lines and lines starting with # are skipped.",
    )
    admin_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="SIGNOFF_ADMIN_KEY",
        description="Key of an operator: manages reviewers and groups, acts on any "
        "approval (repeatable; NAME=KEY names it). Prefer `signoff keys create --kind admin`.",
    )
    public_url: str | None = Field(
        None, description="Base of reviewUrl links; defaults to http://host:port."
    )
    default_expiry_seconds: int = Field(
        24 * 3600,
        ge=1,
        validation_alias="SIGNOFF_DEFAULT_EXPIRY",
        description="Seconds before an undecided approval expires.",
    )
    signing_secret: str | None = Field(
        None, description="Callback HMAC key; generated and stored when unset."
    )
    outbound_allow: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list,
        description="Private network callbacks may reach anyway, e.g. 127.0.0.0/8 (repeatable).",
    )
    delivery_backoff_base: float = Field(
        2.0,
        ge=0.01,
        validation_alias="SIGNOFF_DELIVERY_BACKOFF",
        description="First retry delay of a failed callback (seconds).",
    )
    endpoint_flag_after: int = Field(
        5,
        ge=1,
        description="Consecutive failed deliveries after which an endpoint shows as failing.",
    )
    endpoint_deactivate_after: float = Field(
        72 * 3600.0,
        ge=0,
        description="Seconds a failing endpoint may keep failing before it is deactivated.",
    )
    delivery_timeout: float = Field(
        10.0, ge=0.1, description="Seconds a receiver has to answer a delivery."
    )
    rate_limit: float = Field(
        2000.0, ge=0, description="Requests per second per key (bursts of twice); 0: off."
    )
    auth_failure_rate: float = Field(
        10.0,
        ge=0,
        description="Failed keys and sign-ins per second per client address (bursts of ten "
        "times that); past it, 429 for that address; 0: off.",
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1, description="Largest request body accepted (bytes); larger: 413."
    )
    delivery_backoff_cap: float = Field(
        3600.0, ge=0, description="Longest delay between two attempts of a delivery (seconds)."
    )
    delivery_max_attempts: int = Field(
        12, ge=1, description="Attempts of a delivery before it is given up."
    )
    sweep_interval: float = Field(
        1.0, gt=0, description="Seconds between two sweeps for expired approvals."
    )
    keyring_refresh: float = Field(
        5.0,
        gt=0,
        description="Seconds between re-reads of stored keys, so rotation needs no restart.",
    )

    smtp_url: str | None = Field(
        None,
        description="Mail server for notifications: smtp://user:pass@host:587 (STARTTLS "
        "when offered; ?starttls=require insists) or smtps://host:465 (TLS); unset: no email.",
    )
    smtp_from: str = Field(
        "signoff <signoff@localhost>", description="From address of notification emails."
    )
    slack_bot_token: str | None = Field(
        None,
        description="Slack app mode: the bot token (xoxb-...) that posts approvals with "
        "Approve / Reject buttons to slack-app:#channel targets.",
    )
    slack_signing_secret: str | None = Field(
        None,
        description="Slack app mode: the app's signing secret; /slack/interactions refuses "
        "requests it did not sign.",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack's Web API base (a stand-in's in tests)."
    )
    remind_after: float = Field(
        0.0,
        ge=0,
        description="Seconds after which reviewers who have not decided are reminded, and "
        "again every as many seconds; 0: no reminders.",
    )
    decision_link_ttl: float = Field(
        7 * 24 * 3600.0,
        ge=1,
        description="Seconds a signed decision link stays valid (never past the approval's "
        "expiry).",
    )

    @field_validator("api_keys", "reviewer_tokens", "admin_keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """``SIGNOFF_API_KEY="a b"``: several values in one variable, split at whitespace."""
        return value.split() if isinstance(value, str) else value

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        """Whitespace or commas between networks; ``ValueError`` names a bad one."""
        values = value.split() if isinstance(value, str) else value
        if isinstance(values, list | tuple) and all(isinstance(v, str) for v in values):
            return parse_networks(list(values))
        return values

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if value is not None:
            smtp_target(value)
        return value

    @field_validator("api_key_file", "reviewer_token_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        """Refused here, so that the error names the option; read in ``_with_files``."""
        read_keys(path)
        return path

    @model_validator(mode="after")
    def _with_files(self) -> Settings:
        """Keys from the files join those given directly (files keep them out of ``ps``)."""
        self.api_keys = _unique(self.api_keys + read_keys(self.api_key_file))
        self.reviewer_tokens = _unique(self.reviewer_tokens + read_keys(self.reviewer_token_file))
        return self

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def env_name(name: str, field: FieldInfo | None = None) -> str:
    """The environment variable of a field: its alias, else ``SIGNOFF_<FIELD>``."""
    field = field or Settings.model_fields[name]
    alias = field.validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()


def option_name(name: str, field: FieldInfo | None = None) -> str:
    """The ``serve`` option of a field: its environment name without the prefix."""
    return "--" + env_name(name, field).removeprefix(ENV_PREFIX).lower().replace("_", "-")


def read_keys(path: Path | None) -> list[str]:
    """Keys from a file, one a line, so that they stay out of ``/proc/PID/cmdline``."""
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot read {path}: {reason}") from None
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _unique(values: list[str]) -> list[str]:
    """In order, each once: re-validating settings must not repeat the file's keys."""
    return list(dict.fromkeys(values))


def parse_networks(values: list[str]) -> list[IPNetwork]:
    """``127.0.0.0/8,10.1.2.3`` -> networks; raises ``ValueError`` naming the bad one."""
    networks: list[IPNetwork] = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
    return networks


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None
    """``None``: STARTTLS when the server offers it; ``True``: refuse a server without."""


def smtp_target(url: str) -> SmtpTarget:
    """``smtp://user:pass@host:port`` -> where and how to send; ``ValueError`` says why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("not an SMTP URL: use smtp://user:pass@host:587 or smtps://host:465")
    query = dict(parse_qsl(parts.query))
    starttls = query.get("starttls", "auto").lower()
    if starttls not in ("auto", "require", "never"):
        raise ValueError("starttls must be auto, require or never")
    tls = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if tls else 587)
    except ValueError:
        raise ValueError("the SMTP URL's port is not a number") from None
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=tls,
        start_tls=None if tls or starttls == "auto" else starttls == "require",
    )
