"""The options of what polymagic says on an image (``--no-annotations``, ``--pin-base``) and
turning them into the executor options' :class:`~polymagic.render.annotations.ImageProvenance`,
with the git state of the folder the build came from (``polymagic.app.source_info``)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from polymagic.app.base_digest import BaseDigest
    from polymagic.registry import RegistryAuth
    from polymagic.render.build_objects import KanikoOptions
    from polymagic.render.compiler import CompiledBuild

__all__ = ["NO_ANNOTATIONS", "PIN_BASE", "asked_provenance", "with_base"]

NO_ANNOTATIONS: tuple[tuple[str, ...], dict[str, Any]] = (
    ("--no-annotations",),
    {
        "action": "store_true",
        "help": "put none of polymagic's annotations and labels (source, revision, base image,"
        " spec hash) on the image",
    },
)
"""The option's flags and ``add_argument`` keywords (``polymagic.app.arguments`` declares it
with the executor options; this module does not import that one, which imports it)."""


PIN_BASE: tuple[tuple[str, ...], dict[str, Any]] = (
    ("--pin-base",),
    {
        "action": "store_true",
        "help": "write the base image's digest into the Dockerfile (FROM image:tag@sha256:...)"
        " so the build uses exactly the base shown",
    },
)


def with_base(
    build: CompiledBuild,
    kaniko: KanikoOptions,
    args: argparse.Namespace,
    destination_auth: Callable[[str], RegistryAuth | None] | None = None,
) -> tuple[CompiledBuild, KanikoOptions, BaseDigest | None]:
    """The base image's digest, resolved now (:func:`polymagic.app.base_digest.resolve_base`),
    kept in the executor options (the image's ``base.digest`` annotation, the build's record),
    and with ``--pin-base`` written into the first Dockerfile; without it the Dockerfile stays
    byte for byte as rendered."""
    from polymagic.app.base_digest import resolve_base
    from polymagic.render.annotations import ImageProvenance, pin_base

    base = resolve_base(build, kaniko, destination_auth=destination_auth)
    if base is None or base.digest is None:
        return build, kaniko, base
    provenance = replace(kaniko.provenance or ImageProvenance(), base_digest=base.digest)
    kaniko = replace(kaniko, provenance=provenance)
    if getattr(args, "pin_base", False) and "@" not in base.image:
        first = build.dockerfiles[0]
        pinned = replace(first, text=pin_base(first.text, base.image, base.digest))
        build = replace(build, dockerfiles=(pinned, *build.dockerfiles[1:]))
    return build, kaniko, base


def asked_provenance(
    kaniko: KanikoOptions, args: argparse.Namespace, folder: Path | None
) -> KanikoOptions:
    """``kaniko`` with polymagic's annotations asked for, unless ``--no-annotations``; the
    source is ``folder``'s git state (none when there is no folder or no repository)."""
    from polymagic.app.source_info import read_source_info
    from polymagic.render.annotations import ImageProvenance

    if getattr(args, "no_annotations", False):
        return replace(kaniko, provenance=ImageProvenance(annotate=False))
    source = read_source_info(folder) if folder is not None else None
    return replace(kaniko, provenance=ImageProvenance(source=source))
