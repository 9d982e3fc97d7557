"""The spec file: validation errors that name file, line and field; secrets by reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signoff.subscriptions import SpecError, json_schema, load, loads

GOOD = """\
version: 1
webhooks:
  ledger:
    url: https://ledger.example.com/hooks
    event_types: [payment_captured]
    headers:
      Authorization: Bearer ${env:LEDGER_TOKEN}
workflows:
  refunds:
    conditions:
      - type: event
        events: {gateway: [payment_refunded]}
    actions:
      - url: https://finance.example.com/hooks
        signature: {method: HMACSHA256, key: "${env:SIGNING_KEY}"}
"""
ENV = {"LEDGER_TOKEN": "tok-123", "SIGNING_KEY": "key-456"}


def test_loads_and_resolves_secret_references() -> None:
    spec = loads(GOOD, "subs.yaml", ENV)
    assert spec.webhooks["ledger"].headers == {"Authorization": "Bearer tok-123"}
    assert spec.workflows["refunds"].actions[0].signature is not None
    assert spec.workflows["refunds"].actions[0].signature.key == "key-456"
    assert spec.secrets == {"Bearer tok-123", "key-456"}


def test_json_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "subs.json"
    path.write_text(
        json.dumps({"webhooks": {"a": {"url": "https://a.test/h", "event_types": ["dispute_won"]}}})
    )
    assert list(load(path, {}).webhooks) == ["a"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("payment_captured]", "payment_teleported]"),
            "subs.yaml:5: webhooks.ledger.event_types: unknown event type 'payment_teleported'",
        ),
        (
            ("method: HMACSHA256", "method: SHA1"),
            "subs.yaml:15: workflows.refunds.actions.0.signature.method:",
        ),
        (
            ("    url: https://ledger", "    uri: https://ledger"),
            "subs.yaml:4: webhooks.ledger.uri: Extra inputs are not permitted",
        ),
        (("  ledger:", "  Ledger Hook:"), "webhooks: 'Ledger Hook' is not a valid name"),
        (
            ("https://finance", "ftp://finance"),
            "subs.yaml:14: workflows.refunds.actions.0.url: must be an http",
        ),
        (("type: event", "type: weather"), "subs.yaml:11: workflows.refunds.conditions.0:"),
    ],
)
def test_errors_name_the_file_line_and_field(change: tuple[str, str], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        loads(GOOD.replace(*change), "subs.yaml", ENV)
    assert message in str(caught.value)


def test_missing_environment_variable_names_the_field_not_a_value() -> None:
    with pytest.raises(SpecError) as caught:
        loads(GOOD, "subs.yaml", {"SIGNING_KEY": "key-456"})
    assert str(caught.value) == (
        "subs.yaml:7: webhooks.ledger.headers.Authorization: "
        "environment variable LEDGER_TOKEN is not set"
    )


def test_broken_yaml_and_wrong_shapes() -> None:
    with pytest.raises(SpecError, match=r"^subs.yaml:1: not valid YAML or JSON"):
        loads("webhooks: [1", "subs.yaml", {})
    with pytest.raises(SpecError, match="must be a mapping"):
        loads("- a\n- b\n", "subs.yaml", {})
    with pytest.raises(SpecError, match="cannot read"):
        load("/nonexistent/subs.yaml")


def test_published_schema_is_current() -> None:
    published = Path(__file__).parents[2] / "schemas" / "subscription-spec.schema.json"
    assert json.loads(published.read_text()) == json_schema()
    assert set(json_schema()["properties"]) == {"version", "webhooks", "workflows"}
