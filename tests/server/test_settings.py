"""``signoff serve`` options, ``SIGNOFF_*`` variables and ``Settings`` cannot drift apart.

The options are derived from the settings' fields; these tests hold the derivation to
the contract (names in shared/guide/architecture.md) and check that the command line,
the environment and ``Settings(...)`` in code end in the same settings.
"""

from __future__ import annotations

import ipaddress
import os
import typing
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from signoff.cli import main
from signoff.cli.keys import keys
from signoff.cli.serve import serve
from signoff.server import app as app_module
from signoff.server.config import Settings, env_name, option_name, smtp_target

CONTRACT = {
    # option: (field, environment variable) -- names users and tests already rely on
    "--host": ("host", "SIGNOFF_HOST"),
    "--port": ("port", "SIGNOFF_PORT"),
    "--database-url": ("database_url", "SIGNOFF_DATABASE_URL"),
    "--api-key": ("api_keys", "SIGNOFF_API_KEY"),
    "--api-key-file": ("api_key_file", "SIGNOFF_API_KEY_FILE"),
    "--reviewer-token": ("reviewer_tokens", "SIGNOFF_REVIEWER_TOKEN"),
    "--reviewer-token-file": ("reviewer_token_file", "SIGNOFF_REVIEWER_TOKEN_FILE"),
    "--admin-key": ("admin_keys", "SIGNOFF_ADMIN_KEY"),
    "--public-url": ("public_url", "SIGNOFF_PUBLIC_URL"),
    "--default-expiry": ("default_expiry_seconds", "SIGNOFF_DEFAULT_EXPIRY"),
    "--signing-secret": ("signing_secret", "SIGNOFF_SIGNING_SECRET"),
    "--outbound-allow": ("outbound_allow", "SIGNOFF_OUTBOUND_ALLOW"),
    "--delivery-backoff": ("delivery_backoff_base", "SIGNOFF_DELIVERY_BACKOFF"),
    "--endpoint-flag-after": ("endpoint_flag_after", "SIGNOFF_ENDPOINT_FLAG_AFTER"),
    "--endpoint-deactivate-after": (
        "endpoint_deactivate_after",
        "SIGNOFF_ENDPOINT_DEACTIVATE_AFTER",
    ),
    "--delivery-timeout": ("delivery_timeout", "SIGNOFF_DELIVERY_TIMEOUT"),
    "--rate-limit": ("rate_limit", "SIGNOFF_RATE_LIMIT"),
    "--auth-failure-rate": ("auth_failure_rate", "SIGNOFF_AUTH_FAILURE_RATE"),
    "--smtp-url": ("smtp_url", "SIGNOFF_SMTP_URL"),
    "--smtp-from": ("smtp_from", "SIGNOFF_SMTP_FROM"),
    "--slack-bot-token": ("slack_bot_token", "SIGNOFF_SLACK_BOT_TOKEN"),
    "--slack-signing-secret": ("slack_signing_secret", "SIGNOFF_SLACK_SIGNING_SECRET"),
    "--slack-api-url": ("slack_api_url", "SIGNOFF_SLACK_API_URL"),
    "--remind-after": ("remind_after", "SIGNOFF_REMIND_AFTER"),
    "--decision-link-ttl": ("decision_link_ttl", "SIGNOFF_DECISION_LINK_TTL"),
}

DEFAULTS = {
    "host": "127.0.0.1",
    "port": 8000,
    "database_url": "sqlite:///signoff.db",
    "api_keys": [],
    "reviewer_tokens": [],
    "default_expiry_seconds": 86400,
    "delivery_backoff_base": 2.0,
    "endpoint_flag_after": 5,
    "endpoint_deactivate_after": 72 * 3600.0,
    "delivery_timeout": 10.0,
    "rate_limit": 2000.0,
    "auth_failure_rate": 10.0,
    "max_body_bytes": 1024 * 1024,
    "delivery_backoff_cap": 3600.0,
    "delivery_max_attempts": 12,
    "sweep_interval": 1.0,
    "keyring_refresh": 5.0,
    "smtp_url": None,
    "slack_api_url": "https://slack.com/api/",
    "remind_after": 0.0,
    "decision_link_ttl": 7 * 24 * 3600.0,
}


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """``signoff serve`` runs up to the service, which it hands its settings instead."""
    for name in list(os.environ):
        if name.upper().startswith("SIGNOFF_"):
            monkeypatch.delenv(name)
    seen: list[Settings] = []
    monkeypatch.setattr(app_module, "serve", seen.append)
    return seen


def run(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, ["serve", *args], env=env)


def samples(tmp_path: Path) -> dict[str, tuple[list[str], Any]]:
    """A value for each field: what to type (each item one repetition), what it becomes."""
    keys = tmp_path / "keys"
    keys.write_text("# comment\nfile-key\n")
    tokens = tmp_path / "tokens"
    tokens.write_text("bob=file-token\n")
    return {
        "host": (["0.0.0.0"], "0.0.0.0"),
        "port": (["9123"], 9123),
        "database_url": (["sqlite:///other.db"], "sqlite:///other.db"),
        "api_keys": (["k1", "k2"], ["k1", "k2"]),
        "api_key_file": ([str(keys)], keys),
        "reviewer_tokens": (["alice=t1", "t2"], ["alice=t1", "t2"]),
        "reviewer_token_file": ([str(tokens)], tokens),
        "admin_keys": (["ops=a1", "a2"], ["ops=a1", "a2"]),
        "public_url": (["https://signoff.example/"], "https://signoff.example/"),
        "default_expiry_seconds": (["60"], 60),
        "signing_secret": (["whsec_x"], "whsec_x"),
        "outbound_allow": (
            ["127.0.0.0/8", "10.0.0.1"],
            [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.1")],
        ),
        "delivery_backoff_base": (["0.2"], 0.2),
        "endpoint_flag_after": (["3"], 3),
        "endpoint_deactivate_after": (["60"], 60.0),
        "delivery_timeout": (["1.5"], 1.5),
        "rate_limit": (["0"], 0.0),
        "auth_failure_rate": (["2.5"], 2.5),
        "max_body_bytes": (["4096"], 4096),
        "delivery_backoff_cap": (["30"], 30.0),
        "delivery_max_attempts": (["3"], 3),
        "sweep_interval": (["0.25"], 0.25),
        "keyring_refresh": (["0.5"], 0.5),
        "smtp_url": (["smtp://u:p@mail.example:2525"], "smtp://u:p@mail.example:2525"),
        "smtp_from": (["ops <ops@example.com>"], "ops <ops@example.com>"),
        "slack_bot_token": (["xoxb-1"], "xoxb-1"),
        "slack_signing_secret": (["s3cret"], "s3cret"),
        "slack_api_url": (["http://127.0.0.1:9/api/"], "http://127.0.0.1:9/api/"),
        "remind_after": (["3600"], 3600.0),
        "decision_link_ttl": (["600"], 600.0),
    }


def test_every_setting_has_exactly_its_option() -> None:
    options = {p.name: p for p in serve.params if isinstance(p, click.Option)}
    assert set(options) == set(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        option = options[name]
        assert option.opts == [option_name(name)]
        assert env_name(name) == "SIGNOFF_" + option_name(name)[2:].upper().replace("-", "_")
        assert env_name(name) in (option.help or "")
        assert option.multiple == (typing.get_origin(field.annotation) is list)
    for flag, (name, env) in CONTRACT.items():
        assert option_name(name) == flag and env_name(name) == env


def test_defaults_are_the_same_everywhere(started: list[Settings]) -> None:
    result = run()
    assert result.exit_code == 0, result.output
    (given,) = started
    assert given.model_dump() == Settings().model_dump()
    assert {k: v for k, v in given.model_dump().items() if k in DEFAULTS} == DEFAULTS
    assert given.public_url is None and given.signing_secret is None
    for option in serve.params:
        default = Settings.model_fields[str(option.name)].get_default(call_default_factory=True)
        if default not in (None, []):
            assert f"default: {default}" in (option.help or "")


def test_each_option_and_its_variable_set_the_same_field(
    started: list[Settings], tmp_path: Path
) -> None:
    table = samples(tmp_path)
    assert set(table) == set(Settings.model_fields), "give every new setting a sample"
    for name, (typed, expected) in table.items():
        args = [part for value in typed for part in (option_name(name), value)]
        env = {env_name(name): " ".join(typed)}
        for result in (run(*args), run(env=env)):
            assert result.exit_code == 0, (name, result.output)
            assert getattr(started.pop(), name) == expected, name
        assert getattr(Settings(**{name: expected}), name) == expected


def test_the_command_line_wins_over_the_environment(started: list[Settings]) -> None:
    result = run("--port", "9001", env={"SIGNOFF_PORT": "9002", "SIGNOFF_HOST": "::"})
    assert result.exit_code == 0, result.output
    assert started[0].port == 9001 and started[0].host == "::"


def test_keys_from_files_join_the_others(started: list[Settings], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# pipelines\nfile-one\n\n  file-two \n")
    result = run("--api-key-file", str(keys), env={"SIGNOFF_API_KEY": "env-one  env-two"})
    assert result.exit_code == 0, result.output
    assert started[0].api_keys == ["env-one", "env-two", "file-one", "file-two"]
    again = Settings(**started[0].model_dump())  # validating again repeats nothing
    assert again.api_keys == started[0].api_keys


def test_a_bad_variable_is_named(started: list[Settings]) -> None:
    result = run(env={"SIGNOFF_DELIVERY_TIMEOUT": "0.01"})
    assert result.exit_code == 2
    assert "SIGNOFF_DELIVERY_TIMEOUT" in result.output
    result = run(env={"SIGNOFF_OUTBOUND_ALLOW": "10.0.0.0/8 nope"})
    assert result.exit_code == 2
    assert "SIGNOFF_OUTBOUND_ALLOW" in result.output and "'nope'" in result.output
    assert not started


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://mail.example", "not an SMTP URL"),
        ("smtp://mail.example?starttls=maybe", "starttls must be auto, require or never"),
        ("smtp://mail.example:port", "port is not a number"),
    ],
)
def test_a_bad_smtp_url_is_refused_before_the_service_starts(
    started: list[Settings], url: str, said: str
) -> None:
    result = run("--smtp-url", url)
    assert result.exit_code == 2
    assert said in result.output and "--smtp-url" in result.output
    assert not started


def test_smtp_urls_say_how_to_reach_the_mail_server() -> None:
    plain = smtp_target("smtp://ops%40corp:p%3Ass@mail.example")
    assert (plain.host, plain.port, plain.username, plain.password) == (
        "mail.example",
        587,
        "ops@corp",
        "p:ss",
    )
    assert (plain.use_tls, plain.start_tls) == (False, None)  # STARTTLS when offered
    assert smtp_target("smtp://m:25?starttls=require").start_tls is True
    assert smtp_target("smtp://m:25?starttls=never").start_tls is False
    tls = smtp_target("smtps://m")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, None)


def test_settings_in_code_take_field_names() -> None:
    networks = [ipaddress.ip_network("127.0.0.0/8")]
    settings = Settings(
        port=1234,
        api_keys=["a"],
        reviewer_tokens=["alice=t"],
        default_expiry_seconds=5,
        delivery_backoff_base=0.5,
        outbound_allow=networks,
    )
    assert settings.outbound_allow == networks and settings.default_expiry_seconds == 5
    assert settings.base_url == "http://127.0.0.1:1234"
    with pytest.raises(ValueError, match="prot"):
        Settings(prot=1)


def test_keys_commands_use_the_same_database_default() -> None:
    (command,) = (c for c in keys.commands.values() if c.name == "list")
    option = next(p for p in command.params if p.name == "database_url")
    assert option.default == Settings.model_fields["database_url"].default
    assert option.envvar == env_name("database_url")


def test_readme_lists_every_option_with_its_variable() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"| `{option_name(name)}`" in readme and f"`{env_name(name)}`" in readme, name
