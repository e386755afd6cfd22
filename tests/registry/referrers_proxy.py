"""A front in front of a real registry that adds the OCI 1.1 referrers API, for tests.

Debian's ``docker-registry`` (Distribution 2.8) has no referrers API: it answers
``GET /v2/<name>/referrers/<digest>`` with 404 and ignores a manifest's ``subject``. This
front passes every request through to it unchanged, and does what a referrers-capable registry
adds: a manifest PUT whose body has a ``subject`` is remembered (its descriptor, with its
``artifactType``) and answered with an ``OCI-Subject`` header; ``GET .../referrers/<digest>``
answers an OCI index of what was remembered about that digest (filtered by ``artifactType``
when asked, saying so in ``OCI-Filters-Applied``). Everything stored is stored by the real
registry; only the referrers index is this front's.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import threading
import urllib.parse
from typing import Any

from tests.cluster.control_plane import free_port

__all__ = ["ReferrersProxy"]

_INDEX = "application/vnd.oci.image.index.v1+json"
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class ReferrersProxy:
    """``127.0.0.1:<port>`` passing through to ``upstream`` (plain HTTP) with referrers added."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.referrers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.asked: list[str] = []
        """The paths of the referrers requests, in order."""
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ReferrersProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> ReferrersProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _pass(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parsed = urllib.parse.urlsplit(self.path)
                path = parsed.path
                if self.command == "GET" and "/referrers/" in path:
                    name, _, digest = path[len("/v2/") :].partition("/referrers/")
                    query = urllib.parse.parse_qs(parsed.query)
                    wanted = query.get("artifactType", [None])[0]
                    proxy.asked.append(path)
                    headers = [("Content-Type", _INDEX)]
                    if wanted:
                        headers.append(("OCI-Filters-Applied", "artifactType"))
                    self._answer(200, headers, proxy._index(name, digest, wanted))
                    return
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                try:
                    sent = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    upstream.request(self.command, self.path, body=body or None, headers=sent)
                    got = upstream.getresponse()
                    data = got.read()
                    headers = []
                    for key, value in got.getheaders():
                        if key.lower() in _HOP:
                            continue
                        if key.lower() == "location":
                            value = value.replace(f"//{proxy.upstream}/", f"//{proxy.host}/")
                        headers.append((key, value))
                finally:
                    upstream.close()
                if self.command == "PUT" and "/manifests/" in path and got.status == 201:
                    repository = path[len("/v2/") :].partition("/manifests/")[0]
                    subject = proxy._remember(repository, body)
                    if subject:
                        headers.append(("OCI-Subject", subject))
                self._answer(got.status, headers, data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _pass

        return Handler
