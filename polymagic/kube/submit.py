"""Getting a build onto the cluster: the checks before anything is created, the registry's
reuse answer, and the creation of the ConfigMap and the Pod. Returns a ``Submission``, the value
``kube.session.BuildSession`` follows.

Order: the destination connections are known; local files are packed (a missing one fails
before anything is created); a first rendering names the secrets the preflight checks
(namespace, permissions, secrets and their types); the final rendering mounts them right; the
registry is asked whether this spec was built before (a 401 to the secret's credentials stops
here, a reusable image ends here); then the ConfigMap, the Pod, and the Pod made owner of the
ConfigMap. An identical build already running is followed instead of started twice. Talks to
the cluster only through the ``Cluster`` it is given, and to the registry through ``Registry``.
"""

from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from polymagic.errors import ApiError, ClusterError, PreflightError
from polymagic.kube.api import REAL_CLOCK, Clock, Cluster, JsonDict
from polymagic.outcome.pod_reading import resource_version
from polymagic.outcome.result import BuildResult
from polymagic.render.build_objects import BuildManifests, KanikoOptions, SecretShape
from polymagic.render.connection_checks import check_destination_connections_known
from polymagic.render.options import BuildOptions
from polymagic.render.permissions import permission_checks, pod_security_refusal
from polymagic.render.pod_fields import check_pod_fields

if TYPE_CHECKING:
    from collections.abc import Sequence

    from polymagic.registry import ManifestAnswer, RegistryAnswer
    from polymagic.render.compiler import CompiledBuild

__all__ = [
    "HTTP_REGISTRY",
    "HttpRegistry",
    "Registry",
    "Start",
    "Submission",
    "preflight",
    "submit_build",
]


class Start(enum.Enum):
    """How a followed build came to be."""

    CREATED = "created"
    """This submission created its pod and ConfigMap (and deletes them afterwards)."""
    ATTACHED = "attached"
    """An identical build was already running: it is followed, and left to its owner."""
    REUSED = "reused"
    """The registry already held this spec's image: nothing was created."""
    FOUND = "found"
    """Started elsewhere (another process), found by name to follow or cancel."""


@dataclass(frozen=True)
class Submission:
    """A build on its way: everything its session needs, decided before following it."""

    manifests: BuildManifests
    options: BuildOptions
    """With the namespace resolved; ``keep`` when the objects are not this session's to delete."""
    started: float
    """When the build was asked for, on the session's clock (its deadlines count from here)."""
    how: Start = Start.CREATED
    resource_version: str | None = None
    """The created pod's version, where the watch starts."""
    notes: tuple[str, ...] = ()
    """What the user should know first (rendering warnings, why the image was not reused)."""
    reused: BuildResult | None = None
    """The result when ``how`` is REUSED."""
    reused_from: str = ""
    """The spec tag the reused image was found under."""
    registry_secret: str | None = None
    """The destination connection's secret: the pushed image's size is read with it."""
    registry_unreachable: str | None = None
    """Why the registry could not be reached before the build (its size is not asked then)."""


class Registry(Protocol):
    """What a build asks the destination's registry (see ``kube.reuse``)."""

    def find_built_image(
        self,
        cluster: Cluster,
        build: CompiledBuild,
        manifests: BuildManifests,
        kaniko: KanikoOptions,
    ) -> RegistryAnswer | None: ...

    def tag_destinations(
        self,
        cluster: Cluster,
        build: CompiledBuild,
        manifests: BuildManifests,
        found: RegistryAnswer,
    ) -> ManifestAnswer: ...

    def pushed_image_size(
        self, cluster: Cluster, manifests: BuildManifests, secret: str | None, image: str
    ) -> tuple[int | None, str]: ...


class HttpRegistry:
    """The destination's registry, asked over HTTP by ``kube.reuse`` (imported when asked:
    following a build found by name never needs it)."""

    def find_built_image(
        self,
        cluster: Cluster,
        build: CompiledBuild,
        manifests: BuildManifests,
        kaniko: KanikoOptions,
    ) -> RegistryAnswer | None:
        from polymagic.kube.reuse import find_built_image

        return find_built_image(cluster, build, manifests, kaniko)

    def tag_destinations(
        self,
        cluster: Cluster,
        build: CompiledBuild,
        manifests: BuildManifests,
        found: RegistryAnswer,
    ) -> ManifestAnswer:
        from polymagic.kube.reuse import tag_destinations

        return tag_destinations(cluster, build, manifests, found)

    def pushed_image_size(
        self, cluster: Cluster, manifests: BuildManifests, secret: str | None, image: str
    ) -> tuple[int | None, str]:
        from polymagic.kube.reuse import pushed_image_size

        return pushed_image_size(cluster, manifests, secret, image)


HTTP_REGISTRY: Registry = HttpRegistry()


# -- preflight ---------------------------------------------------------------------------------


def _secret_shapes(
    cluster: Cluster, namespace: str, secrets: Sequence[str]
) -> dict[str, SecretShape]:
    shapes: dict[str, SecretShape] = {}
    for secret in secrets:
        try:
            kind = cluster.read_secret_type(namespace, secret)
        except ApiError as exc:
            if exc.status == 404:
                raise PreflightError.secret_missing(namespace, secret) from exc
            if exc.status == 403:
                continue  # may not read secrets: the pod's mount will tell
            raise
        if kind == "kubernetes.io/dockerconfigjson":
            shapes[secret] = SecretShape.DOCKERCONFIGJSON
    return shapes


def preflight(cluster: Cluster, secrets: Sequence[str], namespace: str) -> dict[str, SecretShape]:
    """Check everything that can be checked before creating anything; returns secret shapes."""
    try:
        cluster.read_namespace(namespace)
    except ApiError as exc:
        if exc.status == 404:
            raise PreflightError.namespace_missing(namespace) from exc
        if exc.status != 403:
            raise
    missing = [
        f"{verb} {resource}{'/' + sub if sub else ''}"
        for verb, resource, sub in permission_checks()
        if not cluster.can_i(verb, resource, namespace, sub)
    ]
    if missing:
        raise PreflightError.forbidden(namespace, missing)
    return _secret_shapes(cluster, namespace, secrets)


def _checked_manifests(
    cluster: Cluster, build: CompiledBuild, options: BuildOptions, namespace: str
) -> BuildManifests:
    """The build's manifests, once everything that can be checked first was."""
    check_destination_connections_known(build)
    # Local files are packed first: a missing one is an error before anything is created.
    # The render layer's makers load here: reading builds back (status, logs) needs none.
    from polymagic.render.context import pack_build_context
    from polymagic.render.manifests import build_manifests

    packed = pack_build_context(build, options.context_dir) if options.context_dir else None

    def render(shapes: dict[str, SecretShape] | None) -> BuildManifests:
        return build_manifests(
            build,
            namespace=namespace,
            executor_image=options.executor_image,
            secret_shapes=shapes,
            kaniko=options.kaniko,
            context=packed,
            timeout=options.timeout,
        )

    # A first rendering names the secrets to check; their types decide the final mounts.
    return render(preflight(cluster, render(None).secrets, namespace))


# -- creating the objects ----------------------------------------------------------------------


class _AlreadyRunning(Exception):
    """The same build (same pod name, same spec) is already on the cluster."""


def _existing_build(cluster: Cluster, manifests: BuildManifests) -> JsonDict | None:
    """The live pod of an identical build, if there is one; an orphaned ConfigMap is removed."""
    try:
        pod = cluster.read_pod(manifests.namespace, manifests.name)
    except ApiError as exc:
        if exc.status != 404:
            raise
        # A ConfigMap without its pod: left by a process that died between the two creations.
        cluster.delete_config_map(manifests.namespace, manifests.name)
        return None
    annotations = pod.get("metadata", {}).get("annotations") or {}
    same = annotations.get("polymagic/spec-hash") == manifests.spec_hash
    if same and not pod.get("metadata", {}).get("deletionTimestamp"):
        return pod
    raise PreflightError.name_taken(manifests.namespace, manifests.name)


def _create_config_map(cluster: Cluster, manifests: BuildManifests) -> None:
    """Create the ConfigMap; raise ``_AlreadyRunning`` when an identical build has it."""
    for _attempt in range(2):
        try:
            cluster.create_config_map(manifests.namespace, manifests.config_map)
            return
        except ApiError as exc:
            if exc.status != 409:
                raise
            if _existing_build(cluster, manifests) is not None:
                raise _AlreadyRunning from exc
    raise PreflightError(
        f"could not create the ConfigMap `{manifests.name}` in `{manifests.namespace}`"
    )


def _create_pod(cluster: Cluster, manifests: BuildManifests) -> JsonDict:
    """Create the Pod; a Pod Security refusal becomes the error that says which label to set."""
    try:
        return cluster.create_pod(manifests.namespace, manifests.pod)
    except ApiError as exc:
        refusal = pod_security_refusal(str(exc)) if exc.status == 403 else None
        if refusal is None:
            raise
        raise PreflightError.pod_security(
            manifests.namespace, refusal.level, refusal.violations
        ) from exc


def _create_objects(cluster: Cluster, manifests: BuildManifests) -> str | None:
    """Create the ConfigMap, then the Pod, then make the Pod own the ConfigMap; returns the
    pod's resource version. Identical builds have the same name: when one is already running,
    raise ``_AlreadyRunning`` so the caller follows it instead of starting a second pod."""
    namespace, name = manifests.namespace, manifests.name
    _create_config_map(cluster, manifests)
    try:
        pod = _create_pod(cluster, manifests)
        owner = {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": pod["metadata"]["uid"]}
        cluster.patch_config_map(namespace, name, {"metadata": {"ownerReferences": [owner]}})
    except BaseException:
        with contextlib.suppress(ClusterError):
            fresh = cluster.fresh()
            fresh.delete_pod(namespace, name)
            fresh.delete_config_map(namespace, name)
            fresh.close()
        raise
    return resource_version(pod)


# -- the registry's answer ---------------------------------------------------------------------


def _reuse(
    cluster: Cluster,
    build: CompiledBuild,
    submission: Submission,
    answer: RegistryAnswer | None,
    registry: Registry,
    clock: Clock,
) -> Submission | str | None:
    """A REUSED submission when the registry holds this spec's image and every requested tag
    now points at it; else why it was not reused (None: nothing to say)."""
    from polymagic.registry import Presence

    options, manifests = submission.options, submission.manifests
    if options.force or not options.kaniko.hash_tag:
        return None
    if answer is None or answer.presence is Presence.MISSING:
        return None
    if answer.presence is Presence.UNKNOWN or not answer.digest:
        return f"could not tell whether this spec was built before ({answer.reason}); building it"
    tagged = registry.tag_destinations(cluster, build, manifests, answer)
    if not tagged.ok or tagged.manifest is None:
        return (
            f"the registry holds this spec's image ({answer.reference}), but the requested tags"
            f" cannot be pointed at it ({tagged.reason}); building it"
        )
    size_note = tagged.manifest.size_note
    result = BuildResult(
        name=manifests.name,
        namespace=manifests.namespace,
        image=f"{manifests.destinations[0]}@{answer.digest}",
        digest=answer.digest,
        tags=manifests.destinations,
        duration=clock.now() - submission.started,
        pod_name="",
        spec_hash=manifests.spec_hash,
        executor_image=manifests.executor_image,
        log_tail=(),
        size=tagged.manifest.image_size,
        notes=(size_note,) if size_note else (),
        reused=True,
        context_sha256=manifests.context.sha256 if manifests.context else None,
    )
    return replace(
        submission,
        how=Start.REUSED,
        options=replace(options, keep=True),
        reused=result,
        reused_from=str(answer.reference),
    )


def _ask_registry(
    cluster: Cluster, build: CompiledBuild, submission: Submission, registry: Registry
) -> RegistryAnswer | None:
    """What the registry says about this spec's image; raises ``PreflightError`` when it
    refused the secret's credentials (HTTP 401): Kaniko would be refused too, after the whole
    build. ``--force`` skips only the reuse, not this."""
    manifests = submission.manifests
    answer = registry.find_built_image(cluster, build, manifests, submission.options.kaniko)
    if answer is not None and answer.credentials_rejected:
        # Credentials are only ever sent from the destination connection's secret.
        raise PreflightError.credentials_refused(
            manifests.namespace,
            answer.reference.host,
            submission.registry_secret or "?",
            answer.reason,
        )
    return answer


def submit_build(
    cluster: Cluster,
    build: CompiledBuild,
    options: BuildOptions,
    *,
    registry: Registry = HTTP_REGISTRY,
    clock: Clock = REAL_CLOCK,
) -> Submission:
    """Check, ask the registry, create: the ``Submission`` to follow (REUSED: nothing created)."""
    from polymagic.kube.reuse import destination_secret
    from polymagic.registry import Presence

    started = clock.now()
    options = replace(options, namespace=options.namespace or cluster.namespace)
    namespace = str(options.namespace)
    manifests = _checked_manifests(cluster, build, options, namespace)
    check_pod_fields(
        manifests.pod, options.allowed_pod_fields, service_account=options.kaniko.service_account
    )
    submission = Submission(
        manifests,
        options,
        started,
        notes=manifests.warnings,
        registry_secret=destination_secret(build),
    )
    answer = _ask_registry(cluster, build, submission, registry)
    reused = _reuse(cluster, build, submission, answer, registry, clock)
    if isinstance(reused, Submission):
        return reused
    if reused:
        submission = replace(submission, notes=(*submission.notes, reused))
    if answer is not None and answer.presence is Presence.UNKNOWN and answer.status is None:
        # No HTTP answer before the build (e.g. a registry only the cluster reaches): do not
        # wait for one after it just to learn the size.
        submission = replace(submission, registry_unreachable=answer.reason)
    try:
        version = _create_objects(cluster, manifests)
    except _AlreadyRunning:
        # The second of two identical builds attaches to the first, and leaves cleanup to it.
        return replace(submission, how=Start.ATTACHED, options=replace(options, keep=True))
    return replace(submission, resource_version=version)
