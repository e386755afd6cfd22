"""``inspect``: what an image in a registry says about itself, for both front ends: its digest,
manifest, config, annotations and labels (:func:`polymagic.registry.image_reading.read_image`,
with the local docker config's credentials), as lines for a terminal or rows for a table."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polymagic.app.arguments import option

if TYPE_CHECKING:
    from polymagic.registry.image_reading import ImageDetails

__all__ = [
    "INSPECT_OPTIONS",
    "AttachedSbom",
    "attached_sbom",
    "details_lines",
    "details_rows",
    "inspect_image",
]

_MAX_SBOM = 64 * 1024 * 1024

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


@dataclass(frozen=True)
class AttachedSbom:
    """What the SBOM attached next to an image says, and whether it is about that image."""

    reference: str
    found: bool
    components: int = 0
    verified: bool = False
    """Its artifact's ``subject`` and its document's own component both name the image's digest."""
    note: str = ""

    def row(self) -> tuple[str, str]:
        if not self.found:
            return ("sbom", f"none attached ({self.note})" if self.note else "none attached")
        if self.verified:
            return (
                "sbom",
                f"{self.reference}: {self.components} components; its subject is this image",
            )
        return ("sbom", f"{self.reference}: NOT about this image: {self.note}")


def attached_sbom(details: ImageDetails, args: argparse.Namespace) -> AttachedSbom | None:
    """The SBOM attached under ``sha256-<hex>.sbom`` next to the image, read and checked."""
    from polymagic.app.base_digest import local_auth
    from polymagic.app.sbom_command import sbom_tag
    from polymagic.registry import ImageReference
    from polymagic.registry.image_reading import read_image
    from polymagic.registry.repository_access import RegistryError, RepositoryAccess

    if details.digest is None:
        return None
    ref = details.reference
    where = ImageReference(ref.host, ref.repository, tag=sbom_tag(details.digest))
    access: dict[str, Any] = {
        "insecure": bool(args.insecure),
        "skip_tls_verify": bool(args.skip_tls_verify),
        "ca_file": args.ca_file,
        "timeout": max(1.0, min(float(args.registry_timeout), 600.0)),
    }
    auth = local_auth(ref.host)
    artifact = read_image(where, auth=auth, **access)
    if artifact.reason:
        return AttachedSbom(
            str(where), False, note="" if "HTTP 404" in artifact.reason else artifact.reason
        )
    subject = artifact.manifest.get("subject")
    subject_digest = subject.get("digest") if isinstance(subject, dict) else None
    if not artifact.layers or artifact.layers[0][1] is None or artifact.layers[0][1] > _MAX_SBOM:
        return AttachedSbom(str(where), True, note="its artifact holds no readable SBOM")
    digest, size = artifact.layers[0]
    try:
        with RepositoryAccess(where, auth=auth, **access) as registry:
            stream = registry.blob(digest, size or 0)
            body = b"".join(iter(lambda: stream.read(1 << 20), b""))
        document = json.loads(body)
    except (RegistryError, ValueError, RecursionError) as error:
        return AttachedSbom(str(where), True, note=f"its SBOM cannot be read ({error})")
    component = (
        document.get("metadata", {}).get("component", {}) if isinstance(document, dict) else {}
    )
    described = component.get("version") if isinstance(component, dict) else None
    count = len(document.get("components") or []) if isinstance(document, dict) else 0
    if subject_digest != details.digest or described != details.digest:
        note = f"its subject is {subject_digest} and it describes {described}, not {details.digest}"
        return AttachedSbom(str(where), True, count, False, note)
    return AttachedSbom(str(where), True, count, True)


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


def details_rows(details: ImageDetails, sbom: AttachedSbom | None = None) -> list[tuple[str, str]]:
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
    if sbom is not None:
        rows.append(sbom.row())
    if details.reason:
        rows.append(("not read", details.reason))
    return rows


def details_lines(details: ImageDetails, sbom: AttachedSbom | None = None) -> list[str]:
    """The rows as aligned text lines for a terminal."""
    rows = details_rows(details, sbom)
    width = min(max(len(what) for what, _ in rows), 48)
    return [f"{what.ljust(width)}  {value}" for what, value in rows]
