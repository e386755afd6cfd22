"""What polymagic asks the destination's registry around a build: before submitting, whether
``<repository>:spec-<hash>`` exists (and whether the credentials work); when it does, point the
requested tags at it; after a build, the pushed image's size.

The check has three answers (exists / missing / can't tell); only "exists" skips the build, and
only when every requested tag can be made to point at the existing image (else the build goes
on, with a note saying why). A registry that answers 401 to the credentials of the destination
connection's secret is the one answer that stops the build before anything is created: Kaniko
would fail with it after the whole build.

Credentials come from the destination connection's secret when polymagic may read it; they are
read for each question, stay in memory and are never shown. I/O: secret reads through the
cluster layer, and registry requests bounded by one deadline each. Whatever goes wrong in them
ends as an answer with its reason: it never crashes a build on the registry's account.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polymagic.errors import ApiError, ClusterError, ConnectionsError, SpecError
from polymagic.kube.api import Cluster
from polymagic.registry import (
    ImageReference,
    ManifestAnswer,
    Presence,
    RegistryAnswer,
    RegistryAuth,
    check_image,
    read_manifest,
    tag_manifest,
)
from polymagic.render.build_objects import BuildManifests, KanikoOptions, hash_tag_of, registry_host

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild

__all__ = [
    "RegistryAccess",
    "destination_secret",
    "find_built_image",
    "pushed_image_size",
    "registry_access",
    "secret_auth",
    "tag_destinations",
]


@dataclass(frozen=True, repr=False)
class RegistryAccess:
    """How a build reaches one registry: the credentials of the destination connection's secret
    (when readable) and the pod's ``--insecure-registry`` / ``--skip-tls-verify-registry``."""

    host: str
    auth: RegistryAuth | None
    insecure: bool
    skip_tls_verify: bool
    secret: str | None
    """The secret the credentials came from (None: no secret, or not readable)."""

    def __repr__(self) -> str:
        return f"RegistryAccess({self.host}, {self.auth!r}, secret={self.secret})"


def _docker_config(cluster: Cluster, namespace: str, secret: str) -> dict[str, Any] | None:
    """The docker config JSON a registry secret holds, or None when it cannot be read."""
    try:
        data = cluster.read_secret_data(namespace, secret)
    except (ApiError, ClusterError):
        return None
    for key in (".dockerconfigjson", "config.json", ".dockercfg"):
        if key in data:
            try:
                decoded = json.loads(base64.b64decode(data[key]))
            except (ValueError, TypeError):
                return None
            return decoded if isinstance(decoded, dict) else None
    return None


def destination_secret(build: CompiledBuild) -> str | None:
    """The secret of the destination param's connection, if it has one."""
    param = build.params.get("destination")
    connection = build.connections.get(param.connection) if param and param.connection else None
    return connection.secret.name if connection is not None and connection.secret else None


def secret_auth(cluster: Cluster, namespace: str, secret: str, host: str) -> RegistryAuth | None:
    """The credentials ``secret`` holds for ``host`` (None when it cannot be read or has none)."""
    config = _docker_config(cluster, namespace, secret)
    if config is None:
        return None
    try:
        return RegistryAuth.from_docker_config(config, host)
    except ConnectionsError:
        return None


def registry_access(
    cluster: Cluster, manifests: BuildManifests, secret: str | None, host: str
) -> RegistryAccess:
    """How to reach ``host`` for this build (reads ``secret`` now)."""
    auth = secret_auth(cluster, manifests.namespace, secret, host) if secret else None
    # The pod's args already name every registry to reach over plain HTTP or without TLS
    # verification (from the options and from the connections): ask the registry the same way.
    args = manifests.pod["spec"]["containers"][0].get("args", [])
    return RegistryAccess(
        host=host,
        auth=auth,
        insecure=f"--insecure-registry={host}" in args,
        skip_tls_verify=f"--skip-tls-verify-registry={host}" in args,
        secret=secret if auth is not None else None,
    )


def find_built_image(
    cluster: Cluster,
    build: CompiledBuild,
    manifests: BuildManifests,
    kaniko: KanikoOptions,
    *,
    timeout: float = 10,
) -> RegistryAnswer | None:
    """What the registry says about this spec's hash tag (None when there is nothing to ask:
    no destination). With hash tags turned off the first destination itself is asked, only
    to learn whether the credentials work (``credentials_rejected``)."""
    if not manifests.destinations:
        return None
    destination = manifests.destinations[0]
    asked = hash_tag_of(destination, manifests.spec_hash) if kaniko.hash_tag else destination
    try:
        reference = ImageReference.parse(asked)
    except SpecError:
        return None
    try:
        access = registry_access(
            cluster, manifests, destination_secret(build), registry_host(destination)
        )
        return check_image(
            reference,
            auth=access.auth,
            insecure=access.insecure,
            skip_tls_verify=access.skip_tls_verify,
            timeout=timeout,
        )
    except Exception as exc:  # a registry's answer must never end `polymagic build`
        return RegistryAnswer(
            Presence.UNKNOWN,
            reference,
            reason=f"the registry check failed ({type(exc).__name__})",
        )


def _requested_tags(manifests: BuildManifests, found: ImageReference) -> list[ImageReference]:
    """The tags a build would push (``:latest`` when a destination names none), but the spec
    tag the image was found under."""
    tags = []
    for destination in manifests.destinations:
        try:
            reference = ImageReference.parse(destination)
        except SpecError:
            continue
        if reference.tag is None or (reference.name, reference.tag) == (found.name, found.tag):
            continue
        tags.append(ImageReference(reference.host, reference.repository, tag=reference.tag))
    return tags


def tag_destinations(
    cluster: Cluster,
    build: CompiledBuild,
    manifests: BuildManifests,
    found: RegistryAnswer,
    *,
    timeout: float = 10,
) -> ManifestAnswer:
    """Point every requested destination tag at the image ``found`` under the spec tag, and
    read its manifest (for its size). Not ``ok`` when a tag could not be set: then the
    image must be built (and pushed) as asked."""
    if found.digest is None:
        return ManifestAnswer(None, "the registry gave no digest")
    source = ImageReference(found.reference.host, found.reference.repository, digest=found.digest)
    tags = _requested_tags(manifests, found.reference)
    elsewhere = [t for t in tags if t.host != source.host]
    if elsewhere:
        return ManifestAnswer(None, f"`{elsewhere[0]}` is on another registry than {source.host}")
    try:
        access = registry_access(cluster, manifests, destination_secret(build), source.host)
        return tag_manifest(
            source,
            tags,
            auth=access.auth,
            insecure=access.insecure,
            skip_tls_verify=access.skip_tls_verify,
            timeout=timeout,
        )
    except Exception as exc:  # as in find_built_image: an answer, never a crash
        return ManifestAnswer(None, f"tagging failed ({type(exc).__name__})")


def pushed_image_size(
    cluster: Cluster,
    manifests: BuildManifests,
    secret: str | None,
    image: str,
    *,
    timeout: float = 5,
) -> tuple[int | None, str]:
    """The size of ``image`` (``registry/repository@sha256:...``) as its manifest gives it
    (config plus layers), or None and why the registry could not tell."""
    try:
        reference = ImageReference.parse(image)
        reference = ImageReference(reference.host, reference.repository, digest=reference.digest)
        access = registry_access(cluster, manifests, secret, reference.host)
        answer = read_manifest(
            reference,
            auth=access.auth,
            insecure=access.insecure,
            skip_tls_verify=access.skip_tls_verify,
            timeout=timeout,
        )
    except Exception as exc:  # the image was pushed: its size is a nicety, never a failure
        return (
            None,
            f"the image's size is unknown: reading its manifest failed ({type(exc).__name__})",
        )
    if answer.manifest is None:
        return None, f"the image's size is unknown: {answer.reason}"
    return answer.manifest.image_size, answer.manifest.size_note
