"""The policy file: groups and an ordered list of policies, as code (YAML or JSON).

The first policy whose ``when`` holds for a new approval decides it (``decide``) or routes
it (who decides, how many, by when). A file is checked here for its shape, with every
problem as ``file:line: field: message``; its conditions are compiled by the service,
which alone evaluates them (``signoff policies validate`` asks it).

Contract: ``shared/guide/architecture.md``, "Policies".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from signoff._specfile import SpecError, duplicate_keys, loc_of, parse, problem, problems
from signoff.models.reviewers import MAX_NAMES, MAX_REQUIRED, MAX_STEPS, Name, Target, unique

MAX_POLICIES = 500
MAX_CONDITION = 4000
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def seconds_of(value: str | int, *, most_days: int = 90) -> int:
    """``"30m"``, ``"1h30m"``, ``"2d"``, ``"45s"`` or a number of seconds (at most
    ``most_days``)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 30m, 4h, 2d")
    if isinstance(value, int):
        seconds = value
    else:
        found = _DURATION.match(value.strip())
        if not value.strip() or found is None:
            raise ValueError(f"{value!r} is not a duration: use e.g. 45s, 30m, 4h, 2d, 1h30m")
        days, hours, minutes, secs = (int(part or 0) for part in found.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if not 1 <= seconds <= most_days * 24 * 3600:
        raise ValueError(f"a duration must be between 1 second and {most_days} days")
    return seconds


Duration = str | int


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupSpec(_Strict):
    members: list[Name] = Field(default_factory=list, max_length=1000)
    notify: list[Target] = Field(default_factory=list, max_length=50)
    """Where to tell the group (email addresses, ``slack-app:#channel`` or chat/push URLs)
    when an approval opens for it, besides its members' own targets."""

    _members = field_validator("members")(lambda v: unique(v, "members"))


class StepRule(_Strict):
    reviewers: list[Name] = Field(default_factory=list, max_length=MAX_NAMES)
    groups: list[Name] = Field(default_factory=list, max_length=MAX_NAMES)
    required_approvals: int = Field(default=1, ge=1, le=MAX_REQUIRED)


class SlaSpec(_Strict):
    within: Duration
    """How long the approval may wait for its decision before the SLA is breached."""
    escalate_to: list[Name] = Field(default_factory=list, max_length=MAX_NAMES)
    """Groups that may also decide once the SLA is breached."""
    notify: list[Target] = Field(default_factory=list, max_length=50)
    """Who else to tell once the SLA is breached."""

    _within = field_validator("within")(lambda v: (seconds_of(v), v)[1])


class PolicySpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    when: str = Field(default="true", min_length=1, max_length=MAX_CONDITION)
    """A CEL expression over ``action``, ``risk_level``, ``risk_score``, ``summary``,
    ``details``, ``source`` and ``requested_by``; the default matches every approval."""
    decide: Literal["approve", "reject"] | None = None
    note: str | None = Field(default=None, max_length=2000)
    reviewers: list[Name] | None = Field(default=None, max_length=MAX_NAMES)
    groups: list[Name] | None = Field(default=None, max_length=MAX_NAMES)
    required_approvals: int | None = Field(default=None, ge=1, le=MAX_REQUIRED)
    steps: list[StepRule] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)
    expires_in: Duration | None = None
    on_expiry: Literal["reject", "approve"] | None = None
    sla: SlaSpec | None = None
    options: list[str] | None = Field(default=None, min_length=1, max_length=50)
    reason_codes: list[str] | None = Field(default=None, min_length=1, max_length=50)

    _expires = field_validator("expires_in")(lambda v: v if v is None else (seconds_of(v), v)[1])

    @model_validator(mode="after")
    def _consistent(self) -> PolicySpec:
        routes = self.reviewers or self.groups or self.required_approvals or self.steps
        if self.decide and (routes or self.sla):
            raise ValueError("decide: a policy that decides does not also route or set an sla")
        if self.steps and (self.reviewers or self.groups or self.required_approvals):
            raise ValueError("steps: give steps or reviewers/groups/required_approvals, not both")
        return self

    @property
    def routes(self) -> bool:
        return bool(self.reviewers or self.groups or self.required_approvals or self.steps)

    def routed_steps(self) -> list[StepRule]:
        if self.steps:
            return list(self.steps)
        return [
            StepRule(
                reviewers=self.reviewers or [],
                groups=self.groups or [],
                required_approvals=self.required_approvals or 1,
            )
        ]


class PolicyFile(_Strict):
    """The file's shape; its JSON Schema (``schemas/policy-file.schema.json``) is what
    editors complete against."""

    model_config = ConfigDict(
        extra="forbid",
        title="signoff policy file",
        json_schema_extra={"$id": "https://signoff.dev/schemas/policy-file.json"},
    )

    version: int = Field(default=1, ge=1, le=1)
    groups: dict[Name, GroupSpec] = Field(default_factory=dict)
    policies: list[PolicySpec] = Field(default_factory=list, max_length=MAX_POLICIES)

    @field_validator("policies")
    @classmethod
    def _names(cls, policies: list[PolicySpec]) -> list[PolicySpec]:
        # On the field, not the model: the problem is then placed on the policies' line.
        names = [policy.name for policy in policies]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            where = ", ".join(
                " and ".join(f"policies.{i}" for i, n in enumerate(names) if n == name)
                for name in twice
            )
            raise ValueError(f"the name {', '.join(twice)} is used twice ({where})")
        return policies

    def document(self) -> dict[str, Any]:
        """The canonical JSON the service stores and compares (defaults left out)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def json_schema() -> dict[str, Any]:
    return PolicyFile.model_json_schema()


def dumps_schema() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


@dataclass(frozen=True)
class LoadedFile:
    """A checked policy file with the YAML nodes it was read from, so that what the
    service finds wrong (``policies.1.when``) can be shown on the file's own line."""

    file: PolicyFile
    source: str
    node: yaml.Node | None

    def problem(self, field: str, message: str) -> str:
        """``source:line: field: message`` for a field path of the document."""
        parts = field.split(".")
        if parts[0] == "document" and not _has_key(self.node, "document"):
            field = ".".join(parts[1:])  # the request body's name for the whole file
        if not field:
            return f"{self.source}: {message}"
        return problem(self.source, self.node, loc_of(self.node, field), message)


def _has_key(node: yaml.Node | None, key: str) -> bool:
    return isinstance(node, yaml.MappingNode) and any(k.value == key for k, _ in node.value)


def loads_located(text: str, source: str = "<policies>") -> LoadedFile:
    """:func:`loads`, keeping the node tree (for the lines of the service's problems)."""
    node, data = parse(text, source, "groups and policies")
    twice = duplicate_keys(source, node)
    if twice:
        raise SpecError("\n".join(twice))
    try:
        checked = PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems(source, node, exc)) from None
    return LoadedFile(checked, source, node)


def load_located(path: str | Path) -> LoadedFile:
    """:func:`load`, keeping the node tree."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise SpecError(f"{file}: cannot read: {exc.strerror}") from None
    return loads_located(text, str(file))


def loads(text: str, source: str = "<policies>") -> PolicyFile:
    """Parse and check a policy file (YAML, or JSON which YAML reads too)."""
    return loads_located(text, source).file


def load(path: str | Path) -> PolicyFile:
    return load_located(path).file
