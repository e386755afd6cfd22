"""The base image's tag resolved to a digest before a build, for the plan view, the image's
``base.digest`` annotation, the build record and ``--pin-base``.

The question goes to the base image's registry through :mod:`polymagic.registry` (the one HTTP
client), within one short deadline: over plain HTTP when a connection or ``--insecure-registry``
says that registry is insecure; when the base is on the destination connection's registry, with
the credentials of that connection's Secret (what the build pulls it with, read from the
cluster by the caller), else with those the local docker config holds for it
(``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``, read bounded). An answer that is
not a digest ("can't tell": no network, a refusal, a rate limit) is a warning, never a failure:
the build goes on with the tag, as it always did.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from polymagic.registry import RegistryAuth, Transport
    from polymagic.render.build_objects import KanikoOptions
    from polymagic.render.compiler import CompiledBuild

__all__ = [
    "BASE_TIMEOUT",
    "BaseDigest",
    "base_line",
    "destination_host",
    "local_auth",
    "resolve_base",
]

BASE_TIMEOUT = 5.0
"""Seconds the base image's registry has to answer."""

_MAX_DOCKER_CONFIG = 1024 * 1024


@dataclass(frozen=True)
class BaseDigest:
    """The base image as written and, when the registry told, its digest."""

    image: str
    """The base image as the Dockerfile's ``FROM`` names it."""
    digest: str | None = None
    reason: str = ""
    """Why there is no digest (a warning for the user), "" when there is one."""

    @property
    def pinned(self) -> str | None:
        """``image@digest`` (the tag kept for people, the digest deciding), or None."""
        if self.digest is None:
            return None
        return f"{self.image.split('@', 1)[0]}@{self.digest}"


def base_line(base: BaseDigest) -> str:
    """The plan view's line: ``base image: python:3.11-slim  → sha256:…`` (or why not).

    Not written ``FROM …``: the plan is shown with ``show = "none"`` too, where no line of the
    Dockerfile may appear."""
    if base.digest is not None:
        return f"base image: {base.image}  → {base.digest}"
    return f"base image: {base.image}  → digest unknown: {base.reason}"


def destination_host(build: CompiledBuild) -> str | None:
    """The registry host of the destination param's connection (its schema's ``url``)."""
    param = build.params.get("destination")
    connection = build.connections.get(param.connection) if param and param.connection else None
    url = (connection.schema_ or {}).get("url") if connection is not None else None
    if not isinstance(url, str) or not url:
        return None
    return url.split("://", 1)[-1].split("/", 1)[0]


def local_auth(host: str) -> RegistryAuth | None:
    """The credentials the local docker config holds for ``host`` (at most 1 MiB read; a
    file that cannot be read or used is no credentials)."""
    from polymagic.errors import ConnectionsError
    from polymagic.registry import RegistryAuth

    folder = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    path = Path(folder) / "config.json"
    try:
        with path.open("rb") as handle:
            text = handle.read(_MAX_DOCKER_CONFIG + 1)
        if len(text) > _MAX_DOCKER_CONFIG:
            return None
        return RegistryAuth.from_docker_config(json.loads(text), host)
    except (OSError, ValueError, ConnectionsError, RecursionError):
        return None


def resolve_base(
    build: CompiledBuild,
    kaniko: KanikoOptions,
    *,
    timeout: float = BASE_TIMEOUT,
    transport: Transport | None = None,
    destination_auth: Callable[[str], RegistryAuth | None] | None = None,
) -> BaseDigest | None:
    """The digest of ``build``'s base image (its first Dockerfile's last stage); None when
    there is no base to resolve (no Dockerfile, ``scratch``, a ``FROM`` with a build arg).

    When the base is on the destination connection's registry, ``destination_auth(host)``
    gives the credentials the build itself pulls it with (its Secret's); the local docker
    config's are asked for when it gives none."""
    from polymagic.errors import SpecError
    from polymagic.registry import ImageReference, Presence, check_image
    from polymagic.render.annotations import base_image_of
    from polymagic.render.executor_args import insecure_registries

    if not build.dockerfiles:
        return None
    image = base_image_of(build.dockerfiles[0].text)
    if image is None:
        return None
    try:
        reference = ImageReference.parse(image)
    except SpecError as error:
        return BaseDigest(image, reason=str(error))
    if reference.digest is not None:
        return BaseDigest(image, reference.digest)
    insecure = reference.host in {*kaniko.insecure_registries, *insecure_registries(build)}
    auth = None
    if destination_auth is not None and reference.host == destination_host(build):
        auth = destination_auth(reference.host)
    answer = check_image(
        reference,
        auth=auth or local_auth(reference.host),
        insecure=insecure,
        skip_tls_verify=reference.host in kaniko.skip_tls_verify_registries,
        timeout=timeout,
        transport=transport,
    )
    if answer.presence is Presence.EXISTS and answer.digest:
        return BaseDigest(image, answer.digest)
    if answer.presence is Presence.MISSING:
        return BaseDigest(image, reason=f"the registry has no such image ({answer.reason})")
    return BaseDigest(image, reason=f"can't tell ({answer.reason})")
