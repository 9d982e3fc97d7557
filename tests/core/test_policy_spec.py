"""The policy file: durations, problems as ``file:line: field: message``, decide or route
(not both), the service's problems placed on the file's lines, the published schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signoff.policies import SpecError, load, loads, seconds_of
from signoff.policies.spec import dumps_schema, json_schema, load_located, loads_located

GOOD = """\
version: 1
groups:
  finance:
    members: [bob, carol]
    notify: [finance@example.com]
  fin.leads: {members: [dana]}
policies:
  - name: small-refunds
    when: action == "refund" && details.amount < 50
    decide: approve
    note: small refunds need nobody
  - name: big-refunds
    when: action == "refund" && details.amount > 10000
    groups: [finance]
    required_approvals: 2
    expires_in: 2d
    on_expiry: reject
    sla:
      within: 30m
      escalate_to: [fin.leads]
  - name: payouts
    when: action == "payout"
    steps:
      - {groups: [finance], required_approvals: 2}
      - {reviewers: [dana]}
    options: [ach, wire]
    reason_codes: [fraud, duplicate]
  - name: the-rest
"""


def test_a_good_file_and_its_canonical_document() -> None:
    policy = loads(GOOD, "p.yaml")
    assert [p.name for p in policy.policies] == [
        "small-refunds",
        "big-refunds",
        "payouts",
        "the-rest",
    ]
    assert policy.policies[3].when == "true"  # matches every approval
    assert policy.policies[1].routes and not policy.policies[0].routes
    assert [s.required_approvals for s in policy.policies[2].routed_steps()] == [2, 1]
    document = policy.document()
    assert document["policies"][3] == {"name": "the-rest"}  # defaults left out
    assert document["policies"][1]["sla"] == {"within": "30m", "escalate_to": ["fin.leads"]}
    assert "version" not in document
    assert loads(json.dumps(document), "p.json").document() == document  # JSON reads back


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("45s", 45), ("30m", 1800), ("4h", 14400), ("2d", 172800), ("1h30m", 5400), (600, 600)],
)
def test_durations(value: str | int, seconds: int) -> None:
    assert seconds_of(value) == seconds


@pytest.mark.parametrize("value", ["", "30 minutes", "m", "1.5h", "0s", "91d", True, -5])
def test_durations_refused(value: str | int) -> None:
    with pytest.raises(ValueError, match="duration"):
        seconds_of(value)


def test_a_longer_bound_for_replays() -> None:
    assert seconds_of("366d", most_days=366) == 366 * 86400
    with pytest.raises(ValueError, match="366 days"):
        seconds_of("367d", most_days=366)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("decide: approve", "decide: maybe"), "p.yaml:10: policies.0.decide: Input should be"),
        (
            ("within: 30m", "within: 30 minutes"),
            "p.yaml:19: policies.1.sla.within: '30 minutes' is",
        ),
        (("expires_in: 2d", "expires_in: 100d"), "p.yaml:16: policies.1.expires_in: a duration"),
        (
            ("    note:", "    notes:"),
            "p.yaml:11: policies.0.notes: Extra inputs are not permitted",
        ),
        (("members: [bob, carol]", "members: [bob, bob]"), "p.yaml:4: groups.finance.members:"),
        (("name: payouts", "name: Pay Outs"), "p.yaml:21: policies.2.name: String should match"),
        (
            ("  fin.leads:", "  fin leads:"),
            "p.yaml:6: groups.fin leads.[key]: 'fin leads' is not a name",
        ),
        (("required_approvals: 2\n    exp", "required_approvals: 0\n    exp"), "p.yaml:15:"),
        (
            ("version: 1", "version: 2"),
            "p.yaml:1: version: Input should be less than or equal to 1",
        ),
    ],
)
def test_problems_name_the_file_line_and_field(change: tuple[str, str], message: str) -> None:
    assert change[0] in GOOD
    with pytest.raises(SpecError) as caught:
        loads(GOOD.replace(*change, 1), "p.yaml")
    assert message in str(caught.value)


def test_bad_yaml_and_wrong_shapes(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^p.yaml:3: not valid YAML or JSON"):
        loads("policies:\n  - name: [x\n", "p.yaml")
    with pytest.raises(SpecError, match=r"^p.yaml:1: the spec must be a mapping"):
        loads("- a\n- b\n", "p.yaml")
    with pytest.raises(SpecError, match=r"cannot read"):
        load(tmp_path / "missing.yaml")
    assert loads("", "p.yaml").policies == []


def test_a_name_used_twice() -> None:
    twice = GOOD.replace("name: payouts", "name: small-refunds")
    with pytest.raises(SpecError) as caught:
        loads(twice, "p.yaml")
    assert str(caught.value) == (
        "p.yaml:8: policies: the name small-refunds is used twice (policies.0 and policies.2)"
    )


def test_a_key_given_twice_is_refused_not_silently_replaced() -> None:
    """YAML keeps the last of two equal keys: a second group ``finance`` would replace
    the first without a word."""
    twice = GOOD.replace("  fin.leads:", "  finance: {members: [eve]}\n  fin.leads:")
    with pytest.raises(SpecError) as caught:
        loads(twice, "p.yaml")
    assert str(caught.value) == "p.yaml:6: groups.finance: given twice in one mapping"
    when_twice = GOOD.replace("    decide: approve", "    when: 'true'\n    decide: approve")
    with pytest.raises(SpecError, match=r"^p.yaml:10: policies.0.when: given twice"):
        loads(when_twice, "p.yaml")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "    groups: [finance]\n",
            "policies.0: decide: a policy that decides does not also route",
        ),
        ("    required_approvals: 2\n", "policies.0: decide: a policy that decides"),
        ("    sla: {within: 1h}\n", "policies.0: decide: a policy that decides"),
    ],
)
def test_a_policy_that_decides_does_not_route(extra: str, message: str) -> None:
    decides_and_routes = GOOD.replace("    note: small", extra + "    note: small")
    with pytest.raises(SpecError) as caught:
        loads(decides_and_routes, "p.yaml")
    assert f"p.yaml:8: {message}" in str(caught.value)


def test_steps_or_reviewers_not_both() -> None:
    both = GOOD.replace("    steps:\n", "    reviewers: [dana]\n    steps:\n")
    with pytest.raises(SpecError, match=r"p.yaml:21: policies.2: steps: give steps or"):
        loads(both, "p.yaml")


def test_the_services_problems_land_on_the_files_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    loaded = load_located(path)
    assert loaded.file == loads(GOOD)
    where = str(path)
    assert (
        loaded.problem("policies.1.when", "Syntax error")
        == f"{where}:13: policies.1.when: Syntax error"
    )
    assert loaded.problem("policies.1.sla.escalate_to.0", "unknown group").startswith(
        f"{where}:20: "
    )
    assert (
        loaded.problem("groups.fin.leads.members.0", "x")
        == f"{where}:6: groups.fin.leads.members.0: x"
    )
    assert loaded.problem("policies.2.steps.1.reviewers", "x").startswith(f"{where}:25: ")
    # the request body's name for the file, an index past the end, nothing at all
    assert loaded.problem("document.policies.0.when", "x") == f"{where}:9: policies.0.when: x"
    assert loaded.problem("policies.9.when", "x") == f"{where}:8: policies.9.when: x"
    assert loaded.problem("", "too large") == f"{where}: too large"


def test_json_files_have_lines_too() -> None:
    text = json.dumps(loads(GOOD).document(), indent=2)
    loaded = loads_located(text, "p.json")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"payouts"' in t)
    assert loaded.problem("policies.2.name", "x") == f"p.json:{line}: policies.2.name: x"


def test_published_schema_is_current() -> None:
    """Regenerate with ``signoff policies schema > schemas/policy-file.schema.json``."""
    published = Path(__file__).parents[2] / "schemas" / "policy-file.schema.json"
    assert published.read_text() == dumps_schema()
    schema = json_schema()
    assert set(schema["properties"]) == {"version", "groups", "policies"}
    assert set(schema["$defs"]["PolicySpec"]["properties"]) >= {"name", "when", "decide", "sla"}
