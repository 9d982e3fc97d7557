"""Who may decide: reviewers, groups, steps and the approvals recorded toward them.

All of it is signoff's own (the hosted service routes to review groups it keeps itself);
contract: ``shared/guide/architecture.md``, "Who decides".
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from signoff.models._base import UtcDateTime, WireModel

MAX_STEPS = 10
MAX_NAMES = 100
MAX_REQUIRED = 100

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")


def check_name(value: str) -> str:
    """Reviewer and group names: what a person can type on a command line and read in an
    audit trail (letters, digits, ``. _ @ + -``; an email address is a fine name)."""
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value[:50]!r} is not a name: use 1-200 letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]

MAX_TARGETS = 20
_EMAIL = re.compile(r"[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+")
_SLACK_APP = re.compile(r"slack-app:[#@]?[A-Za-z0-9._-]{1,80}")
_URL = re.compile(r"[a-z][a-z0-9+.-]{1,30}://\S{1,2000}")


def check_target(value: str) -> str:
    """Where a notification goes: an email address, ``slack-app:#channel`` (signoff's Slack
    app, with buttons) or a chat/push URL Apprise speaks (``slack://``, ``msteams://``,
    ``discord://``, ``ntfy://``, ``json://``...; the server checks that it knows it)."""
    value = value.strip()
    if value.startswith("mailto:"):
        value = value.removeprefix("mailto:")
    if _EMAIL.fullmatch(value) or _SLACK_APP.fullmatch(value) or _URL.fullmatch(value):
        return value
    raise ValueError(
        f"{value[:60]!r} is not a notification target: give an email address, "
        "slack-app:#channel, or a URL such as slack://..., msteams://..., ntfy://... or "
        "json://host/path"
    )


Target = Annotated[str, AfterValidator(check_target)]


def unique(values: list[str], what: str) -> list[str]:
    if len(set(values)) != len(values):
        twice = sorted({v for v in values if values.count(v) > 1})
        raise ValueError(f"{what}: {', '.join(twice)} given twice")
    return values


class StepSpec(WireModel):
    """One step of a chain: who may approve it and how many distinct approvals it needs.

    Neither ``reviewers`` nor ``groups``: any reviewer may approve the step. Unknown keys
    are refused: a misspelt ``"group"`` ignored would open the step to everyone.
    """

    model_config = ConfigDict(extra="forbid")  # merged with the camelCase config

    reviewers: list[Name] = Field(default_factory=list, max_length=MAX_NAMES)
    groups: list[Name] = Field(default_factory=list, max_length=MAX_NAMES)
    required_approvals: int = Field(default=1, ge=1, le=MAX_REQUIRED)

    @model_validator(mode="after")
    def _distinct(self) -> StepSpec:
        unique(self.reviewers, "reviewers")
        unique(self.groups, "groups")
        if not self.groups and self.reviewers and self.required_approvals > len(self.reviewers):
            raise ValueError(
                f"requiredApprovals: {self.required_approvals} distinct approvals can never "
                f"come from {len(self.reviewers)} named reviewer(s)"
            )
        return self

    @property
    def is_open_to_all(self) -> bool:
        return not self.reviewers and not self.groups


class RecordedApproval(WireModel):
    """One reviewer's approve, as the audit trail and the step progress show it.

    ``counted`` is false once an edit of the details (or another choice of options) made
    the count start again: this approval was for other numbers.
    """

    reviewer: str
    at: UtcDateTime
    note: str | None = None
    step: int = 1
    chosen_options: list[str] | None = None
    reason_code: str | None = None
    edited: bool = False
    counted: bool = True


class StepProgress(StepSpec):
    """A step as ``GET /api/approvals/{id}`` shows it (1-based ``number``)."""

    model_config = ConfigDict(extra="ignore")  # a read model: a newer server may add keys

    number: int
    approvals: list[RecordedApproval] = Field(default_factory=list)
    satisfied: bool = False
    open: bool = False

    @model_validator(mode="after")
    def _distinct(self) -> StepProgress:  # stored steps were checked when submitted
        return self


class Reviewer(WireModel):
    """A person who decides (``GET /api/reviewers``; tokens are never shown again)."""

    name: str
    email: str | None = None
    groups: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)
    """Chat or push targets, shown with their tokens masked (the email is told too)."""
    active: bool = True
    created_at: UtcDateTime | None = None
    configured: bool = False
    """Known from ``--reviewer-token NAME=TOKEN`` only (no stored record yet)."""


class ReviewerCreate(WireModel):
    """Body of ``POST /api/reviewers`` (admin key): the answer carries a token, once."""

    name: Name
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    groups: list[Name] = Field(default_factory=list, max_length=MAX_NAMES)
    notify: list[Target] = Field(default_factory=list, max_length=MAX_TARGETS)

    @model_validator(mode="after")
    def _distinct(self) -> ReviewerCreate:
        unique(self.groups, "groups")
        return self


class ReviewerUpdate(WireModel):
    """Body of ``PATCH /api/reviewers/{name}``: what is given is replaced."""

    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    groups: list[Name] | None = Field(default=None, max_length=MAX_NAMES)
    notify: list[Target] | None = Field(default=None, max_length=MAX_TARGETS)
    active: bool | None = None

    @model_validator(mode="after")
    def _distinct(self) -> ReviewerUpdate:
        if self.groups is not None:
            unique(self.groups, "groups")
        return self


class ReviewerCreated(Reviewer):
    token: str
    """The reviewer's token: shown in this answer only, stored as a hash."""


class Group(WireModel):
    """A group as reviewers' memberships make it (``GET /api/groups``)."""

    name: str
    members: list[str]
