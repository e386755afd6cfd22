"""Reading blobs from and writing an artifact to one repository of a registry, for the SBOM:
a layer read as a stream in byte ranges (never whole in memory, its digest checked when the
last byte is read), a small blob uploaded monolithically, and a manifest put under a tag.

All requests go through one :class:`~polymagic.registry.auth.AuthSession` and so under the
transport's one deadline; blob URLs are made from the repository's manifest URL (no URL
parsing here: ``urllib`` is the transport's alone). Errors are :class:`RegistryError` with a
printable reason free of credentials.
"""

from __future__ import annotations

import hashlib
import io
from types import TracebackType

from polymagic.printable import printable
from polymagic.registry.answer import MANIFEST_ACCEPT, Outcome, error_code, status_reason
from polymagic.registry.auth import AuthSession
from polymagic.registry.credentials import RegistryAuth, redact
from polymagic.registry.reference import ImageReference
from polymagic.registry.transport import (
    HttpTransport,
    Request,
    Response,
    Transport,
    TransportUnusable,
    encode_query,
    manifest_url,
)

__all__ = ["CHUNK", "BlobStream", "RegistryError", "RepositoryAccess"]

CHUNK = 4 * 1024 * 1024
"""Bytes asked for in each range request of a blob."""


class RegistryError(Exception):
    """A request the repository did not answer as asked; ``str()`` is a printable reason."""


class RepositoryAccess:
    """One repository of one registry, under one deadline (``timeout`` seconds in all)."""

    def __init__(
        self,
        reference: ImageReference,
        *,
        auth: RegistryAuth | None,
        insecure: bool = False,
        skip_tls_verify: bool = False,
        ca_file: str | None = None,
        timeout: float = 300,
        transport: Transport | None = None,
    ) -> None:
        self.ref = reference
        self.auth = auth
        self._own: HttpTransport | None = None
        if transport is None:
            try:
                self._own = HttpTransport(
                    reference.host,
                    timeout=timeout,
                    skip_tls_verify=skip_tls_verify,
                    ca_file=ca_file,
                    load_tls=not insecure,
                )
            except TransportUnusable as error:
                raise RegistryError(str(error)) from None
            transport = self._own
        self.session = AuthSession(reference, auth, insecure=insecure, transport=transport)
        base = manifest_url(
            ImageReference(reference.host, reference.repository, tag="x"), insecure=insecure
        )
        self.base = base.rsplit("/manifests/", 1)[0]
        self.origin = self.base.split("/v2/", 1)[0]

    def __enter__(self) -> RepositoryAccess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._own is not None:
            self._own.close()

    def fail(self, text: str) -> RegistryError:
        return RegistryError(printable(redact(text, self.auth)))

    def call(self, request: Request) -> Response:
        got = self.session.call(request)
        if isinstance(got, Outcome):
            raise self.fail(got.reason)
        return got

    def blob(self, digest: str, size: int) -> BlobStream:
        """The blob ``digest`` of ``size`` bytes, as a stream read in ranges."""
        return BlobStream(self, digest, size)

    def upload_blob(self, data: bytes) -> str:
        """Upload ``data`` (small: one request) and return its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        head = self.call(Request("HEAD", f"{self.base}/blobs/{digest}", {}, 0))
        if head.status == 200:
            return digest
        started = self.call(Request("POST", f"{self.base}/blobs/uploads/", {}, 64 * 1024, b""))
        if started.status != 202:
            raise self.fail(f"starting an upload to {self.ref.name} answered HTTP {started.status}")
        location = started.header("Location")
        if location.startswith("/"):
            location = self.origin + location
        if not location.startswith(("http://", "https://")):
            raise self.fail(f"{self.ref.host} gave no usable upload location")
        separator = "&" if "?" in location else "?"
        url = f"{location}{separator}{encode_query([('digest', digest)])}"
        headers = {"Content-Type": "application/octet-stream"}
        done = self.call(Request("PUT", url, headers, 64 * 1024, data))
        if done.status != 201:
            code = error_code(done.body)
            raise self.fail(
                f"uploading a blob to {self.ref.name} answered HTTP {done.status} ({code})"
            )
        return digest

    def put_manifest(self, tag: str, media_type: str, body: bytes) -> str:
        """Put ``body`` under ``tag``; its digest."""
        target = ImageReference(self.ref.host, self.ref.repository, tag=tag)
        self.put_manifest_at(target, media_type, body)
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def put_manifest_at(self, target: ImageReference, media_type: str, body: bytes) -> Response:
        """Put ``body`` at ``target`` (a tag or its own digest); the registry's answer."""
        url = manifest_url(target, insecure=self.session.insecure)
        done = self.call(Request("PUT", url, {"Content-Type": media_type}, 64 * 1024, body))
        if done.status not in (200, 201):
            raise self.fail(
                f"putting {target} answered HTTP {done.status} ({error_code(done.body)})"
            )
        return done

    def head_manifest(self, target: ImageReference) -> bool:
        """True when the registry holds a manifest at ``target``; False when it answers 404."""
        url = manifest_url(target, insecure=self.session.insecure)
        got = self.call(Request("HEAD", url, {"Accept": MANIFEST_ACCEPT}, 0))
        if got.status == 200:
            return True
        if got.status == 404:
            return False
        raise self.fail(f"asking for {target}: {status_reason(got, self.ref)}")


class BlobStream(io.RawIOBase):
    """A blob read in :data:`CHUNK`-byte ranges; reading past its end checks its digest (a
    mismatch raises :class:`RegistryError`)."""

    def __init__(self, access: RepositoryAccess, digest: str, size: int) -> None:
        self.access, self.digest, self.size = access, digest, size
        self.position = 0
        self.hasher = hashlib.sha256()
        self.buffer = b""
        self.verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        if not self.buffer:
            if self.position >= self.size:
                self._verify()
                return 0
            self.buffer = self._fetch()
        count = min(len(target), len(self.buffer))
        target[:count] = self.buffer[:count]
        self.buffer = self.buffer[count:]
        return count

    def _fetch(self) -> bytes:
        end = min(self.position + CHUNK, self.size) - 1
        url = f"{self.access.base}/blobs/{self.digest}"
        request = Request("GET", url, {"Range": f"bytes={self.position}-{end}"}, CHUNK)
        got = self.access.call(request)
        if got.status == 200 and self.position == 0 and len(got.body) == self.size:
            data = got.body  # no ranges, but the whole blob fitted in one answer
        elif got.status == 206 and len(got.body) == end - self.position + 1:
            data = got.body
        elif got.status in (200, 206):
            raise self.access.fail(
                f"{self.access.ref.host} did not serve the byte range asked of {self.digest[:19]}"
            )
        else:
            raise self.access.fail(
                f"the blob {self.digest[:19]}: {status_reason(got, self.access.ref)}"
            )
        self.position += len(data)
        self.hasher.update(data)
        return data

    def _verify(self) -> None:
        if self.verified:
            return
        got = "sha256:" + self.hasher.hexdigest()
        if got != self.digest:
            raise self.access.fail(
                f"the blob {self.digest[:19]}… holds bytes of digest {got[:19]}…"
            )
        self.verified = True
