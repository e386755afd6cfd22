"""A registry's answers from a table, for fast tests of the check's logic through the
:class:`polymagic.registry.Transport` seam (no server, no socket).

Each route is ``(method, url)`` (the URL without its query) and answers with a
:class:`~polymagic.registry.Response`, an exception to raise, or a function of the request.
Every request sent is kept in ``sent``; a request without a route fails the test.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from polymagic.registry import Request, Response

Answer = Response | BaseException | Callable[[Request], Response]

__all__ = ["FakeTransport", "digest", "error_body", "manifest_body"]


@dataclass
class FakeTransport:
    """Answers from ``routes``; remembers what was sent."""

    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    sent: list[Request] = field(default_factory=list)

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        route = (request.method, request.url.partition("?")[0])
        if route not in self.routes:
            raise AssertionError(f"unexpected request {route}")
        answer = self.routes[route]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, Response):
            return answer
        return answer(request)

    def to(self, method: str, url: str) -> list[Request]:
        """The requests sent as ``method`` to ``url`` (without its query)."""
        return [r for r in self.sent if (r.method, r.url.partition("?")[0]) == (method, url)]


def manifest_body(layers: tuple[int, ...] = (10, 20)) -> bytes:
    """A Docker image manifest whose config is 5 bytes and whose layers have ``layers`` sizes."""
    media = "application/vnd.docker.distribution.manifest.v2+json"
    document = {
        "schemaVersion": 2,
        "mediaType": media,
        "config": {"size": 5, "digest": "sha256:" + "c" * 64},
        "layers": [{"size": size, "digest": "sha256:" + "d" * 64} for size in layers],
    }
    return json.dumps(document).encode()


def digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def error_body(code: str) -> bytes:
    """A registry's JSON error body with one error ``code``."""
    return json.dumps({"errors": [{"code": code, "message": "m"}]}).encode()
