"""Who decides an approval the operators ask for, as Airflow users write it.

The operators take the service's "who decides" fields (``reviewers``, ``groups``,
``required_approvals``, ``steps``, ``requested_by``, ``options``, ``multiple``,
``reason_codes``, ``details_schema``) in the forms an Airflow DAG has at hand, check at
DAG parse time what can be checked then (so that a mistake is an import error, not a
failed run hours later), and turn them into the client's arguments at run time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from signoff.models import StepSpec

TRIGGERING_USER = "{{ dag_run.triggering_user_name }}"
"""``requested_by``'s default: the user who triggered the run (Airflow 3.1+ records it on
the run; a scheduled or asset-triggered run has none, and then nobody is the requester)."""

STEP_KEYS = {"reviewers", "groups", "requiredApprovals", "required_approvals"}


def requester(rendered: Any) -> str | None:
    """The rendered ``requested_by``: a person's name, or ``None`` for nobody.

    Jinja renders a missing user (a scheduled run) as ``"None"`` or ``""``, and native
    rendering as ``None``: all of them mean that no person triggered the run.
    """
    if rendered is None:
        return None
    text = str(rendered).strip()
    return None if text in ("", "None") else text


def triggering_user(dag_run: Any) -> str | None:
    """Who triggered ``dag_run`` (an Airflow ``DagRun``, of the Task SDK or the ORM), as
    ``requested_by`` defaults to it: ``None`` for a run no user triggered."""
    return requester(getattr(dag_run, "triggering_user_name", None))


def names(value: Any, what: str) -> list[str] | None:
    """Reviewer or group names as given or rendered: a list, one name, or a comma-separated
    string (how a template of a list renders without native rendering)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):  # a rendered Python/JSON list
            import ast

            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError) as exc:
                raise ValueError(f"{what}: cannot read {text!r} as a list of names") from exc
        else:
            return [part.strip() for part in text.split(",") if part.strip()] or None
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of names, not {value!r}")
    return [v.strip() for v in value if v.strip()] or None


def check_steps(
    steps: Sequence[StepSpec | Mapping[str, Any]] | None,
) -> list[dict[str, Any]] | None:
    """The chain as wire dicts, each step checked (unknown keys are refused: the service
    would ignore a misspelt ``group`` and let anyone approve that step)."""
    if steps is None:
        return None
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence) or not steps:
        raise ValueError("steps must be a non-empty list of steps")
    checked = []
    for number, step in enumerate(steps):
        if isinstance(step, StepSpec):
            spec = step
        elif isinstance(step, Mapping):
            unknown = sorted(set(step) - STEP_KEYS)
            if unknown:
                raise ValueError(
                    f"steps[{number}]: unknown key(s) {', '.join(unknown)}; a step has "
                    "reviewers, groups and required_approvals"
                )
            spec = StepSpec.model_validate(dict(step))
        else:
            raise ValueError(f"steps[{number}] must be a dict or a StepSpec, not {step!r}")
        checked.append(spec.to_wire())
    return checked


def json_schema(value: Any) -> dict[str, Any] | None:
    """``details_schema`` as the JSON Schema the service checks the details against.

    - a JSON Schema (a dict), as it is;
    - a pydantic model class: its ``model_json_schema()``;
    - Airflow ``Param``\\ s (a dict of name to ``Param``, or a ``ParamsDict``), as HITL's
      ``params``: an object with one property per param (the param's schema, with its
      description and default), the params without a default required, and no other keys
      (a reviewer's edit may not add any).
    """
    if value is None:
        return None
    if isinstance(value, type):
        from pydantic import BaseModel

        if issubclass(value, BaseModel):
            return value.model_json_schema()
        raise TypeError(f"details_schema: {value.__name__} is not a pydantic model")
    from airflow.sdk.definitions.param import Param, ParamsDict

    if isinstance(value, ParamsDict):
        return params_schema({key: value.get_param(key) for key in value})
    if not isinstance(value, Mapping):
        raise TypeError(
            "details_schema must be a JSON Schema dict, a pydantic model class or a dict "
            f"of Params, not {type(value).__name__}"
        )
    params = [key for key, item in value.items() if isinstance(item, Param)]
    if params and len(params) != len(value):
        others = sorted(str(k) for k in value if k not in params)
        raise TypeError(f"details_schema: mixes Params with other values ({', '.join(others)})")
    if params:
        return params_schema(dict(value))
    return dict(value)


def params_schema(params: Mapping[str, Any]) -> dict[str, Any]:
    """An object schema of Airflow ``Param``\\ s (see :func:`json_schema`)."""
    from airflow.sdk.definitions._internal.types import NOTSET

    properties: dict[str, Any] = {}
    required = []
    for name, param in params.items():
        prop = dict(param.schema)
        if param.description and "description" not in prop:
            prop["description"] = param.description
        if param.value is NOTSET:
            required.append(name)
        elif "default" not in prop and _is_json(param.value):
            prop["default"] = param.value
        properties[name] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _is_json(value: Any) -> bool:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Choices:
    """What a reviewer picks besides approve or reject, checked once."""

    options: list[str] | None
    multiple: bool | None
    reason_codes: list[str] | None


def check_choices(
    options: Sequence[str] | None, multiple: bool | None, reason_codes: Sequence[str] | None
) -> Choices:
    opts = _choice_list(options, "options")
    codes = _choice_list(reason_codes, "reason_codes")
    if multiple and opts is None:
        raise ValueError("multiple: only with options")
    return Choices(opts, multiple, codes)


def _choice_list(values: Sequence[str] | None, what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{what} must be a list of non-empty strings")
    listed = list(values)
    if not listed:
        raise ValueError(f"{what} must not be empty (leave it out instead)")
    twice = sorted({v for v in listed if listed.count(v) > 1})
    if twice:
        raise ValueError(f"{what}: {', '.join(twice)} given twice")
    return listed


def check_routing(
    reviewers: Any, groups: Any, required_approvals: int | None, steps: Any
) -> list[dict[str, Any]] | None:
    """Parse-time checks of who decides; returns the chain as wire dicts."""
    checked = check_steps(steps)
    if checked is not None and (reviewers or groups or required_approvals is not None):
        raise ValueError(
            "give either steps or reviewers/groups/required_approvals, not both "
            "(steps replaces them)"
        )
    if required_approvals is not None and (
        not isinstance(required_approvals, int) or required_approvals < 1
    ):
        raise ValueError("required_approvals must be a positive number")
    return checked
