"""A front in front of a real registry that adds the OCI 1.1 referrers API, for tests.

Debian's ``docker-registry`` (Distribution 2.8) has no referrers API: it answers
``GET /v2/<name>/referrers/<digest>`` with 404 and ignores a manifest's ``subject``. This
front (a :class:`~tests.registry.front.RegistryFront`: every other request passes through to
the registry unchanged) does what a referrers-capable registry adds: a manifest PUT whose body
has a ``subject`` is remembered (its descriptor, with its ``artifactType``) and answered with an
``OCI-Subject`` header; ``GET .../referrers/<digest>`` answers an OCI index of what was
remembered about that digest (filtered by ``artifactType`` when asked, saying so in
``OCI-Filters-Applied``). Everything stored is stored by the real registry; only the referrers
index is this front's.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
from typing import Any

from tests.registry.front import FrontAnswer, FrontRequest, RegistryFront
from tests.registry.server import RegistryServer

__all__ = ["ReferrersProxy"]

_INDEX = "application/vnd.oci.image.index.v1+json"


class ReferrersProxy:
    """``127.0.0.1:<port>`` passing through to ``upstream`` (plain HTTP) with referrers added."""

    def __init__(self, upstream: RegistryServer) -> None:
        self.referrers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._front = RegistryFront(
            upstream, refusals=(self._referrers_answer,), afterwards=(self._subject_header,)
        )

    @property
    def host(self) -> str:
        return self._front.host

    def start(self) -> ReferrersProxy:
        self._front.start()
        return self

    def stop(self) -> None:
        self._front.stop()

    def __enter__(self) -> ReferrersProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _referrers_answer(self, request: FrontRequest, front: RegistryFront) -> FrontAnswer | None:
        parsed = urllib.parse.urlsplit(request.path)
        if request.method != "GET" or "/referrers/" not in parsed.path:
            return None
        name, _, digest = parsed.path[len("/v2/") :].partition("/referrers/")
        wanted = urllib.parse.parse_qs(parsed.query).get("artifactType", [None])[0]
        headers = {"Content-Type": _INDEX}
        if wanted:
            headers["OCI-Filters-Applied"] = "artifactType"
        return FrontAnswer(200, self._index(name, digest, wanted), headers)

    def _subject_header(
        self, request: FrontRequest, status: int, _: dict[str, str]
    ) -> dict[str, str]:
        path = urllib.parse.urlsplit(request.path).path
        if request.method != "PUT" or "/manifests/" not in path or status != 201:
            return {}
        repository = path[len("/v2/") :].partition("/manifests/")[0]
        subject = self._remember(repository, request.body)
        return {"OCI-Subject": subject} if subject else {}

    def _remember(self, repository: str, body: bytes) -> str | None:
        """Keep a manifest with a ``subject`` as a referrer; the subject's digest."""
        try:
            manifest = json.loads(body)
        except ValueError:
            return None
        subject = manifest.get("subject") if isinstance(manifest, dict) else None
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            return None
        config = manifest.get("config") or {}
        descriptor = {
            "mediaType": manifest.get("mediaType"),
            "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "size": len(body),
            "artifactType": manifest.get("artifactType") or config.get("mediaType"),
        }
        with self._lock:
            self.referrers.setdefault((repository, subject["digest"]), []).append(descriptor)
        return str(subject["digest"])

    def _index(self, repository: str, digest: str, artifact_type: str | None) -> bytes:
        with self._lock:
            found = list(self.referrers.get((repository, digest), []))
        if artifact_type:
            found = [d for d in found if d["artifactType"] == artifact_type]
        index = {"schemaVersion": 2, "mediaType": _INDEX, "manifests": found}
        return json.dumps(index).encode()
