"""Reading what the real executor pushed, straight from a test registry's HTTP API.

Independent of :mod:`polymagic.registry` on purpose: the tests compare polymagic's answer
(the digest it reports) with the registry's own (``Docker-Content-Digest``).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import ssl
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.registry.server import RegistryServer

__all__ = ["Image", "RegistryView"]

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@dataclass(frozen=True)
class Image:
    """One pushed image: its digest (the registry's), manifest and config."""

    digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    view: RegistryView
    repository: str

    @property
    def env(self) -> dict[str, str]:
        pairs = (item.partition("=") for item in self.config["config"].get("Env") or [])
        return {name: value for name, _, value in pairs}

    @property
    def workdir(self) -> str:
        return str(self.config["config"].get("WorkingDir") or "")

    def layer_files(self, index: int = -1) -> dict[str, bytes]:
        """Path → content of the regular files in layer ``index`` (-1: the last one)."""
        layer = self.manifest["layers"][index]
        blob = self.view.blob(self.repository, layer["digest"])
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)), mode="r:") as archive:
            for member in archive:
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is not None:
                    files[member.name.removeprefix("./").lstrip("/")] = handle.read()
        return files

    def all_files(self) -> dict[str, bytes]:
        """The image's regular files, later layers winning (whiteouts ignored)."""
        merged: dict[str, bytes] = {}
        for index in range(len(self.manifest["layers"])):
            merged.update(self.layer_files(index))
        return merged


class RegistryView:
    """GETs on one test registry, with its credentials and CA when it has them."""

    def __init__(self, registry: RegistryServer) -> None:
        self.registry = registry
        self._context: ssl.SSLContext | None = registry.ssl_context()

    def _get(self, path: str, accept: str = "*/*") -> tuple[bytes, dict[str, str]]:
        headers = {"Accept": accept}
        if self.registry.needs_credentials:
            pair = f"{self.registry.username}:{self.registry.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        request = urllib.request.Request(self.registry.url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=20, context=self._context) as response:
            return response.read(), dict(response.headers.items())

    def tags(self, repository: str) -> list[str]:
        try:
            body, _ = self._get(f"/v2/{repository}/tags/list")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise
        return sorted(json.loads(body).get("tags") or [])

    def digest(self, repository: str, tag: str) -> str | None:
        """The registry's ``Docker-Content-Digest`` for ``repository:tag`` (None: no such tag)."""
        try:
            _, headers = self._get(f"/v2/{repository}/manifests/{tag}", MANIFEST_TYPES)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        return headers.get("Docker-Content-Digest")

    def blob(self, repository: str, digest: str) -> bytes:
        body, _ = self._get(f"/v2/{repository}/blobs/{digest}")
        return body

    def image(self, repository: str, reference: str) -> Image:
        body, headers = self._get(f"/v2/{repository}/manifests/{reference}", MANIFEST_TYPES)
        manifest = json.loads(body)
        config = json.loads(self.blob(repository, manifest["config"]["digest"]))
        return Image(headers["Docker-Content-Digest"], manifest, config, self, repository)
