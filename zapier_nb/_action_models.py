"""Pydantic models of the AI Actions V2 bodies: stored actions, execute requests and answers.

Field names are the API's own. Answers tolerate and keep fields the API may add.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from ._errors import ConfigurationError
from ._models import ServerAnswer

__all__ = [
    "ActionType",
    "AiAction",
    "AiActionMeta",
    "AiActionNeed",
    "ConstraintMode",
    "CreateAiActionRequest",
    "ExecuteRequest",
    "ExecuteResponse",
    "ParamConstraint",
    "ParamValue",
    "constraints_from",
]

ActionType = Literal["read", "write", "search", "read_bulk"]
ConstraintMode = Literal["locked", "guess", "choose_from", "ignored"]
ParamValue = str | list[str] | dict[str, str] | None
CONSTRAINT_MODES: tuple[str, ...] = get_args(ConstraintMode)


class ParamsValue(ServerAnswer):
    """The human label of a value stored in an action's `params`."""

    label: str


class AiActionMeta(ServerAnswer):
    """Labels for showing a stored action."""

    params: dict[str, ParamsValue] = Field(default_factory=dict)
    app_label: str | None = None
    action_label: str | None = None
    authentication_label: str | None = None
    app_needs_auth: bool | None = None


class AiActionNeed(ServerAnswer):
    """An input field of a stored action."""

    key: str
    type: str | None = None
    label: str | None = None
    required: bool | None = None
    prefill: str | None = None
    custom_field: bool | None = None
    depends_on: list[str] | None = None
    choices: Any = None
    help_text: str | None = None
    default: Any = None
    placeholder: str | None = None


class AiAction(ServerAnswer):
    """`AiActionResponse`: one stored AI Action."""

    id: str
    description: str
    account_id: int | None = None
    authentication_id: int | None = None
    app: str | None = None
    action: str | None = None
    action_type: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    meta: AiActionMeta = Field(default_factory=AiActionMeta)
    needs: list[AiActionNeed] | None = None

    @property
    def key(self) -> str:
        """`app/action`, the way the magics accept it."""
        return f"{self.app or '?'}/{self.action or '?'}"

    @property
    def required_inputs(self) -> list[str]:
        """Keys of the needs that must have a value for the action to run."""
        return [need.key for need in self.needs or [] if need.required]


class ParamConstraint(BaseModel):
    """How the server should fill one input: `locked`, `guess`, `choose_from` or `ignored`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: ConstraintMode
    value: ParamValue = None

    @classmethod
    def locked(cls, value: ParamValue) -> ParamConstraint:
        """Use `value` exactly."""
        return cls(mode="locked", value=value)

    @classmethod
    def guess(cls, hint: str) -> ParamConstraint:
        """Let the server pick the best match for `hint`."""
        return cls(mode="guess", value=hint)

    @classmethod
    def choose_from(cls, choices: list[str]) -> ParamConstraint:
        """Let the server pick one of these exact choice ids from the instructions."""
        return cls(mode="choose_from", value=list(choices))

    @classmethod
    def ignored(cls) -> ParamConstraint:
        """Leave this input out."""
        return cls(mode="ignored")


class ExecuteRequest(BaseModel):
    """Body of `POST /api/v2/ai-actions/{id}/execute/`."""

    model_config = ConfigDict(frozen=True)

    instructions: str
    params: dict[str, ParamConstraint] | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class CreateAiActionRequest(BaseModel):
    """Body of `POST /api/v2/ai-actions/` and `PUT /api/v2/ai-actions/{id}/`."""

    model_config = ConfigDict(frozen=True)

    app: str
    action: str
    action_type: ActionType
    params: dict[str, str | list[str]]
    meta: AiActionMeta

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ExecuteResponse(ServerAnswer):
    """The answer of execute, preview and rate."""

    execution_log_id: str
    action_used: str
    input_params: dict[str, Any] = Field(default_factory=dict)
    resolved_params: dict[str, Any] | None = None
    results: list[dict[str, Any]] | None = None
    full_results: list[dict[str, Any]] | None = None
    result_field_labels: dict[str, str] | None = None
    status: str = "success"
    error: str | None = None


def _plain(key: str, value: Any) -> ParamValue:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return [str(_plain(key, item)) for item in value]
    if isinstance(value, Mapping):
        return {str(k): str(_plain(key, v)) for k, v in value.items()}
    raise ConfigurationError(
        f"The value of param {key!r} is a {type(value).__name__}; give a string, a list of "
        "strings, or a {mode, value} constraint."
    )


def constraints_from(params: Mapping[str, Any] | None) -> dict[str, ParamConstraint] | None:
    """`params` as the API wants it: a plain value means `locked`; constraints pass through.

    A constraint is a `ParamConstraint` or a mapping with a `mode` key (and `value`).
    """
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise ConfigurationError(
            f"params must be a mapping of input key to value, not a {type(params).__name__}."
        )
    out: dict[str, ParamConstraint] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise ConfigurationError("Every param key must be a non-empty string.")
        if isinstance(value, ParamConstraint):
            out[key] = value
        elif isinstance(value, Mapping) and "mode" in value:
            unknown = set(value) - {"mode", "value"}
            mode = value["mode"]
            if unknown or mode not in CONSTRAINT_MODES:
                raise ConfigurationError(
                    f"Param {key!r} is not a valid constraint: give {{'mode': one of "
                    f"{', '.join(CONSTRAINT_MODES)}, 'value': ...}}."
                )
            out[key] = ParamConstraint(mode=mode, value=_plain(key, value.get("value")))
        else:
            out[key] = ParamConstraint(mode="locked", value=_plain(key, value))
    return out
