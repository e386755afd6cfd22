"""``inspect``: what an image in a registry says about itself, for both front ends: its digest,
manifest, config, annotations and labels (:func:`polymagic.registry.image_reading.read_image`,
with the local docker config's credentials), as lines for a terminal or rows for a table."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from polymagic.app.arguments import option

if TYPE_CHECKING:
    from polymagic.registry.image_reading import ImageDetails

__all__ = ["INSPECT_OPTIONS", "details_lines", "details_rows", "inspect_image"]

INSPECT_OPTIONS = (
    option("image", metavar="IMAGE", help="the image: registry/repository[:tag][@sha256:...]"),
    option("-o", "--output", choices=("text", "json"), default="text", help="output format"),
    option("--insecure", action="store_true", help="talk plain HTTP to the registry"),
    option(
        "--skip-tls-verify", action="store_true", help="do not verify the registry's certificate"
    ),
    option("--ca-file", metavar="FILE", help="a CA to trust for the registry"),
    option(
        "--platform",
        default="linux/amd64",
        metavar="OS/ARCH",
        help="under a multi-platform index, the manifest to read (default: linux/amd64)",
    ),
    option("--registry-timeout", type=float, default=20.0, metavar="SECONDS", help="deadline"),
)
"""``polymagic inspect``'s and ``%polybuild inspect``'s options."""


def inspect_image(args: argparse.Namespace) -> ImageDetails:
    """Read ``args.image`` from its registry; never raises for I/O (an invalid reference
    raises :class:`~polymagic.errors.SpecError`)."""
    from polymagic.app.base_digest import local_auth
    from polymagic.registry import ImageReference
    from polymagic.registry.image_reading import read_image

    reference = ImageReference.parse(args.image)
    return read_image(
        reference,
        auth=local_auth(reference.host),
        insecure=bool(args.insecure),
        skip_tls_verify=bool(args.skip_tls_verify),
        ca_file=args.ca_file,
        timeout=max(1.0, min(float(args.registry_timeout), 600.0)),
        platform=str(args.platform),
    )


def details_rows(details: ImageDetails) -> list[tuple[str, str]]:
    """What the image says, as (what, value) rows, in a fixed order."""
    rows = [("image", str(details.reference))]
    if details.digest:
        rows.append(("digest", details.digest))
    if details.media_type:
        rows.append(("media type", details.media_type))
    if details.platforms:
        rows.append(("platforms", ", ".join(details.platforms)))
        rows.append(("platform read", f"{details.platform} ({details.manifest_digest})"))
    config = details.config
    if details.config_digest:
        rows.append(("config", details.config_digest))
    for key in ("created", "os", "architecture"):
        if isinstance(config.get(key), str):
            rows.append((key, str(config[key])))
    if details.layers:
        sizes = [size for _, size in details.layers if size is not None]
        total = f", {sum(sizes):,} bytes" if len(sizes) == len(details.layers) else ""
        rows.append(("layers", f"{len(details.layers)}{total}"))
    rows += [(f"annotation {key}", value) for key, value in details.annotations.items()]
    rows += [(f"label {key}", value) for key, value in details.labels.items()]
    if details.reason:
        rows.append(("not read", details.reason))
    return rows


def details_lines(details: ImageDetails) -> list[str]:
    """The rows as aligned text lines for a terminal."""
    rows = details_rows(details)
    width = min(max(len(what) for what, _ in rows), 48)
    return [f"{what.ljust(width)}  {value}" for what, value in rows]
