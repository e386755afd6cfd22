"""Reusing an image built from the same spec: before submitting, ask the destination's
registry whether ``<repository>:spec-<hash>`` exists.

Three answers (exists / missing / can't tell); only "exists" skips the build. The registry is
asked with the credentials of the destination connection's secret when polymagic may read it;
they stay in memory and are never shown. I/O: one secret read through the cluster layer and
one registry check, bounded by one deadline. Whatever goes wrong in it ends as "can't tell"
with its reason: the build then goes on, it never crashes on the registry's account.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from polymagic.cluster import Cluster
from polymagic.compiler import CompiledBuild
from polymagic.errors import ApiError, ClusterError, ConnectionsError, SpecError
from polymagic.manifests import BuildManifests, KanikoOptions, hash_tag_of, registry_host
from polymagic.registry import ImageReference, Presence, RegistryAnswer, RegistryAuth, check_image

__all__ = ["find_built_image"]


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


def _destination_secret(build: CompiledBuild) -> str | None:
    param = build.params.get("destination")
    connection = build.connections.get(param.connection) if param and param.connection else None
    return connection.secret.name if connection is not None and connection.secret else None


def find_built_image(
    cluster: Cluster,
    build: CompiledBuild,
    manifests: BuildManifests,
    kaniko: KanikoOptions,
    *,
    timeout: float = 10,
) -> RegistryAnswer | None:
    """What the registry says about this spec's hash tag (None when there is nothing to ask:
    no destination, or hash tags turned off)."""
    if not manifests.destinations or not kaniko.hash_tag:
        return None
    destination = manifests.destinations[0]
    try:
        reference = ImageReference.parse(hash_tag_of(destination, manifests.image_hash))
    except SpecError:
        return None
    try:
        return _ask(cluster, build, manifests, reference, registry_host(destination), timeout)
    except Exception as exc:  # a registry's answer must never end `polymagic build`
        return RegistryAnswer(
            Presence.UNKNOWN,
            reference,
            reason=f"the registry check failed ({type(exc).__name__})",
        )


def _ask(
    cluster: Cluster,
    build: CompiledBuild,
    manifests: BuildManifests,
    reference: ImageReference,
    host: str,
    timeout: float,
) -> RegistryAnswer:
    auth = None
    secret = _destination_secret(build)
    if secret is not None:
        config = _docker_config(cluster, manifests.namespace, secret)
        if config is not None:
            try:
                auth = RegistryAuth.from_docker_config(config, host)
            except ConnectionsError:
                auth = None
    # The pod's args already name every registry to reach over plain HTTP or without TLS
    # verification (from the options and from the connections): ask the registry the same way.
    args = manifests.pod["spec"]["containers"][0].get("args", [])
    insecure = f"--insecure-registry={host}" in args
    skip_tls_verify = f"--skip-tls-verify-registry={host}" in args
    return check_image(
        reference,
        auth=auth,
        insecure=insecure,
        skip_tls_verify=skip_tls_verify,
        timeout=timeout,
    )
