"""The subscription spec: webhooks and workflows declared by a stable name, in YAML or JSON.

Secrets are never written in the file: any string may be, or contain, a reference
``${env:NAME}`` that is resolved from the environment when the spec is loaded, and is
shown only as ``(secret)`` in every plan and report.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from signoff._specfile import SpecError, parse, problem, problems
from signoff.models.webhooks import check_event_types, check_headers, check_url
from signoff.models.workflows import Condition, Signature

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
SECRET_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
MANAGED_HEADER = "X-Signoff-Managed"
"""How a remote object remembers the spec name that manages it: a header on the webhook
(or on each workflow action). Headers survive every round trip through the API, and a
receiver may use it to tell which declared subscription a delivery came from."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookSpec(_Strict):
    url: str
    event_types: list[str] = Field(max_length=100)
    active: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    content_type: str = "json"

    _url = field_validator("url")(check_url)
    _events = field_validator("event_types")(check_event_types)
    _headers = field_validator("headers")(check_headers)


class ActionSpec(_Strict):
    type: str = "webhook"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    signature: Signature | None = None

    _url = field_validator("url")(check_url)
    _headers = field_validator("headers")(check_headers)


class WorkflowSpec(_Strict):
    active: bool = True
    conditions: list[Condition] = Field(default_factory=list, max_length=20)
    actions: list[ActionSpec] = Field(min_length=1, max_length=20)


class SpecFile(_Strict):
    """The file's shape; its JSON Schema is what editors complete against."""

    model_config = ConfigDict(
        extra="forbid",
        title="signoff subscription spec",
        json_schema_extra={"$id": "https://signoff.dev/schemas/subscription-spec.json"},
    )

    version: int = Field(default=1, ge=1, le=1)
    webhooks: dict[str, WebhookSpec] = Field(default_factory=dict)
    workflows: dict[str, WorkflowSpec] = Field(default_factory=dict)

    @field_validator("webhooks", "workflows")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(
                    f"{name!r} is not a valid name (lower-case letters, digits, . _ -)"
                )
        return value


@dataclass
class Spec:
    """A loaded spec with secrets resolved; ``secrets`` holds their values, for masking."""

    webhooks: dict[str, WebhookSpec]
    workflows: dict[str, WorkflowSpec]
    source: str = "<spec>"
    secrets: set[str] = field(default_factory=set)


def json_schema() -> dict[str, Any]:
    return SpecFile.model_json_schema()


class _Unresolved(Exception):
    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _resolve(value: Any, loc: tuple[Any, ...], secrets: set[str], env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, (*loc, k), secrets, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, (*loc, i), secrets, env) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise _Unresolved(loc, f"environment variable {name} is not set")
        return env[name]

    resolved = SECRET_REF.sub(substitute, value)
    if "${" in resolved:
        raise _Unresolved(loc, "only ${env:NAME} references are supported")
    secrets.add(resolved)
    return resolved


def loads(text: str, source: str = "<spec>", env: dict[str, str] | None = None) -> Spec:
    """Parse and validate a spec (YAML, or JSON which YAML reads too)."""
    node, data = parse(text, source, "webhooks and workflows")
    try:
        parsed = SpecFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems(source, node, exc)) from None
    secrets: set[str] = set()
    environment = dict(os.environ) if env is None else env
    raw = parsed.model_dump(mode="json", exclude_none=True)
    try:
        resolved = _resolve(raw, (), secrets, environment)
        final = SpecFile.model_validate(resolved)
    except _Unresolved as exc:
        raise SpecError(problem(source, node, exc.loc, exc.message)) from None
    except ValidationError as exc:  # a resolved value broke a rule: say where, not what
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        raise SpecError(problem(source, node, loc, "invalid after resolving secrets")) from None
    return Spec(webhooks=final.webhooks, workflows=final.workflows, source=source, secrets=secrets)


def load(path: str | Path, env: dict[str, str] | None = None) -> Spec:
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise SpecError(f"{file}: cannot read: {exc.strerror}") from None
    return loads(text, str(file), env)


def dumps_schema() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"
