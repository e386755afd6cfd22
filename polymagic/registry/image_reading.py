"""Reading an image back from its registry: its manifest (by tag or digest; for a
multi-platform index, the index and then one platform's manifest), its config blob, and what
they say about where the image came from (the manifest's annotations, the config's labels).
For ``polymagic inspect``.

Everything read is checked and bounded: a manifest at most 4 MiB and a config at most 8 MiB
(read no further), each must hash to the digest it was asked by (a tag's manifest to the
digest the registry names, when it names one), JSON at most 64 levels deep, at most 1000
annotations or labels kept and each value cut at 4 KiB; all under the one deadline of the
transport. Never raises for I/O: what could not be read is a printable ``reason``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from polymagic.printable import printable
from polymagic.registry.answer import MANIFEST_ACCEPT, MAX_MANIFEST, Outcome, status_reason
from polymagic.registry.auth import AuthSession
from polymagic.registry.credentials import RegistryAuth, redact
from polymagic.registry.opening import over_transport
from polymagic.registry.reference import ImageReference
from polymagic.registry.transport import (
    Request,
    Transport,
    Unreachable,
    manifest_url,
    shown,
)

__all__ = ["MAX_CONFIG", "ImageDetails", "read_image"]

MAX_CONFIG = 8 * 1024 * 1024
"""The largest config blob read."""

_MAX_DEPTH = 64
_MAX_ENTRIES = 1000
_MAX_VALUE = 4096
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class ImageDetails:
    """What the registry holds for one reference (as much as could be read, and why not more)."""

    reference: ImageReference
    digest: str | None = None
    """The digest the reference resolves to (the index's, for a multi-platform image)."""
    media_type: str = ""
    size: int | None = None
    """Bytes of the manifest (or index) the reference resolves to."""
    manifest_digest: str | None = None
    """The digest of the image manifest read (a platform's, under an index)."""
    platform: str = ""
    """``os/architecture`` of the manifest read under an index ("" without an index)."""
    platforms: tuple[str, ...] = ()
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    config_digest: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    """The image manifest's annotations (the index's, when the manifest has none)."""
    labels: dict[str, str] = field(default_factory=dict)
    """The config's labels."""
    layers: tuple[tuple[str, int | None], ...] = ()
    """Each layer's digest and size, as the manifest says."""
    reason: str = ""
    """Why something could not be read ("" when everything was)."""

    @property
    def ok(self) -> bool:
        return not self.reason

    def as_json(self) -> dict[str, Any]:
        """What ``-o json`` prints."""
        return {
            "reference": str(self.reference),
            "digest": self.digest,
            "mediaType": self.media_type,
            "manifestDigest": self.manifest_digest,
            "platform": self.platform or None,
            "platforms": list(self.platforms),
            "annotations": self.annotations,
            "labels": self.labels,
            "config": {
                "digest": self.config_digest,
                "created": self.config.get("created"),
                "architecture": self.config.get("architecture"),
                "os": self.config.get("os"),
            },
            "layers": [{"digest": d, "size": s} for d, s in self.layers],
            "reason": self.reason or None,
        }


class _Unreadable(Exception):
    """An answer polymagic will not read further; ``str()`` says why."""


def read_image(
    reference: str | ImageReference,
    *,
    auth: RegistryAuth | None,
    insecure: bool = False,
    skip_tls_verify: bool = False,
    ca_file: str | None = None,
    timeout: float = 20,
    transport: Transport | None = None,
    platform: str = "linux/amd64",
) -> ImageDetails:
    """The manifest, config, annotations and labels of ``reference``; never raises for I/O
    (an invalid reference raises :class:`~polymagic.errors.SpecError`). Under an index, the
    manifest of ``platform`` (else the first) is read."""
    ref = reference if isinstance(reference, ImageReference) else ImageReference.parse(reference)
    details = over_transport(
        ref.host,
        lambda sent: _guarded(AuthSession(ref, auth, insecure=insecure, transport=sent), platform),
        lambda reason: ImageDetails(ref, reason=reason),
        transport=transport,
        insecure=insecure,
        skip_tls_verify=skip_tls_verify,
        ca_file=ca_file,
        timeout=timeout,
    )
    if details.reason:
        details = _with_reason(details, printable(redact(details.reason, auth)))
    return details


def _with_reason(details: ImageDetails, reason: str) -> ImageDetails:
    from dataclasses import replace

    return replace(details, reason=reason)


def _guarded(session: AuthSession, platform: str) -> ImageDetails:
    found: dict[str, Any] = {}
    try:
        return _read(session, platform, found)
    except Unreachable as error:
        return ImageDetails(session.ref, reason=str(error), **found)
    except _Unreadable as error:
        return ImageDetails(session.ref, reason=str(error), **found)
    except Exception as error:  # whatever a server's answer breaks: an answer, no crash
        return ImageDetails(
            session.ref,
            reason=f"reading the image from {session.ref.host} failed on an answer polymagic"
            f" cannot read ({type(error).__name__})",
            **found,
        )


def _get(session: AuthSession, url: str, accept: str, limit: int, what: str) -> tuple[bytes, str]:
    """The body (whole, at most ``limit`` bytes) and media type of a GET, or :class:`_Unreadable`."""
    got = session.call(Request("GET", url, {"Accept": accept}, limit + 1))
    if isinstance(got, Outcome):
        raise _Unreadable(got.reason)
    if got.status != 200:
        raise _Unreadable(f"{what}: {status_reason(got, session.ref)}")
    if len(got.body) > limit:
        raise _Unreadable(f"{what} is larger than {limit // (1024 * 1024)} MiB: not read")
    return got.body, got.header("Content-Type").split(";")[0].strip()


def _document(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise _Unreadable(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise _Unreadable(f"{what} is not a JSON object")
    if _depth(document) > _MAX_DEPTH:
        raise _Unreadable(f"{what} nests deeper than {_MAX_DEPTH} levels: not read")
    return document


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > _MAX_DEPTH:
            return level
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _strings(value: Any) -> dict[str, str]:
    """A JSON object's string entries (at most 1000, each value cut at 4 KiB), printable."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, str] = {}
    for key, item in value.items():
        if len(out) >= _MAX_ENTRIES:
            break
        if isinstance(key, str) and isinstance(item, str):
            out[shown(key, 256)] = shown(item, _MAX_VALUE)
    return out


def _read(session: AuthSession, platform: str, found: dict[str, Any]) -> ImageDetails:
    ref = session.ref
    url = manifest_url(ref, insecure=session.insecure)
    body, media_type = _get(session, url, MANIFEST_ACCEPT, MAX_MANIFEST, "the manifest")
    digest = _digest(body)
    if ref.digest is not None and digest != ref.digest:
        raise _Unreadable(
            f"{ref.host} answered for {ref.digest} with a manifest of digest {digest}"
        )
    document = _document(body, "the manifest")
    media_type = media_type or str(document.get("mediaType") or "")
    found.update(digest=digest, media_type=shown(media_type), size=len(body))
    top_size = len(body)
    index_annotations: dict[str, str] = {}
    chosen = ""
    platforms: tuple[str, ...] = ()
    if media_type in _INDEX_TYPES or "manifests" in document:
        index_annotations = _strings(document.get("annotations"))
        entry, chosen, platforms = _platform_entry(document, platform)
        found.update(platforms=platforms, platform=chosen)
        child = ImageReference(ref.host, ref.repository, digest=entry)
        child_url = manifest_url(child, insecure=session.insecure)
        body, _ = _get(session, child_url, MANIFEST_ACCEPT, MAX_MANIFEST, "the platform's manifest")
        if _digest(body) != entry:
            raise _Unreadable(f"{ref.host} served the manifest of {entry} with another digest")
        document = _document(body, "the platform's manifest")
    manifest_digest = _digest(body)
    annotations = _strings(document.get("annotations")) or index_annotations
    layers = tuple(_layer(item) for item in (document.get("layers") or [])[:_MAX_ENTRIES])
    found.update(
        manifest_digest=manifest_digest, manifest=document, annotations=annotations, layers=layers
    )
    config_entry = document.get("config")
    config_digest = config_entry.get("digest") if isinstance(config_entry, dict) else None
    if not isinstance(config_digest, str) or not _is_digest(config_digest):
        raise _Unreadable("the manifest names no config blob")
    blob_url = url.rsplit("/manifests/", 1)[0] + f"/blobs/{config_digest}"
    config_body, _ = _get(session, blob_url, "*/*", MAX_CONFIG, "the config")
    if _digest(config_body) != config_digest:
        raise _Unreadable(f"{ref.host} served the config {config_digest} with another digest")
    config = _document(config_body, "the config")
    inner = config.get("config")
    labels = _strings(inner.get("Labels")) if isinstance(inner, dict) else {}
    return ImageDetails(
        ref,
        digest=digest,
        media_type=shown(media_type),
        size=top_size,
        manifest_digest=manifest_digest,
        platform=chosen,
        platforms=platforms,
        manifest=document,
        config=config,
        config_digest=config_digest,
        annotations=annotations,
        labels=labels,
        layers=layers,
    )


def _is_digest(text: str) -> bool:
    prefix, _, hexes = text.partition(":")
    return prefix == "sha256" and len(hexes) == 64 and all(c in "0123456789abcdef" for c in hexes)


def _layer(item: Any) -> tuple[str, int | None]:
    if not isinstance(item, dict):
        return ("?", None)
    digest = item.get("digest")
    size = item.get("size")
    return (
        shown(digest, 80) if isinstance(digest, str) else "?",
        size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
    )


def _platform_entry(document: dict[str, Any], wanted: str) -> tuple[str, str, tuple[str, ...]]:
    entries = [e for e in (document.get("manifests") or [])[:_MAX_ENTRIES] if isinstance(e, dict)]
    named: list[tuple[str, str]] = []
    for entry in entries:
        digest = entry.get("digest")
        if not isinstance(digest, str) or not _is_digest(digest):
            continue
        given = entry.get("platform")
        where: dict[str, Any] = given if isinstance(given, dict) else {}
        name = shown(f"{where.get('os', '?')}/{where.get('architecture', '?')}", 64)
        named.append((digest, name))
    if not named:
        raise _Unreadable("the image index names no manifest")
    chosen = next((pair for pair in named if pair[1] == wanted), named[0])
    return chosen[0], chosen[1], tuple(name for _, name in named)
