"""Pydantic models of the Polyaxon documents polymagic reads: operations and components, with
their inputs, outputs, params, termination and patch strategy.

As in ``spec.models``: field names and types mirror Polyaxon 2.18's schema, and the annotations
are real objects (no ``from __future__ import annotations``).
"""

import enum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from polymagic.spec.models import (
    PICK,
    REF_TAG,
    VALUE_TAG,
    JobRun,
    JobRunPatch,
    PolyModel,
    RefStr,
    check_name,
    str_list,
)

__all__ = [
    "RUN_SHORTCUT_FIELDS",
    "Component",
    "IOSpec",
    "Operation",
    "Param",
    "PatchStrategy",
    "Termination",
]


# -- inputs, outputs and params ----------------------------------------------------------------


class IOSpec(PolyModel):
    """One entry of a component's ``inputs`` or ``outputs``."""

    name: StrictStr
    description: StrictStr | None = None
    type: StrictStr | None = None
    is_optional: bool | None = Field(default=None, alias="isOptional")
    is_list: bool | None = Field(default=None, alias="isList")
    is_flag: bool | None = Field(default=None, alias="isFlag")
    arg_format: StrictStr | None = Field(default=None, alias="argFormat")
    connection: StrictStr | None = None
    to_init: bool | None = Field(default=None, alias="toInit")
    to_env: StrictStr | None = Field(default=None, alias="toEnv")
    value: Any = None
    validation: dict[str, Any] | None = None
    delay_validation: bool | None = Field(default=None, alias="delayValidation")
    options: Any = None


_PARAM_KEYS = frozenset(
    {
        "value",
        "ref",
        "toInit",
        "to_init",
        "toEnv",
        "to_env",
        "contextOnly",
        "context_only",
        "connection",
    }
)


class Param(PolyModel):
    """A param of an operation; the short form ``name: value`` is normalised into this."""

    value: Any = None
    ref: StrictStr | None = None
    context_only: bool | None = Field(default=None, alias="contextOnly")
    connection: StrictStr | None = None
    to_init: bool | None = Field(default=None, alias="toInit")
    to_env: StrictStr | None = Field(default=None, alias="toEnv")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        # Polyaxon >= 2.13: anything but a non-empty mapping that names a param key is a bare value.
        if isinstance(data, Param):
            return data
        if not isinstance(data, dict) or (data and not (_PARAM_KEYS & set(data))):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _ref_needs_str(self) -> "Param":
        if self.ref and not isinstance(self.value, str):
            raise ValueError(
                f"Value must be of type string when a ref is provided, received `{self.value}` instead."
            )
        return self


class Termination(PolyModel):
    """``termination``: retries, time-to-live and the deadline of the run."""

    max_retries: (
        Annotated[Annotated[StrictInt, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = Field(default=None, alias="maxRetries")
    ttl: Annotated[Annotated[StrictInt, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None = None
    timeout: (
        Annotated[Annotated[StrictInt, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    culling: dict[str, Any] | None = None
    probe: dict[str, Any] | None = None
    pod_failure_policy: (
        Annotated[Annotated[dict[str, Any], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = Field(default=None, alias="podFailurePolicy")


class PatchStrategy(str, enum.Enum):
    """How ``runPatch`` is merged into the component's ``run``."""

    POST_MERGE = "post_merge"
    PRE_MERGE = "pre_merge"
    REPLACE = "replace"
    ISNULL = "isnull"


# Fields a Polyaxon server acts on that a client-side build cannot honour. They are accepted so
# a document moves unchanged between Polyaxon and polymagic, and each is named in a warning.
SERVER_SIDE_FIELDS: tuple[str, ...] = (
    "presets",
    "strictParams",
    "queue",
    "cache",
    "plugins",
    "build",
    "hooks",
    "isApproved",
    "cost",
    "mount",
    "schedule",
    "events",
    "matrix",
    "joins",
    "dependencies",
    "trigger",
    "conditions",
    "skipOnUpstreamSkip",
    "template",
    "isPreset",
)

# Polyaxonfile shortcuts that generate a ``run``; for an operation polymagic asks for runPatch.
RUN_SHORTCUT_FIELDS: tuple[str, ...] = (
    "container",
    "cmd",
    "env",
    "resources",
    "environment",
    "init",
    "connections",
    "sidecars",
    "volumes",
    "ports",
)


class _Document(PolyModel):
    """The fields operations and components share. Never validated itself: its validator is
    not built (each subclass builds its own)."""

    model_config = ConfigDict(defer_build=True)

    version: float | None = None
    name: Annotated[StrictStr, AfterValidator(lambda v: check_name(v))] | None = None
    description: StrictStr | None = None
    tags: Annotated[list[StrictStr], BeforeValidator(str_list)] | None = None
    namespace: StrictStr | None = None
    termination: (
        Annotated[Annotated[Termination, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    # Server-side fields: typed loosely, reported by ``server_side_fields``.
    presets: Any = None
    strict_params: Any = Field(default=None, alias="strictParams")
    queue: Any = None
    cache: Any = None
    plugins: Any = None
    build: Any = None
    hooks: Any = None
    is_approved: Any = Field(default=None, alias="isApproved")
    cost: Any = None
    mount: Any = None
    schedule: Any = None
    events: Any = None
    matrix: Any = None
    joins: Any = None
    dependencies: Any = None
    trigger: Any = None
    conditions: Any = None
    skip_on_upstream_skip: Any = Field(default=None, alias="skipOnUpstreamSkip")
    template: Any = None
    is_preset: Any = Field(default=None, alias="isPreset")

    def server_side_fields(self) -> list[str]:
        """The server-side fields this document sets (which polymagic ignores)."""
        data = self.model_dump(by_alias=True, exclude_none=True)
        return [name for name in SERVER_SIDE_FIELDS if name in data]


class Component(_Document):
    """A Polyaxon component (``kind: component``) with a job run."""

    model_config = ConfigDict(defer_build=False)
    kind: Literal["component"] = "component"
    inputs: list[IOSpec] | None = None
    outputs: list[IOSpec] | None = None
    run: JobRun

    @field_validator("run", mode="before")
    @classmethod
    def _job_only(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("kind", "job") != "job":
            raise ValueError(
                f"run kind `{value.get('kind')}` is not supported: polymagic builds with a `job` run"
            )
        return value

    def io(self) -> list[IOSpec]:
        """Inputs then outputs: every name a param can set."""
        return [*(self.inputs or []), *(self.outputs or [])]


class Operation(_Document):
    """A Polyaxon operation (``kind: operation``) that runs a component."""

    model_config = ConfigDict(defer_build=False)
    kind: Literal["operation"]
    params: dict[StrictStr, Param] | None = None
    hub_ref: StrictStr | None = Field(default=None, alias="hubRef")
    dag_ref: StrictStr | None = Field(default=None, alias="dagRef")
    url_ref: StrictStr | None = Field(default=None, alias="urlRef")
    path_ref: StrictStr | None = Field(default=None, alias="pathRef")
    component: Component | None = None
    run_patch: JobRunPatch | None = Field(default=None, alias="runPatch")
    patch_strategy: PatchStrategy | None = Field(default=None, alias="patchStrategy")

    @model_validator(mode="after")
    def _one_reference(self) -> "Operation":
        refs = [self.hub_ref, self.dag_ref, self.url_ref, self.path_ref, self.component]
        if sum(ref is not None for ref in refs) != 1:
            raise ValueError(
                "One and only one reference must be specified: hubRef, dagRef, urlRef, pathRef, component"
            )
        return self
