"""A front for a real test registry that refuses the way hosted registries refuse.

Some registry failures cannot be made with Debian's ``docker-registry`` alone: Docker Hub's pull
rate limit (HTTP 429, ``TOOMANYREQUESTS``) and a registry whose tags are immutable (Amazon ECR:
HTTP 400 ``TAG_INVALID``; Harbor: HTTP 412 ``PRECONDITION``). :class:`RegistryFront` is a plain
HTTP proxy on 127.0.0.1 in front of a plain-HTTP :class:`~tests.registry.server.RegistryServer`:
every request goes to the real registry unchanged (the ``Host`` header too, so the registry's
upload ``Location`` URLs point back at the front), except the ones its ``refusals`` answer
themselves; its ``afterwards`` may add headers to a forwarded answer (what a registry with
more features would add). The answers' bodies are the registries' own error documents, worded as each
registry words them (Docker Hub's rate-limit message; ECR's and Harbor's immutable-tag
messages), so a client's handling is tested against what it will meet.

Request bodies (chunked or not) are read whole before they are forwarded, and answers are read
whole before they are sent: fine for the test images (a few MB), not a general proxy.
"""

from __future__ import annotations

import enum
import hashlib
import http.client
import http.server
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.registry.server import LOCALHOST, RegistryMode, RegistryServer

__all__ = [
    "DOCKER_HUB_RATE_LIMIT",
    "Afterward",
    "FrontAnswer",
    "FrontRequest",
    "ImmutableStyle",
    "RegistryFront",
    "immutable_tags",
    "rate_limited_pulls",
]

DOCKER_HUB_RATE_LIMIT = (
    "You have reached your pull rate limit. You may increase the limit by authenticating and"
    " upgrading: https://www.docker.com/increase-rate-limit"
)
"""The message of Docker Hub's ``TOOMANYREQUESTS`` answer to an anonymous pull over the limit."""

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer"}
_MANIFEST_PATH = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/?]+)")


@dataclass(frozen=True)
class FrontRequest:
    """One request the front received: its method, path, headers and (whole) body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class FrontAnswer:
    """An answer the front gives itself instead of forwarding the request."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def registry_error(cls, status: int, code: str, message: str) -> FrontAnswer:
        """The registry API's error document (``{"errors": [{"code", "message"}]}``)."""
        body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]})
        return cls(status, body.encode(), {"Content-Type": "application/json; charset=utf-8"})


Refusal = Callable[[FrontRequest, "RegistryFront"], FrontAnswer | None]
"""Looks at a request and returns the front's own answer, or None to forward it."""

Afterward = Callable[[FrontRequest, int, dict[str, str]], dict[str, str]]
"""Looks at a forwarded request, the registry's status and headers; returns headers to add."""


def rate_limited_pulls(repository: str) -> Refusal:
    """Pulls of ``repository``'s manifests answered as Docker Hub answers a client over its pull
    rate limit: 429 ``TOOMANYREQUESTS``."""

    def refuse(request: FrontRequest, front: RegistryFront) -> FrontAnswer | None:
        match = _MANIFEST_PATH.match(request.path)
        if match and match["repo"] == repository and request.method in ("GET", "HEAD"):
            return FrontAnswer.registry_error(429, "TOOMANYREQUESTS", DOCKER_HUB_RATE_LIMIT)
        return None

    return refuse


class ImmutableStyle(str, enum.Enum):
    """Whose words an immutable tag is refused with."""

    ECR = "ecr"
    """Amazon ECR: 400 ``TAG_INVALID`` (one of the wordings Kaniko's
    ``--push-ignore-immutable-tag-errors`` knows)."""
    HARBOR = "harbor"
    """Harbor 2: 412 ``PRECONDITION`` (a wording Kaniko v1.28.3 does not know)."""


def immutable_tags(style: ImmutableStyle) -> Refusal:
    """A manifest pushed under a tag that already names another manifest is refused, as a
    registry with immutable tags refuses it (pushing the same manifest again is let through, and
    so are pushes by digest)."""

    def refuse(request: FrontRequest, front: RegistryFront) -> FrontAnswer | None:
        match = _MANIFEST_PATH.match(request.path)
        if not match or request.method != "PUT" or match["ref"].startswith("sha256:"):
            return None
        repo, tag = match["repo"], match["ref"]
        existing = front.upstream_digest(repo, tag)
        if existing is None or existing == "sha256:" + hashlib.sha256(request.body).hexdigest():
            return None
        if style is ImmutableStyle.ECR:
            message = (
                f"The image tag '{tag}' already exists in the '{repo}' repository and cannot be"
                " overwritten because the tag is immutable."
            )
            return FrontAnswer.registry_error(400, "TAG_INVALID", message)
        name = repo.rsplit("/", 1)[-1]
        message = f"Failed to process request due to '{name}:{tag}' configured as immutable."
        return FrontAnswer.registry_error(412, "PRECONDITION", message)

    return refuse


@dataclass
class RegistryFront:
    """A proxy on 127.0.0.1 in front of the plain-HTTP ``upstream``; ``refusals`` are asked in
    order before a request is forwarded, ``afterwards`` after it was. ``answered`` records (method, path, status) of every
    request, the refused ones and the forwarded ones alike."""

    upstream: RegistryServer
    refusals: tuple[Refusal, ...] = ()
    afterwards: tuple[Afterward, ...] = ()
    answered: list[tuple[str, str, int]] = field(default_factory=list)
    mode: RegistryMode = RegistryMode.HTTP
    _httpd: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.upstream.mode is not RegistryMode.HTTP:
            raise ValueError("the front forwards to a plain-HTTP registry only")

    @property
    def host(self) -> str:
        assert self._httpd is not None
        return f"{LOCALHOST}:{self._httpd.server_address[1]}"

    def image(self, repository: str, tag: str) -> str:
        """The reference of ``repository:tag`` through the front."""
        return f"{self.host}/{repository}:{tag}"

    def refused(self) -> list[tuple[str, str, int]]:
        """The requests answered with an error status (by the front or the registry)."""
        return [a for a in self.answered if a[2] >= 400]

    def upstream_digest(self, repository: str, tag: str) -> str | None:
        """The digest ``repository:tag`` names in the registry now (None: no such tag)."""
        accept = ", ".join(
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            )
        )
        status, headers, _ = self._forward(
            "HEAD", f"/v2/{repository}/manifests/{tag}", {"Accept": accept}, b""
        )
        return headers.get("docker-content-digest") if status == 200 else None

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(LOCALHOST, self.upstream.port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or method in ("PUT", "POST", "PATCH"):
                sent["Content-Length"] = str(len(body))
            conn.request(method, path, body=body or None, headers=sent)
            response = conn.getresponse()
            data = response.read()
            got = {k.lower(): v for k, v in response.getheaders()}
            return response.status, got, data
        finally:
            conn.close()

    def start(self) -> RegistryFront:
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                request = FrontRequest(
                    self.command, self.path, dict(self.headers.items()), self._body()
                )
                answer = next(
                    (a for r in front.refusals if (a := r(request, front)) is not None), None
                )
                if answer is not None:
                    status, headers, body = answer.status, dict(answer.headers), answer.body
                    length = str(len(body))
                else:
                    status, got, body = front._forward(
                        request.method, request.path, request.headers, request.body
                    )
                    headers = {k: v for k, v in got.items() if k not in _HOP_BY_HOP}
                    for afterward in front.afterwards:
                        headers.update(afterward(request, status, headers))
                    # A HEAD answer's length is the length of what a GET would send.
                    length = got.get("content-length", "0") if self.command == "HEAD" else ""
                    length = length or str(len(body))
                front.answered.append((request.method, request.path, status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._httpd = http.server.ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> RegistryFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
