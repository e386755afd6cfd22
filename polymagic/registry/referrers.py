"""Artifacts about an image (its SBOM, its provenance) attached next to it in its repository:
as an OCI 1.1 referrer where the registry serves the referrers API, else under the tag scheme
cosign uses (``sha256-<hex>.sbom``, ``sha256-<hex>.att``).

Either way the artifact is an OCI image manifest whose ``artifactType`` says what it holds,
whose one layer is the document and whose ``subject`` is the image. A registry supports
referrers when ``GET /v2/<name>/referrers/<digest>`` answers 200 with an OCI index; then the
artifact is pushed by its own digest and found again through that index. Otherwise it is put
under the tag, where Distribution 2.8 (which ignores ``subject``) and cosign find it; a
registry that still answers the tag's PUT with an ``OCI-Subject`` header has it as a referrer
too. What a registry answers here is read bounded: the index at most :data:`MAX_INDEX` bytes,
its first :data:`MAX_REFERRERS` entries.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from polymagic.registry.reference import ImageReference
from polymagic.registry.repository_access import RepositoryAccess
from polymagic.registry.transport import Request, encode_query

__all__ = [
    "INDEX_TYPE",
    "MANIFEST_TYPE",
    "Attached",
    "Subject",
    "Way",
    "attach_artifact",
    "find_artifact",
    "referrers_supported",
    "tag_for",
]

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
_EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
MAX_INDEX = 1024 * 1024
"""Bytes of a referrers index read."""
MAX_REFERRERS = 1000
"""Entries of a referrers index looked at."""


class Way(enum.Enum):
    """How an artifact is attached to its image."""

    REFERRER = "an OCI referrer"
    TAG = "the tag scheme"


@dataclass(frozen=True)
class Subject:
    """The image an artifact is about: its manifest's digest, media type and size."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Attached:
    """An artifact next to its image: where it is and how it was attached."""

    reference: ImageReference
    way: Way
    digest: str = ""
    """The artifact manifest's own digest ("" when found by a tag that was not read)."""

    def __str__(self) -> str:
        return f"{self.reference} ({self.way.value})"


def tag_for(digest: str, suffix: str) -> str:
    """The tag an artifact about ``digest`` has under cosign's scheme (``sha256-<hex>.sbom``)."""
    return digest.replace(":", "-") + suffix


def _referrers(
    access: RepositoryAccess, digest: str, artifact_type: str | None = None
) -> list[dict[str, Any]] | None:
    """The referrers index's entries about ``digest`` (of ``artifact_type`` when given); None
    when the registry does not serve the referrers API."""
    url = f"{access.base}/referrers/{digest}"
    if artifact_type:
        url += "?" + encode_query([("artifactType", artifact_type)])
    got = access.call(Request("GET", url, {"Accept": INDEX_TYPE}, MAX_INDEX))
    kind = got.header("Content-Type").split(";", 1)[0].strip()
    if got.status != 200 or kind != INDEX_TYPE:
        return None
    try:
        index = json.loads(got.body)
    except (ValueError, RecursionError):
        return None
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        return None
    found = [e for e in entries[:MAX_REFERRERS] if isinstance(e, dict)]
    if artifact_type:  # a registry may ignore the filter (it then says so in a header)
        found = [e for e in found if e.get("artifactType") == artifact_type]
    return found


def referrers_supported(access: RepositoryAccess, digest: str) -> bool:
    """True when the registry answers the referrers API for ``digest`` with an OCI index."""
    return _referrers(access, digest) is not None


def attach_artifact(
    access: RepositoryAccess,
    subject: Subject,
    body: bytes,
    artifact_type: str,
    suffix: str,
    *,
    referrers: bool | None = None,
) -> Attached:
    """Push ``body`` as an artifact of ``artifact_type`` about ``subject``: a referrer pushed
    by digest when the registry supports the API (``referrers``: asked when None), else under
    ``sha256-<hex><suffix>``. Raises :class:`RegistryError`."""
    empty = access.upload_blob(b"{}")
    layer = access.upload_blob(body)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": artifact_type,
        "config": {"mediaType": _EMPTY_TYPE, "digest": empty, "size": 2},
        "layers": [{"mediaType": artifact_type, "digest": layer, "size": len(body)}],
        "subject": {
            "mediaType": subject.media_type or MANIFEST_TYPE,
            "digest": subject.digest,
            "size": subject.size,
        },
    }
    data = json.dumps(manifest, sort_keys=True).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    ref = access.ref
    if referrers is None:
        referrers = referrers_supported(access, subject.digest)
    if referrers:
        target = ImageReference(ref.host, ref.repository, digest=digest)
        access.put_manifest_at(target, MANIFEST_TYPE, data)
        return Attached(target, Way.REFERRER, digest)
    target = ImageReference(ref.host, ref.repository, tag=tag_for(subject.digest, suffix))
    answered = access.put_manifest_at(target, MANIFEST_TYPE, data)
    if answered.header("OCI-Subject").strip() == subject.digest:
        by_digest = ImageReference(ref.host, ref.repository, digest=digest)
        return Attached(by_digest, Way.REFERRER, digest)
    return Attached(target, Way.TAG, digest)


def find_artifact(
    access: RepositoryAccess, digest: str, artifact_type: str, suffix: str
) -> Attached | None:
    """The newest artifact of ``artifact_type`` about ``digest``: among its referrers when the
    registry serves them, else (or when there are none) under the tag; None when there is none.
    A tag that does not answer is "none"; any other refusal raises :class:`RegistryError`."""
    ref = access.ref
    found = _referrers(access, digest, artifact_type)
    if found:
        newest = found[-1].get("digest")
        if isinstance(newest, str) and newest.startswith("sha256:"):
            found_at = ImageReference(ref.host, ref.repository, digest=newest)
            return Attached(found_at, Way.REFERRER, newest)
    target = ImageReference(ref.host, ref.repository, tag=tag_for(digest, suffix))
    head = access.head_manifest(target)
    return Attached(target, Way.TAG) if head else None
