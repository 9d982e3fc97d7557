"""An approval's ``detailsSchema``: a JSON Schema its details and every edit must keep.

A reviewer edits a money-moving payload; without this, ``{"refunds": "oops"}`` would
reach the pipeline as approved. The schema is checked with ``jsonschema`` (the dialect
its ``$schema`` names, Draft 2020-12 when none), without fetching remote ``$ref``s.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import exceptions, validators
from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable

MAX_ERRORS = 5


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a usable JSON Schema (``None``: it is)."""
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        where = _path("detailsSchema", exc.absolute_path)
        return f"{where}: not a valid JSON Schema: {exc.message}"
    return None


def details_problems(schema: dict[str, Any], details: Any, field: str = "details") -> list[str]:
    """Each way ``details`` breaks ``schema``, naming the field (``details.refunds[0]``)."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    try:
        found = sorted(
            validator.iter_errors(details), key=lambda e: list(map(str, e.absolute_path))
        )
    except Unresolvable as exc:  # a $ref to elsewhere: never fetched
        return [f"detailsSchema: cannot resolve {exc}; only local $refs are followed"]
    return [f"{_path(field, error.absolute_path)}: {error.message}" for error in found[:MAX_ERRORS]]


def _path(field: str, parts: Any) -> str:
    text = field
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Validator:
    """Built once per distinct schema: approvals of one DAG share theirs."""
    schema = json.loads(schema_text)
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)
