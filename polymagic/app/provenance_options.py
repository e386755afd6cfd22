"""The options of what polymagic says on an image (``--no-annotations``, ``--pin-base``) and
turning them into the executor options' :class:`~polymagic.render.annotations.ImageProvenance`,
with the git state of the folder the build came from (``polymagic.app.source_info``)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polymagic.render.build_objects import KanikoOptions

__all__ = ["NO_ANNOTATIONS", "asked_provenance"]

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


def asked_provenance(
    kaniko: KanikoOptions, args: argparse.Namespace, folder: Path | None
) -> KanikoOptions:
    """``kaniko`` with polymagic's annotations asked for, unless ``--no-annotations``; the
    source is ``folder``'s git state (none when there is no folder or no repository)."""
    from polymagic.app.source_info import read_source_info
    from polymagic.render.annotations import ImageProvenance

    if getattr(args, "no_annotations", False):
        return replace(kaniko, provenance=None)
    source = read_source_info(folder) if folder is not None else None
    return replace(kaniko, provenance=ImageProvenance(source=source))
