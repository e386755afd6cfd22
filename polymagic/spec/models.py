"""Pydantic models of the Polyaxon documents polymagic reads: operations, components,
init entries, params and the connections catalog.

Field names and types mirror Polyaxon 2.18's schema (camelCase aliases, unknown keys rejected)
so that a document Polyaxon accepts is accepted here and one it rejects is rejected here.
This module only describes shapes; loading YAML and turning validation errors into
messages lives in ``loader``, compiling in ``compiler``.

Building the validators is most of what ``polymagic render`` costs after the imports, so the
annotations here are real objects (no ``from __future__ import annotations``: pydantic would
evaluate some 200 strings again), every model is defined after the models it holds (none
needs a rebuild), and the shared base of operations and components builds no validator.
"""

import enum
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "RUN_SHORTCUT_FIELDS",
    "Component",
    "Connection",
    "ConnectionCatalog",
    "Container",
    "DockerfileInit",
    "Environment",
    "FileInit",
    "GitInit",
    "IOSpec",
    "Init",
    "JobRun",
    "Operation",
    "Param",
    "PatchStrategy",
    "Termination",
    "check_git_url",
    "git_url_credentials",
    "is_ref",
    "validate_image",
]

# Polyaxon treats any string holding ``{{ ... }}`` as a reference to be resolved later.
_REF_PATTERN = re.compile(r"{{\s*(.+)\s*}}")
_NAME_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+\Z")


def is_ref(value: object) -> bool:
    """True when ``value`` is a string carrying a ``{{ ... }}`` template."""
    return isinstance(value, str) and _REF_PATTERN.search(value) is not None


def _check_ref(value: str) -> str:
    if not is_ref(value):
        raise ValueError(
            f"a plain string is not accepted here (got `{value}`): write the structured value"
            " (e.g. a list), or a `{{ ... }}` reference"
        )
    return value


RefStr = Annotated[StrictStr, AfterValidator(_check_ref)]
"""A string that must be a ``{{ ... }}`` reference (Polyaxon's ``RefField``)."""


def _value_or_ref(value: Any) -> str:
    # Polyaxon's ``X | RefField`` unions: a string can only be the reference, anything else is
    # validated as X. Choosing the branch up front keeps error paths short and exact.
    return "<ref>" if isinstance(value, str) else "<value>"


def _value_or_template(value: Any) -> str:
    # For ``int | RefField``: "123" is still an int to Polyaxon (lax parsing); only a template is a ref.
    return "<ref>" if is_ref(value) else "<value>"


def _shape(value: Any) -> str:
    if isinstance(value, str):
        return "<ref>"
    return "<map>" if isinstance(value, dict) else "<value>"


_PICK = Discriminator(_value_or_ref)
_PICK_INT = Discriminator(_value_or_template)
_MAP = Tag("<map>")
_REF = Tag("<ref>")
_VAL = Tag("<value>")


def _generic_str(value: Any) -> str:
    # Polyaxon's GenericStr: numbers and containers become JSON text, None is refused.
    from polymagic.spec.values import to_text

    if value is None:
        raise ValueError("Input should be a valid string")
    text = to_text(value)
    return str(text)


GenericStr = Annotated[Any, BeforeValidator(_generic_str)]
"""A string, or a number/list/mapping that Polyaxon turns into its JSON text."""


def _str_list(value: Any) -> Any:
    # Polyaxon reads a comma-separated string where it expects a list of strings (e.g. tags).
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def validate_image(image: object) -> str:
    """Check a docker image reference the way Polyaxon does and return it.

    Polyaxon strips the *characters* of ``https://`` and ``http://`` from both ends before
    splitting on ``:`` (``str.strip`` semantics), which this reproduces on purpose so the
    same strings are accepted and rejected.
    """
    if not image:
        raise ValueError("Image is required")
    if not isinstance(image, str):
        raise ValueError("Image value should be a string")
    if is_ref(image):
        return image
    if " " in image:
        raise ValueError(f"Invalid docker image `{image}`")
    parts = image.strip("https://").strip("http://").split(":")  # noqa: B005 (Polyaxon's own rule)
    if len(parts) > 3 or (len(parts) == 3 and ("/" not in parts[1] or parts[1].startswith("/"))):
        raise ValueError(f"Invalid docker image `{image}`")
    return image


class PolyModel(BaseModel):
    """Base of every Polyaxon-shaped model: aliases, unknown keys rejected, immutable."""

    # A refused value may be a credential (a token in a git URL): keep it out of the
    # ValidationError's text; ``loader`` builds its messages from ``errors()``.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, hide_input_in_errors=True
    )

    def to_polyaxon(self) -> dict[str, Any]:
        """The document as Polyaxon writes it: camelCase keys; unset and null fields left out."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")


# -- containers (an init entry may hold one, as may the run) ------------------------------


class Container(PolyModel):
    """A Kubernetes container as Polyaxon accepts it in ``run.container``."""

    name: StrictStr | None = None
    image: StrictStr | None = None
    image_pull_policy: StrictStr | None = Field(default=None, alias="imagePullPolicy")
    # An item whose template rendered ``None`` stays as null, as in Polyaxon; the pod drops it.
    command: list[StrictStr | None] | None = None
    args: list[StrictStr | None] | None = None
    working_dir: StrictStr | None = Field(default=None, alias="workingDir")
    env: list[dict[str, Any]] | None = None
    env_from: list[dict[str, Any]] | None = Field(default=None, alias="envFrom")
    resources: dict[str, Any] | None = None
    resize_policy: list[dict[str, Any]] | None = Field(default=None, alias="resizePolicy")
    restart_policy: StrictStr | None = Field(default=None, alias="restartPolicy")
    volume_mounts: list[dict[str, Any]] | None = Field(default=None, alias="volumeMounts")
    volume_devices: list[dict[str, Any]] | None = Field(default=None, alias="volumeDevices")
    ports: list[dict[str, Any]] | None = None
    liveness_probe: dict[str, Any] | None = Field(default=None, alias="livenessProbe")
    readiness_probe: dict[str, Any] | None = Field(default=None, alias="readinessProbe")
    startup_probe: dict[str, Any] | None = Field(default=None, alias="startupProbe")
    lifecycle: dict[str, Any] | None = None
    security_context: dict[str, Any] | None = Field(default=None, alias="securityContext")
    termination_message_path: StrictStr | None = Field(default=None, alias="terminationMessagePath")
    termination_message_policy: StrictStr | None = Field(
        default=None, alias="terminationMessagePolicy"
    )
    stdin: StrictBool | None = None
    stdin_once: StrictBool | None = Field(default=None, alias="stdinOnce")
    tty: StrictBool | None = None


# -- init entries -------------------------------------------------------------------------


def _str_or_list(value: Any) -> str:
    return "<str>" if isinstance(value, str) else "<value>"


CopyEntry = Annotated[
    Annotated[StrictStr, Tag("<str>")] | Annotated[list[StrictStr], _VAL],
    Discriminator(_str_or_list),
]


class DockerfileInit(PolyModel):
    """The ``dockerfile`` init: what Polyaxon renders into a Dockerfile."""

    image: StrictStr
    env: (
        Annotated[
            Annotated[dict[str, Any], _MAP]
            | Annotated[list[list[str]], _VAL]
            | Annotated[RefStr, _REF],
            Discriminator(_shape),
        ]
        | None
    ) = None  # fmt: skip
    path: Annotated[Annotated[list[StrictStr], _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    copy_: Annotated[Annotated[list[CopyEntry], _VAL] | Annotated[RefStr, _REF], _PICK] | None = (
        Field(default=None, alias="copy")
    )
    post_run_copy: (
        Annotated[Annotated[list[CopyEntry], _VAL] | Annotated[RefStr, _REF], _PICK] | None
    ) = Field(default=None, alias="postRunCopy")
    run: Annotated[Annotated[list[StrictStr], _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    lang_env: StrictStr | None = Field(default=None, alias="langEnv")
    uid: Annotated[Annotated[int, _VAL] | Annotated[RefStr, _REF], _PICK_INT] | None = None
    gid: Annotated[Annotated[int, _VAL] | Annotated[RefStr, _REF], _PICK_INT] | None = None
    username: StrictStr | None = None
    filename: StrictStr | None = "Dockerfile"
    workdir: StrictStr | None = "/code"
    workdir_path: StrictStr | None = Field(default=None, alias="workdirPath")
    shell: StrictStr | None = "/bin/bash"

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return validate_image(value)

    @property
    def dockerfile_name(self) -> str:
        """The file name in the build context (``Dockerfile`` unless set)."""
        return self.filename or "Dockerfile"


class FileInit(PolyModel):
    """The ``file`` init: a file with inline content written into the context."""

    content: StrictStr
    filename: StrictStr | None = None
    kind: StrictStr | None = None
    chmod: StrictStr | None = None


_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def git_url_credentials(url: str) -> str | None:
    """``url`` with its user info shown as ``***`` when it has any (``https://alice:TOKEN@host``,
    ``TOKEN@host/repo``, ``git@host:repo``), else None."""
    scheme = _URL_SCHEME.match(url)
    head = scheme.group(0) if scheme else ""
    rest = url[len(head) :]
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    authority = rest[: min(ends, default=len(rest))]
    if "@" not in authority:
        return None
    return f"{head}***@{authority.rpartition('@')[2]}{rest[len(authority) :]}"


def _refuse_credentials(url: str, what: str, written_into: str, instead: str) -> str:
    """``url``, unless it carries credentials: then a ValueError that shows it masked, says
    where they would end up and where they belong instead."""
    masked = git_url_credentials(url)
    if masked is not None:
        raise ValueError(
            f"{what}`{masked}` carries credentials (user info before `@`): they would be written"
            f" into {written_into}; use the URL without them, and put them in {instead}"
        )
    return url


def check_git_url(url: str, what: str = "") -> str:
    """``url``, unless it carries credentials: then a ValueError that shows it masked."""
    return _refuse_credentials(
        url,
        what,
        "the pod's arguments, the render output and the notebook",
        "the git connection's secret as GIT_USERNAME and GIT_PASSWORD",
    )


def _check_registry_url(url: str) -> str:
    """A registry connection's ``url``, unless it carries credentials (then a ValueError)."""
    return _refuse_credentials(
        url,
        "`url` ",
        "the pod's arguments and the render output",
        "the connection's secret (`kubectl create secret docker-registry NAME"
        " --docker-server=... --docker-username=... --docker-password=...`)",
    )


class GitInit(PolyModel):
    """The ``git`` init: a repository cloned into the context."""

    url: Annotated[StrictStr, AfterValidator(check_git_url)] | None = None
    revision: StrictStr | None = None
    flags: Annotated[Annotated[list[StrictStr], _VAL] | Annotated[RefStr, _REF], _PICK] | None = (
        None
    )


class Init(PolyModel):
    """One entry of ``run.init``; exactly one kind of initializer should be set."""

    dockerfile: (
        Annotated[Annotated[DockerfileInit, _VAL] | Annotated[RefStr, _REF], _PICK] | None
    ) = None
    file: Annotated[Annotated[FileInit, _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    git: Annotated[Annotated[GitInit, _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    artifacts: (
        Annotated[Annotated[dict[str, Any], _VAL] | Annotated[RefStr, _REF], _PICK] | None
    ) = None
    paths: Annotated[Annotated[list[Any], _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    tensorboard: (
        Annotated[Annotated[dict[str, Any], _VAL] | Annotated[RefStr, _REF], _PICK] | None
    ) = None
    lineage_ref: StrictStr | None = Field(default=None, alias="lineageRef")
    model_ref: StrictStr | None = Field(default=None, alias="modelRef")
    artifact_ref: StrictStr | None = Field(default=None, alias="artifactRef")
    connection: StrictStr | None = None
    path: StrictStr | None = None
    container: Annotated[Annotated[Container, _VAL] | Annotated[RefStr, _REF], _PICK] | None = None

    @model_validator(mode="after")
    def _one_initializer(self) -> "Init":
        kinds = [self.artifacts, self.paths, self.git, self.file, self.dockerfile]
        if sum(kind is not None for kind in kinds) > 1:
            raise ValueError("Only one of artifacts, paths, git, file, or dockerfile can be set")
        return self


_VOLUME_SOURCES = frozenset(
    {
        "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "configMap", "csi",
        "downwardAPI", "emptyDir", "ephemeral", "fc", "flexVolume", "flocker", "gcePersistentDisk",
        "gitRepo", "glusterfs", "hostPath", "image", "iscsi", "nfs", "persistentVolumeClaim",
        "photonPersistentDisk", "portworxVolume", "projected", "quobyte", "rbd", "scaleIO", "secret",
        "storageos", "vsphereVolume",
    }
)  # fmt: skip


def _volume(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError("a volume is a mapping with a `name` and one volume source")
    if not isinstance(value.get("name"), str) or not value.get("name"):
        raise ValueError("Invalid value for name, must not be None")
    unknown = sorted(set(value) - _VOLUME_SOURCES - {"name"})
    if unknown:
        raise ValueError(
            f"unknown volume field `{unknown[0]}` (a volume has `name` and a source such as emptyDir, configMap, secret, persistentVolumeClaim)"
        )
    return value


Volume = Annotated[dict[str, Any], BeforeValidator(_volume)]
"""A Kubernetes volume: a name and one source."""


# -- the job run ----------------------------------------------------------------------------


class Environment(PolyModel):
    """``run.environment``: pod-level settings."""

    labels: dict[StrictStr, GenericStr] | None = None
    annotations: dict[StrictStr, GenericStr] | None = None
    node_selector: dict[StrictStr, GenericStr] | None = Field(default=None, alias="nodeSelector")
    affinity: dict[str, Any] | None = None
    tolerations: list[dict[str, Any]] | None = None
    node_name: StrictStr | None = Field(default=None, alias="nodeName")
    service_account_name: StrictStr | None = Field(default=None, alias="serviceAccountName")
    host_aliases: list[dict[str, Any]] | None = Field(default=None, alias="hostAliases")
    security_context: dict[str, Any] | None = Field(default=None, alias="securityContext")
    image_pull_secrets: list[StrictStr] | None = Field(default=None, alias="imagePullSecrets")
    host_network: bool | None = Field(default=None, alias="hostNetwork")
    host_pid: bool | None = Field(default=None, alias="hostPID")
    dns_policy: StrictStr | None = Field(default=None, alias="dnsPolicy")
    dns_config: dict[str, Any] | None = Field(default=None, alias="dnsConfig")
    scheduler_name: StrictStr | None = Field(default=None, alias="schedulerName")
    priority_class_name: StrictStr | None = Field(default=None, alias="priorityClassName")
    priority: int | None = None
    restart_policy: Literal["Always", "OnFailure", "Never", "ExitCode"] | None = Field(
        default=None, alias="restartPolicy"
    )


class JobRun(PolyModel):
    """A ``run`` section of kind ``job`` — the only run kind a build uses."""

    kind: Literal["job"] = "job"
    environment: Annotated[Annotated[Environment, _VAL] | Annotated[RefStr, _REF], _PICK] | None = (
        None
    )
    connections: (
        Annotated[Annotated[list[StrictStr], _VAL] | Annotated[RefStr, _REF], _PICK] | None
    ) = None
    volumes: Annotated[Annotated[list[Volume], _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    init: Annotated[Annotated[list[Init], _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    sidecars: (
        Annotated[Annotated[list[Container], _VAL] | Annotated[RefStr, _REF], _PICK] | None
    ) = None
    container: Annotated[Annotated[Container, _VAL] | Annotated[RefStr, _REF], _PICK] | None = None

    def to_polyaxon(self) -> dict[str, Any]:
        """As Polyaxon writes a job run: an empty ``init`` list is left out."""
        data = super().to_polyaxon()
        if data.get("init") == []:
            del data["init"]
        return data


class JobRunPatch(JobRun):
    """A ``runPatch``: the same fields as a job run, every one optional, ``kind`` implied."""

    kind: Literal["job"] | None = None  # type: ignore[assignment]


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

    max_retries: Annotated[Annotated[StrictInt, _VAL] | Annotated[RefStr, _REF], _PICK] | None = (
        Field(default=None, alias="maxRetries")
    )
    ttl: Annotated[Annotated[StrictInt, _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    timeout: Annotated[Annotated[StrictInt, _VAL] | Annotated[RefStr, _REF], _PICK] | None = None
    culling: dict[str, Any] | None = None
    probe: dict[str, Any] | None = None
    pod_failure_policy: (
        Annotated[Annotated[dict[str, Any], _VAL] | Annotated[RefStr, _REF], _PICK] | None
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
    name: Annotated[StrictStr, AfterValidator(lambda v: _check_name(v))] | None = None
    description: StrictStr | None = None
    tags: Annotated[list[StrictStr], BeforeValidator(_str_list)] | None = None
    namespace: StrictStr | None = None
    termination: Annotated[Annotated[Termination, _VAL] | Annotated[RefStr, _REF], _PICK] | None = (
        None
    )
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


def _check_name(value: str) -> str:
    if is_ref(value) or _NAME_PATTERN.match(value):
        return value
    raise ValueError(f"`{value}` is not a valid name: use letters, digits, `-` and `_` only")


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


# -- connections ----------------------------------------------------------------------------


class ResourceRef(PolyModel):
    """A secret or config map a connection refers to (optionally mounted)."""

    name: StrictStr
    mount_path: StrictStr | None = Field(default=None, alias="mountPath")
    items: list[StrictStr] | None = None
    default_mode: int | None = Field(default=None, alias="defaultMode")


ConnectionKind = Literal[
    "registry",
    "git",
    "s3",
    "gcs",
    "wasb",
    "volume_claim",
    "host_path",
    "bucket",
    "mlflow",
    "wandb",
    "slack",
    "discord",
    "mattermost",
    "pagerduty",
    "webhook",
    "custom",
]


class Connection(PolyModel):
    """One connection of the catalog, in Polyaxon's agent form."""

    name: Annotated[StrictStr, AfterValidator(lambda v: _check_name(v))]
    kind: ConnectionKind
    description: StrictStr | None = None
    tags: list[StrictStr] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    secret: ResourceRef | None = None
    config_map: ResourceRef | None = Field(default=None, alias="configMap")
    env: list[dict[str, Any]] | None = None
    annotations: dict[str, StrictStr] | None = None

    @field_validator("schema_")
    @classmethod
    def _url(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        url = value.get("url") if value else None
        if isinstance(url, str) and info.data.get("kind") == "git":
            check_git_url(url, "`url` ")
        elif isinstance(url, str) and info.data.get("kind") == "registry":
            _check_registry_url(url)
        return value


class ConnectionCatalog(PolyModel):
    """The list of connections known to a build, looked up by name."""

    connections: list[Connection] = []

    @field_validator("connections")
    @classmethod
    def _unique(cls, value: list[Connection]) -> list[Connection]:
        seen: set[str] = set()
        for connection in value:
            if connection.name in seen:
                raise ValueError(f"connection `{connection.name}` is defined twice")
            seen.add(connection.name)
        return value

    def get(self, name: str) -> Connection | None:
        """The connection called ``name``, or None."""
        return next((c for c in self.connections if c.name == name), None)

    def names(self) -> list[str]:
        """Every connection name, in catalog order."""
        return [c.name for c in self.connections]
