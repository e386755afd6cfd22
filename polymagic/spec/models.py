"""Pydantic models of the parts of Polyaxon documents: containers, init entries, the job run,
and the shared base and field types every model uses (operations and components are
``spec.documents``', the connections catalog ``spec.connections``').

Field names and types mirror Polyaxon 2.18's schema (camelCase aliases, unknown keys rejected)
so that a document Polyaxon accepts is accepted here and one it rejects is rejected here.
This module only describes shapes; loading YAML and turning validation errors into
messages lives in ``loader``, compiling in ``compiler``.

Building the validators is most of what ``polymagic render`` costs after the imports, so the
annotations here are real objects (no ``from __future__ import annotations``: pydantic would
evaluate some 200 strings again), every model is defined after the models it holds (none
needs a rebuild), and the shared base of operations and components builds no validator.
"""

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
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)

__all__ = [
    "MAP_TAG",
    "NAME_PATTERN",
    "PICK",
    "PICK_INT",
    "REF_TAG",
    "VALUE_TAG",
    "Container",
    "DockerfileInit",
    "Environment",
    "FileInit",
    "GitInit",
    "Init",
    "JobRun",
    "JobRunPatch",
    "PolyModel",
    "RefStr",
    "check_git_url",
    "check_name",
    "check_registry_url",
    "git_url_credentials",
    "is_ref",
    "str_list",
    "validate_image",
]

# Polyaxon treats any string holding ``{{ ... }}`` as a reference to be resolved later.
_REF_PATTERN = re.compile(r"{{\s*(.+)\s*}}")
NAME_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+\Z")


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


PICK = Discriminator(_value_or_ref)
PICK_INT = Discriminator(_value_or_template)
MAP_TAG = Tag("<map>")
REF_TAG = Tag("<ref>")
VALUE_TAG = Tag("<value>")


def _generic_str(value: Any) -> str:
    # Polyaxon's GenericStr: numbers and containers become JSON text, None is refused.
    from polymagic.spec.values import to_text

    if value is None:
        raise ValueError("Input should be a valid string")
    text = to_text(value)
    return str(text)


GenericStr = Annotated[Any, BeforeValidator(_generic_str)]
"""A string, or a number/list/mapping that Polyaxon turns into its JSON text."""


def str_list(value: Any) -> Any:
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
    Annotated[StrictStr, Tag("<str>")] | Annotated[list[StrictStr], VALUE_TAG],
    Discriminator(_str_or_list),
]


class DockerfileInit(PolyModel):
    """The ``dockerfile`` init: what Polyaxon renders into a Dockerfile."""

    image: StrictStr
    env: (
        Annotated[
            Annotated[dict[str, Any], MAP_TAG]
            | Annotated[list[list[str]], VALUE_TAG]
            | Annotated[RefStr, REF_TAG],
            Discriminator(_shape),
        ]
        | None
    ) = None  # fmt: skip
    path: (
        Annotated[Annotated[list[StrictStr], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    copy_: (
        Annotated[Annotated[list[CopyEntry], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = Field(default=None, alias="copy")
    post_run_copy: (
        Annotated[Annotated[list[CopyEntry], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = Field(default=None, alias="postRunCopy")
    run: (
        Annotated[Annotated[list[StrictStr], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    lang_env: StrictStr | None = Field(default=None, alias="langEnv")
    uid: Annotated[Annotated[int, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK_INT] | None = None
    gid: Annotated[Annotated[int, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK_INT] | None = None
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


def check_registry_url(url: str) -> str:
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
    flags: (
        Annotated[Annotated[list[StrictStr], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None


class Init(PolyModel):
    """One entry of ``run.init``; exactly one kind of initializer should be set."""

    dockerfile: (
        Annotated[Annotated[DockerfileInit, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    file: Annotated[Annotated[FileInit, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None = None
    git: Annotated[Annotated[GitInit, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None = None
    artifacts: (
        Annotated[Annotated[dict[str, Any], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    paths: Annotated[Annotated[list[Any], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None = (
        None
    )
    tensorboard: (
        Annotated[Annotated[dict[str, Any], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    lineage_ref: StrictStr | None = Field(default=None, alias="lineageRef")
    model_ref: StrictStr | None = Field(default=None, alias="modelRef")
    artifact_ref: StrictStr | None = Field(default=None, alias="artifactRef")
    connection: StrictStr | None = None
    path: StrictStr | None = None
    container: (
        Annotated[Annotated[Container, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None

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
    environment: (
        Annotated[Annotated[Environment, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    connections: (
        Annotated[Annotated[list[StrictStr], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    volumes: (
        Annotated[Annotated[list[Volume], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    init: Annotated[Annotated[list[Init], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None = (
        None
    )
    sidecars: (
        Annotated[Annotated[list[Container], VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None
    container: (
        Annotated[Annotated[Container, VALUE_TAG] | Annotated[RefStr, REF_TAG], PICK] | None
    ) = None

    def to_polyaxon(self) -> dict[str, Any]:
        """As Polyaxon writes a job run: an empty ``init`` list is left out."""
        data = super().to_polyaxon()
        if data.get("init") == []:
            del data["init"]
        return data


class JobRunPatch(JobRun):
    """A ``runPatch``: the same fields as a job run, every one optional, ``kind`` implied."""

    kind: Literal["job"] | None = None  # type: ignore[assignment]


def check_name(value: str) -> str:
    """A document's or connection's ``name``: a template, or letters, digits, ``-`` and ``_``."""
    if is_ref(value) or NAME_PATTERN.match(value):
        return value
    raise ValueError(f"`{value}` is not a valid name: use letters, digits, `-` and `_` only")
