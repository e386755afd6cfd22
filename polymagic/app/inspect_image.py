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
    from collections.abc import Sequence

    from polymagic.registry.image_reading import ImageDetails

__all__ = [
    "INSPECT_OPTIONS",
    "AttachedSbom",
    "attached_sbom",
    "attachments",
    "details_lines",
    "details_rows",
    "inspect_image",
]

_MAX_SBOM = 64 * 1024 * 1024
_KINDS = {
    "sbom": ("application/vnd.cyclonedx+json", ".sbom"),
    "provenance": ("application/vnd.in-toto+json", ".att"),
}
"""Each attachment's artifact type and the suffix of its tag under cosign's scheme."""

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
    kind: str = "sbom"
    """``sbom`` or ``provenance``."""
    verified: bool = False
    """Its artifact's ``subject`` and its document's own component both name the image's digest."""
    note: str = ""
    way: str = ""
    """How it is attached: as an OCI referrer or under the tag scheme ("" when not found)."""

    def row(self) -> tuple[str, str]:
        if not self.found:
            return (self.kind, f"none attached ({self.note})" if self.note else "none attached")
        if self.verified:
            plural = "" if self.components == 1 else "s"
            count = f" {self.components} component{plural};" if self.kind == "sbom" else ""
            how = f" ({self.way})" if self.way else ""
            return (self.kind, f"{self.reference}{how}:{count} its subject is this image")
        return (self.kind, f"{self.reference}: NOT about this image: {self.note}")


def attached_sbom(
    details: ImageDetails, args: argparse.Namespace, kind: str = "sbom"
) -> AttachedSbom | None:
    """The SBOM (``kind="sbom"``) or the provenance statement (``kind="provenance"``)
    attached next to the image, found among its OCI referrers or under the tag scheme
    (``sha256-<hex>.sbom``, ``.att``; :func:`polymagic.registry.referrers.find_artifact`), read
    and checked: its artifact's subject and what the document says it describes must both be
    the image's digest."""
    from polymagic.app.base_digest import local_auth
    from polymagic.app.sbom_command import access_options
    from polymagic.registry.image_reading import read_image
    from polymagic.registry.referrers import find_artifact, tag_for
    from polymagic.registry.repository_access import RegistryError, RepositoryAccess

    if details.digest is None:
        return None
    artifact_type, suffix = _KINDS[kind]
    ref = details.reference
    access = access_options(args, most=600.0)
    auth = local_auth(ref.host)
    try:
        with RepositoryAccess(ref, auth=auth, **access) as registry:
            found = find_artifact(registry, details.digest, artifact_type, suffix)
    except RegistryError as error:
        tagged = f"{ref.name}:{tag_for(details.digest, suffix)}"
        return AttachedSbom(tagged, False, kind=kind, note=str(error))
    if found is None:
        return AttachedSbom(f"{ref.name}:{tag_for(details.digest, suffix)}", False, kind=kind)
    where, shown = found.reference, str(found.reference)
    artifact = read_image(where, auth=auth, **access)
    if artifact.reason:
        return AttachedSbom(shown, False, kind=kind, note=artifact.reason)
    subject = artifact.manifest.get("subject")
    subject_digest = subject.get("digest") if isinstance(subject, dict) else None
    if not artifact.layers or artifact.layers[0][1] is None or artifact.layers[0][1] > _MAX_SBOM:
        return AttachedSbom(shown, True, kind=kind, note="its artifact holds no document")
    digest, size = artifact.layers[0]
    try:
        with RepositoryAccess(where, auth=auth, **access) as registry:
            stream = registry.blob(digest, size or 0)
            body = b"".join(iter(lambda: stream.read(1 << 20), b""))
        document = json.loads(body)
    except (RegistryError, ValueError, RecursionError) as error:
        return AttachedSbom(shown, True, kind=kind, note=f"it cannot be read ({error})")
    described = _described(document, kind)
    count = len(document.get("components") or []) if isinstance(document, dict) else 0
    if subject_digest != details.digest or described != details.digest:
        note = f"its subject is {subject_digest} and it describes {described}, not {details.digest}"
        return AttachedSbom(shown, True, count, kind, False, note, found.way.value)
    return AttachedSbom(shown, True, count, kind, True, way=found.way.value)


def _described(document: Any, kind: str) -> str | None:
    """The digest a CycloneDX document or an in-toto statement says it is about."""
    if not isinstance(document, dict):
        return None
    if kind == "sbom":
        metadata = document.get("metadata")
        component = metadata.get("component") if isinstance(metadata, dict) else None
        version = component.get("version") if isinstance(component, dict) else None
        return version if isinstance(version, str) else None
    subjects = document.get("subject")
    first = subjects[0] if isinstance(subjects, list) and subjects else None
    digests = first.get("digest") if isinstance(first, dict) else None
    value = digests.get("sha256") if isinstance(digests, dict) else None
    return f"sha256:{value}" if isinstance(value, str) else None


def attachments(details: ImageDetails, args: argparse.Namespace) -> list[AttachedSbom]:
    """The SBOM and the provenance attached next to the image, each read and checked."""
    if details.reason:
        return []
    found = [attached_sbom(details, args, kind) for kind in ("sbom", "provenance")]
    return [item for item in found if item is not None]


def inspect_image(args: argparse.Namespace) -> ImageDetails:
    """Read ``args.image`` from its registry; never raises for I/O (an invalid reference
    raises :class:`~polymagic.errors.SpecError`)."""
    from polymagic.app.base_digest import local_auth
    from polymagic.app.sbom_command import access_options
    from polymagic.registry import ImageReference
    from polymagic.registry.image_reading import read_image

    reference = ImageReference.parse(args.image)
    return read_image(
        reference,
        auth=local_auth(reference.host),
        platform=str(args.platform),
        **access_options(args, most=600.0),
    )


def details_rows(
    details: ImageDetails, attached: Sequence[AttachedSbom] = ()
) -> list[tuple[str, str]]:
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
    rows += [found.row() for found in attached]
    if details.reason:
        rows.append(("not read", details.reason))
    return rows


def details_lines(details: ImageDetails, attached: Sequence[AttachedSbom] = ()) -> list[str]:
    """The rows as aligned text lines for a terminal."""
    rows = details_rows(details, attached)
    width = min(max(len(what) for what, _ in rows), 48)
    return [f"{what.ljust(width)}  {value}" for what, value in rows]
