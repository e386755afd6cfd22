"""``sbom``: the exact SBOM of an image already in a registry, made from its own layers, as
CycloneDX 1.6 JSON; optionally attached to the image (an OCI artifact whose ``subject`` is the
image: a referrer where the registry serves the referrers API, else under the tag scheme cosign
uses, ``<repository>:sha256-<hex>.sbom``; ``polymagic.registry.referrers``).

The layers are read as streams in byte ranges through the registry client (each layer's digest
checked when it has been read through), scanned with the bounds of
:class:`polymagic.outcome.sbom_layers.LayerBounds`; a layer that cannot be read is a warning in
the document, not a failure. The base image and its digest come from the image's own
``base.name`` / ``base.digest`` annotations when polymagic built it."""

from __future__ import annotations

import argparse
import io
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polymagic.app.arguments import option
from polymagic.errors import UsageError

if TYPE_CHECKING:
    from polymagic.registry import RegistryAuth

__all__ = ["SBOM_OPTIONS", "ImageSbom", "access_options", "attach_sbom", "image_sbom", "sbom_tag"]

ARTIFACT_TYPE = "application/vnd.cyclonedx+json"

SBOM_OPTIONS = (
    option("image", metavar="IMAGE", help="the image: registry/repository[:tag][@sha256:...]"),
    option("-o", "--output", metavar="FILE", help="write the SBOM here (default: stdout)"),
    option(
        "--attach",
        action="store_true",
        help="push it next to the image (an OCI referrer, else tag sha256-<hex>.sbom)",
    ),
    option("--insecure", action="store_true", help="talk plain HTTP to the registry"),
    option(
        "--skip-tls-verify", action="store_true", help="do not verify the registry's certificate"
    ),
    option("--ca-file", metavar="FILE", help="a CA to trust for the registry"),
    option("--registry-timeout", type=float, default=300.0, metavar="SECONDS", help="deadline"),
)


@dataclass(frozen=True)
class ImageSbom:
    """An image's SBOM: the document, its bytes, and what the image is."""

    image: str
    """``host/repository@digest``."""
    digest: str
    manifest_media_type: str
    manifest_size: int
    document: dict[str, Any]
    body: bytes
    warnings: tuple[str, ...]


def sbom_tag(digest: str) -> str:
    """The tag an SBOM of ``digest`` is attached under (cosign's scheme)."""
    return digest.replace(":", "-") + ".sbom"


def access_options(args: argparse.Namespace, *, most: float = 3600.0) -> dict[str, Any]:
    """How the registry is reached, from the registry options every command that reads an
    image shares (``--insecure``, ``--skip-tls-verify``, ``--ca-file``, ``--registry-timeout``,
    its deadline kept between 1 s and ``most``): keywords of ``RepositoryAccess`` and
    ``read_image``."""
    return {
        "insecure": bool(args.insecure),
        "skip_tls_verify": bool(args.skip_tls_verify),
        "ca_file": args.ca_file,
        "timeout": max(1.0, min(float(args.registry_timeout), most)),
    }


def image_sbom(
    args: argparse.Namespace, auth: RegistryAuth | None = None, imported: Collection[str] = ()
) -> ImageSbom:
    """Read ``args.image``'s layers from its registry and make its SBOM, with ``auth`` (when
    None, the local docker config's credentials for that registry); ``imported``: the Python
    distributions the notebook's code imported (``freeze_command.kernel_imports``)."""
    from polymagic.app.base_digest import local_auth
    from polymagic.outcome.cyclonedx import sbom_document, sbom_json
    from polymagic.outcome.sbom_layers import Inventory, scan_layer
    from polymagic.registry import ImageReference
    from polymagic.registry.image_reading import read_image
    from polymagic.registry.repository_access import CHUNK, RegistryError, RepositoryAccess

    reference = ImageReference.parse(args.image)
    auth = auth or local_auth(reference.host)
    options = access_options(args)
    details = read_image(reference, auth=auth, **options)
    if details.reason or details.digest is None:
        raise UsageError(f"cannot read {reference}: {details.reason}")
    inventory = Inventory()
    with RepositoryAccess(reference, auth=auth, **options) as access:
        for digest, size in details.layers:
            if size is None:
                inventory.warnings.append(f"layer {digest[:19]}: the manifest gives no size")
                continue
            try:
                stream = access.blob(digest, size)
                scan_layer(io.BufferedReader(stream, CHUNK), inventory, name=digest[:19])
                while stream.read(CHUNK):  # the rest, so that the digest is checked
                    pass
            except RegistryError as error:
                inventory.warnings.append(f"layer {digest[:19]}: {error}")
    annotations = details.annotations
    document = sbom_document(
        image=reference.name,
        digest=details.digest,
        packages=inventory.packages(),
        base=annotations.get("org.opencontainers.image.base.name"),
        base_digest=annotations.get("org.opencontainers.image.base.digest"),
        timestamp=annotations.get("org.opencontainers.image.created"),
        warnings=inventory.warnings,
        imported=imported,
    )
    return ImageSbom(
        image=f"{reference.name}@{details.digest}",
        digest=details.digest,
        manifest_media_type=details.media_type,
        manifest_size=details.size or 0,
        document=document,
        body=sbom_json(document),
        warnings=tuple(inventory.warnings),
    )


def attach_sbom(sbom: ImageSbom, args: argparse.Namespace) -> str:
    """Push ``sbom`` next to its image (an OCI referrer where the registry serves the referrers
    API, else the tag ``sha256-<hex>.sbom``); where it is and how it was attached."""
    from polymagic.app.base_digest import local_auth
    from polymagic.registry import ImageReference
    from polymagic.registry.referrers import Subject, attach_artifact
    from polymagic.registry.repository_access import RepositoryAccess

    reference = ImageReference.parse(sbom.image)
    subject = Subject(sbom.digest, sbom.manifest_media_type, sbom.manifest_size)
    with RepositoryAccess(
        reference, auth=local_auth(reference.host), **access_options(args)
    ) as access:
        return str(attach_artifact(access, subject, sbom.body, ARTIFACT_TYPE, ".sbom"))
