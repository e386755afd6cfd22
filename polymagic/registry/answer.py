"""Reading a registry's answers: presence, digests, manifests and their sizes, error codes.

Three answers to "is this image there?", so that a network error, a refused login or a server
that is not a registry is never mistaken for "no": ``EXISTS`` (a manifest was served; its
digest), ``MISSING`` (404: ``MANIFEST_UNKNOWN`` / ``NAME_UNKNOWN``), ``UNKNOWN`` (anything else,
with a one-line ``reason``). Pure: HTTP responses in, answers out.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from polymagic.registry.reference import ImageReference, short_reference
from polymagic.registry.transport import Response, shown

__all__ = [
    "MANIFEST_ACCEPT",
    "MANIFEST_MEDIA_TYPES",
    "MAX_MANIFEST",
    "ImageManifest",
    "ManifestAnswer",
    "Outcome",
    "Presence",
    "RegistryAnswer",
    "digest_of",
    "error_code",
    "head_outcome",
    "manifest_outcome",
    "served_manifest",
    "status_reason",
]

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
"""What a check accepts, so a registry serves multi-platform indexes as they are."""

MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
"""The ``Accept`` header of every manifest request."""

MAX_MANIFEST = 4 * 1024 * 1024
"""Registries refuse manifests larger than 4 MiB."""

_INDEX_TYPES = frozenset(MANIFEST_MEDIA_TYPES[0::2])  # OCI index, Docker manifest list
_ANY_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)


class Presence(str, enum.Enum):
    """Whether the registry holds the image: yes, no, or can't tell."""

    EXISTS = "exists"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RegistryAnswer:
    """What the registry said about one reference."""

    presence: Presence
    reference: ImageReference
    digest: str | None = None
    """The manifest's digest when it exists (``Docker-Content-Digest``)."""
    reason: str = ""
    """One line for a human: why the answer is UNKNOWN (or what was found)."""
    status: int | None = None
    """The HTTP status of the last registry answer, when there was one."""
    credentials_rejected: bool = False
    """Credentials were sent and the registry (or its token server) answered 401 to them: a
    wrong user or password, not a missing permission (that is 403, or a refused scope)."""

    @property
    def image(self) -> str | None:
        """``host/repository@digest`` when the image exists."""
        return f"{self.reference.name}@{self.digest}" if self.digest else None


@dataclass(frozen=True)
class Outcome:
    """A final answer reached inside a check (before the reference and redaction are added)."""

    presence: Presence
    reason: str
    digest: str | None = None
    status: int | None = None
    credentials_rejected: bool = False


@dataclass(frozen=True)
class ImageManifest:
    """A manifest as a registry serves it: its own bytes, media type and digest."""

    reference: ImageReference
    """Where it was read: ``host/repository@digest``."""
    digest: str
    media_type: str
    body: bytes = field(repr=False)

    @property
    def is_index(self) -> bool:
        """True for a multi-platform index (OCI index or Docker manifest list)."""
        return self.media_type in _INDEX_TYPES or "manifests" in self._document()

    @property
    def image_size(self) -> int | None:
        """Bytes of the image as stored: its config plus its (compressed) layers, from the
        manifest's own sizes; None for an index (each platform has its size) or when the
        manifest does not say."""
        if self.is_index:
            return None
        document = self._document()
        parts = [document.get("config"), *(document.get("layers") or [])]
        sizes = [part.get("size") if isinstance(part, dict) else None for part in parts]
        if not all(isinstance(size, int) and size >= 0 for size in sizes):
            return None
        return sum(size for size in sizes if isinstance(size, int))

    @property
    def size_note(self) -> str:
        """Why ``image_size`` is None ("" when it is known)."""
        if self.image_size is not None:
            return ""
        if self.is_index:
            count = len(self._document().get("manifests") or [])
            return (
                f"{self.reference} is an image index ({count} manifests): its size is per platform"
            )
        return f"the manifest of {self.reference} does not give its layers' sizes"

    def _document(self) -> dict[str, Any]:
        try:
            document = json.loads(self.body)
        except ValueError:
            return {}
        return document if isinstance(document, dict) else {}


@dataclass(frozen=True)
class ManifestAnswer:
    """What reading (and tagging) an image's manifest gave: the manifest, or why not."""

    manifest: ImageManifest | None
    reason: str = ""
    """One line for a human: why there is no manifest, or the first tag that could not be set."""
    tagged: tuple[str, ...] = ()
    """The references that point at the image now (already did, or were PUT)."""
    credentials_rejected: bool = False

    @property
    def ok(self) -> bool:
        """The manifest was read and every tag asked for points at it."""
        return self.manifest is not None and not self.reason


def digest_of(body: bytes) -> str:
    """The digest of a manifest's bytes (``sha256:...``)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def head_outcome(response: Response, ref: ImageReference) -> Outcome | None:
    """The answer a manifest request's response gives about ``ref``; None when it exists but
    names no digest (the manifest's bytes must then be read and hashed)."""
    status = response.status
    if status == 200:
        digest = response.header("Docker-Content-Digest").strip()
        if not _ANY_DIGEST.fullmatch(digest):
            return None
        return _found(digest, ref)
    if status == 404:
        code = error_code(response.body)
        detail = f" ({code})" if code else ""
        return Outcome(
            Presence.MISSING, f"{ref.host} has no `{short_reference(ref)}`{detail}", status=status
        )
    return Outcome(Presence.UNKNOWN, status_reason(response, ref), status=status)


def manifest_outcome(response: Response, ref: ImageReference) -> Outcome:
    """The answer a GET of ``ref``'s manifest gives, its digest the hash of the bytes served."""
    if response.status != 200:
        return Outcome(Presence.UNKNOWN, status_reason(response, ref), status=response.status)
    try:
        document = json.loads(response.body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or "schemaVersion" not in document:
        return Outcome(
            Presence.UNKNOWN,
            f"{ref.host} answered 200 for {ref} but not with an image manifest: is it a registry?",
            status=200,
        )
    return _found(digest_of(response.body), ref)


def _found(digest: str, ref: ImageReference) -> Outcome:
    if ref.digest and digest != ref.digest:
        return Outcome(
            Presence.UNKNOWN,
            f"{ref.host} answered for {ref.digest} with a manifest of digest {digest}",
            status=200,
        )
    return Outcome(Presence.EXISTS, f"{ref} exists ({digest})", digest, 200)


def served_manifest(response: Response, ref: ImageReference) -> ImageManifest | str:
    """The manifest a GET of ``ref`` (by digest) served, or why it is not one: its bytes must
    hash to the digest, and its ``Content-Type`` (else the document's ``mediaType``) must be a
    manifest media type."""
    if response.status != 200:
        return status_reason(response, ref)
    digest = digest_of(response.body)
    if digest != ref.digest:
        return f"{ref.host} answered for {ref} with a manifest of digest {digest}"
    media_type = response.header("Content-Type").split(";")[0].strip()
    if media_type not in MANIFEST_MEDIA_TYPES:
        try:
            declared = json.loads(response.body).get("mediaType")
        except (ValueError, AttributeError):
            declared = None
        if declared not in MANIFEST_MEDIA_TYPES:
            return f"{ref.host} served {ref} as `{shown(media_type)}`, not an image manifest"
        media_type = str(declared)
    return ImageManifest(ref, digest, media_type, response.body)


def status_reason(response: Response, ref: ImageReference) -> str:
    """Why a manifest request's status is neither "found" nor "not found", for a human."""
    status, host = response.status, ref.host
    code = error_code(response.body)
    detail = f" ({code})" if code else ""
    if status == 400 and b"HTTP request to an HTTPS server" in response.body:
        return f"{host} serves HTTPS, but the check used plain HTTP: do not mark it insecure"
    if status == 403:
        return f"{host} refused access to `{ref.repository}` (HTTP 403){detail}"
    if status == 429:
        return f"{host} is rate-limiting requests (HTTP 429): try again later"
    if status >= 500:
        return f"{host} failed with HTTP {status}{detail}: the registry has a problem"
    return f"{host} answered HTTP {status}{detail}, which is neither found nor not found"


def error_code(body: bytes) -> str | None:
    """The first error code of a registry's JSON error body (``MANIFEST_UNKNOWN``), if any."""
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("errors"), list):
        for error in document["errors"]:
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                return shown(error["code"], limit=64)
    return None
