"""An image's SBOM as a CycloneDX 1.6 JSON document: the image (by digest) as the described
component, its base image, and every package the layers hold (``polymagic.outcome.sbom_layers``)
with its ``purl``; a Python package the notebook's code imported (as ``freeze`` recorded it) has
the property ``polymagic:imported-by-kernel``. Deterministic: the same image and packages give the same bytes (the serial
number is derived from the digest; the timestamp is the one given). Pure."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from packaging.utils import canonicalize_name

from polymagic._version import __version__
from polymagic.outcome.sbom_layers import Package

__all__ = ["IMPORTED_PROPERTY", "SPEC_VERSION", "sbom_document", "sbom_json"]

SPEC_VERSION = "1.6"
IMPORTED_PROPERTY = "polymagic:imported-by-kernel"
"""On a ``pypi`` component the notebook's code imported (value ``true``)."""
_NAMESPACE = uuid.UUID("7d8f4f2e-6a55-4d3c-9a61-0c1f3a3b9e41")


def _oci_purl(repository: str, digest: str, repository_url: str) -> str:
    name = repository.rsplit("/", 1)[-1]
    return f"pkg:oci/{name}@{digest.replace(':', '%3A')}?repository_url={repository_url}"


def sbom_document(
    *,
    image: str,
    digest: str,
    packages: Sequence[Package],
    base: str | None = None,
    base_digest: str | None = None,
    timestamp: str | None = None,
    warnings: Sequence[str] = (),
    imported: Collection[str] = (),
) -> dict[str, Any]:
    """The CycloneDX document of ``image`` (``host/repository``) at ``digest``; ``imported``:
    canonical names of the Python distributions the notebook's code imported."""
    host_repository = image.split("@", 1)[0]
    described: dict[str, Any] = {
        "type": "container",
        "bom-ref": f"image:{digest}",
        "name": host_repository,
        "version": digest,
        "hashes": [{"alg": "SHA-256", "content": digest.removeprefix("sha256:")}],
        "purl": _oci_purl(host_repository, digest, host_repository),
    }
    metadata: dict[str, Any] = {
        "tools": {
            "components": [{"type": "application", "name": "polymagic", "version": __version__}]
        },
        "component": described,
    }
    if timestamp:
        metadata["timestamp"] = timestamp
    if warnings:
        metadata["properties"] = [
            {"name": "polymagic:warning", "value": warning} for warning in warnings[:100]
        ]
    components: list[dict[str, Any]] = []
    if base:
        base_component: dict[str, Any] = {
            "type": "container",
            "bom-ref": f"base:{base}",
            "name": base,
        }
        if base_digest:
            base_component["version"] = base_digest
            base_component["hashes"] = [
                {"alg": "SHA-256", "content": base_digest.removeprefix("sha256:")}
            ]
        components.append(base_component)
    components += [_component(package, imported) for package in packages]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_NAMESPACE, digest)}",
        "version": 1,
        "metadata": metadata,
        "components": components,
    }


def _component(package: Package, imported: Collection[str] = ()) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": package.purl,
        "name": package.name,
        "version": package.version,
        "purl": package.purl,
    }
    if package.licence:
        component["licenses"] = (
            [{"expression": package.licence}]
            if _is_expression(package.licence)
            else [{"license": {"name": package.licence}}]
        )
    properties = []
    if package.path:
        properties.append({"name": "polymagic:path", "value": package.path})
    if package.kind == "pypi" and canonicalize_name(package.name) in imported:
        properties.append({"name": IMPORTED_PROPERTY, "value": "true"})
    if properties:
        component["properties"] = properties
    return component


def _is_expression(text: str) -> bool:
    """Whether a licence reads as an SPDX expression (``MIT``, ``Apache-2.0 OR MIT``: licence
    ids joined by AND / OR / WITH), not prose (``MIT License``, a whole licence text)."""
    words = text.replace("(", " ").replace(")", " ").split()
    if not words or len(text) > 200 or len(words) % 2 == 0:
        return False
    ids, operators = words[0::2], words[1::2]
    return all(op in ("AND", "OR", "WITH") for op in operators) and all(
        all(c.isalnum() or c in ".-+" for c in word) for word in ids
    )


def sbom_json(document: dict[str, Any]) -> bytes:
    """The document's bytes: sorted keys, two-space indent, a final newline."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
