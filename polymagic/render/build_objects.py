"""The names and shapes of what a build submits, without the spec layer: the executor
container's name, polymagic's labels and annotations, the defaults, ``KanikoOptions`` and
``BuildManifests``, and reading image references.

``manifests`` makes these objects from a compiled build (and so loads the Polyaxon models);
commands that only read a build back from its pod (``status``, ``logs``, ``list``, ``cancel``)
need no more than this module, so they never pay for building pydantic's validators. Pure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polymagic.errors import SpecError
from polymagic.render.quantities import check_resources
from polymagic.setting_schema import default_seconds

if TYPE_CHECKING:
    from polymagic.render.annotations import ImageProvenance
    from polymagic.render.context import PackedContext

__all__ = [
    "ANNOTATION_PREFIX",
    "CONTAINER_NAME",
    "CONTEXT_ARCHIVE",
    "DEFAULT_EXECUTOR_IMAGE",
    "DEFAULT_TIMEOUT",
    "DIGEST_FILE",
    "EPHEMERAL_STORAGE_REQUEST",
    "LABEL_BUILD",
    "LABEL_MANAGED_BY",
    "LABEL_NAME",
    "LABEL_SPEC_HASH",
    "OPTION_PARAMS",
    "UPSTREAM_EXECUTOR",
    "BuildManifests",
    "KanikoOptions",
    "SecretShape",
    "hash_tag_of",
    "registry_host",
    "repository_without_tag",
]

CONTAINER_NAME = "kaniko"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_BUILD = "polymagic/build"
LABEL_SPEC_HASH = "polymagic/spec-hash"
ANNOTATION_PREFIX = "polymagic/"
DIGEST_FILE = "/dev/termination-log"
DEFAULT_TIMEOUT = default_seconds("timeout")
"""The overall deadline of a build in seconds, and so of its pod (``activeDeadlineSeconds``)."""
EPHEMERAL_STORAGE_REQUEST = "1Gi"
"""Scratch space asked for the executor: Kaniko unpacks the base image into the container's own
filesystem, so the scheduler should place it on a node with room for that."""
CONTEXT_ARCHIVE = "context.tar.gz"


class SecretShape(str, enum.Enum):
    """How a registry secret stores the Docker config, which decides how it is mounted."""

    CONFIG_JSON = "config.json"
    """A generic secret whose key is ``config.json`` (Polyaxon's recipe)."""
    DOCKERCONFIGJSON = ".dockerconfigjson"
    """A ``kubernetes.io/dockerconfigjson`` secret (``kubectl create secret docker-registry``)."""


DEFAULT_EXECUTOR_IMAGE = "ghcr.io/osscontainertools/kaniko:v1.28.3"
"""The executor polymagic runs when the component names upstream Kaniko's floating ``latest``:
upstream Kaniko is archived, so a pinned release of a maintained fork. Always overridable."""
UPSTREAM_EXECUTOR = "gcr.io/kaniko-project/executor:latest"


@dataclass(frozen=True)
class KanikoOptions:
    """Executor options polymagic adds to the pod (the compiled component stays Polyaxon's)."""

    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    tags: tuple[str, ...] = ()
    """More destinations: full references, or ``:tag`` for the first destination's repository."""
    reproducible: bool = False
    snapshot_mode: str | None = None
    insecure_registries: tuple[str, ...] = ()
    """Registries reached over plain HTTP (Kaniko's ``--insecure-registry``)."""
    skip_tls_verify_registries: tuple[str, ...] = ()
    cache_repo: str | None = None
    hash_tag: bool = True
    """Also push ``<repository>:spec-<hash>`` so a later build of the same spec can be reused."""
    resources: dict[str, Any] | None = None
    """The executor's ``requests``/``limits``, set amount by amount over the operation's
    (``{"limits": {"cpu": "2"}}`` keeps the operation's memory limit)."""
    node_selector: dict[str, str] | None = None
    tolerations: tuple[dict[str, Any], ...] = ()
    service_account: str | None = None
    # The executor's own options (render/executor_flags.py says which flag each becomes).
    no_push_cache: bool = False
    compressed_caching: bool | None = None
    single_snapshot: bool = False
    use_new_run: bool = False
    cache_run_layers: bool | None = None
    cache_copy_layers: bool = False
    registry_mirrors: tuple[str, ...] = ()
    skip_default_registry_fallback: bool = False
    push_retry: int | None = None
    image_download_retry: int | None = None
    compression: str | None = None
    compression_level: int | None = None
    image_format: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    push_ignore_immutable_tag_errors: bool = False
    executor_args: tuple[str, ...] = ()
    """More executor arguments, as given (``--flag`` or ``--flag=value``), for what has no
    option here."""
    provenance: ImageProvenance | None = None
    """Put polymagic's annotations on the image (``render/annotations.py``; None: none, as
    with ``--no-annotations``). Not part of the spec hash."""

    def __post_init__(self) -> None:
        from polymagic.render.executor_flags import EXECUTOR_FLAGS, check_executor_args

        check_resources(self.resources)
        check_executor_args(self.executor_args)
        for item in EXECUTOR_FLAGS:
            value = getattr(self, item.field)
            if item.choices and value is not None and value not in item.choices:
                raise SpecError(f"{item.flag} `{value}`: choose {' or '.join(item.choices)}")
            if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= 1000:
                raise SpecError(f"{item.flag} {value}: give a whole number from 0 to 1000")
            texts = (
                [v for pair in value for v in pair]
                if item.field in ("labels", "annotations")
                else (list(value) if isinstance(value, tuple) else [])
            )
            if any(not t or not t.isprintable() or len(t) > 1024 for t in texts):
                raise SpecError(
                    f"{item.flag}: each value printable, on one line, at most 1024 characters"
                )
        if self.snapshot_mode not in (None, "full", "redo", "time"):
            raise SpecError(f"snapshot mode `{self.snapshot_mode}`: choose full, redo or time")
        for key, _ in self.build_args:
            if not key or "=" in key:
                raise SpecError(
                    f"build arg `{key}`: give it as NAME=value", path="params.build_args"
                )


# Context-only params an operation may carry to set executor options, so a spec file holds them
# too: e.g. ``build_args: {value: {PY: "3.11"}, contextOnly: true}``.
OPTION_PARAMS = (
    "build_args",
    "target",
    "tags",
    "reproducible",
    "snapshot_mode",
    "insecure_registries",
    "cache_repo",
)


@dataclass(frozen=True)
class BuildManifests:
    """What polymagic submits for one build."""

    name: str
    namespace: str
    spec_hash: str
    """What decides the image's content (see ``spec_hash_of``): the ``spec-`` tag, the
    ``polymagic/spec-hash`` annotation, ``BuildResult.spec_hash``."""
    config_map: dict[str, Any]
    pod: dict[str, Any]
    secrets: tuple[str, ...]
    """Names of the secrets the pod mounts or reads (preflight checks they exist)."""
    steps: tuple[str, ...]
    """The instructions of the Dockerfile Kaniko builds, for step i/N progress."""
    destinations: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    executor_image: str = ""
    context: PackedContext | None = None
    """The local files in the ConfigMap, when the build has any (their listing, what was left out)."""

    def objects(self) -> list[dict[str, Any]]:
        """The objects in the order they are created: ConfigMap, then Pod."""
        return [self.config_map, self.pod]


def repository_without_tag(reference: str) -> str:
    """``host/org/app:tag`` or ``...@sha256:..`` → ``host/org/app``."""
    base = reference.split("@", 1)[0]
    slash = base.rfind("/")
    colon = base.rfind(":")
    return base[:colon] if colon > slash else base


def registry_host(reference: str) -> str:
    """The registry part of an image reference (``docker.io`` when there is none)."""
    first, slash, _ = reference.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def hash_tag_of(destination: str, spec_hash: str) -> str:
    """The reference under which the image built from ``spec_hash`` is also pushed."""
    return f"{repository_without_tag(destination)}:spec-{spec_hash[:20]}"
