"""A private package index the tests own: PEP 503's "simple" API on 127.0.0.1 over the wheels
``.ci/python-base.sh`` fetched, answering only HTTP basic auth with its token.

This module owns the server (a thread; :meth:`PackageIndex.start` / :meth:`PackageIndex.stop`),
the ``pip.conf`` that reaches it with the token, and the record of what it was asked: each
request's path and whether it carried the token, so a test can tell that pip came (or did not).
Wheel files are served with ``Cache-Control`` and an ``ETag`` so that pip's HTTP cache keeps them
(a cache-mount rebuild then says ``Using cached``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PackageIndex", "Request", "normalize"]

USERNAME = "team"


def normalize(name: str) -> str:
    """A project name as PEP 503 normalizes it."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Request:
    path: str
    authorized: bool
    status: int


class _Handler(http.server.BaseHTTPRequestHandler):
    index: PackageIndex  # set on the subclass each server makes

    def do_GET(self) -> None:
        expected = base64.b64encode(f"{USERNAME}:{self.index.token}".encode()).decode()
        authorized = self.headers.get("Authorization", "") == f"Basic {expected}"
        status, body, headers = self._answer(authorized)
        self.index.record(Request(self.path, authorized, status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        rate = self.index.rate if self.path.startswith("/files/") else None
        if rate is None:
            self.wfile.write(body)
            return
        # A remote index's pace: each wheel arrives at ``rate`` bytes a second.
        started, step = time.monotonic(), max(1, rate // 20)
        for offset in range(0, len(body), step):
            self.wfile.write(body[offset : offset + step])
            ahead = started + (offset + step) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def _answer(self, authorized: bool) -> tuple[int, bytes, dict[str, str]]:
        if not authorized:
            return (
                401,
                b"401: this index wants a token\n",
                {"WWW-Authenticate": 'Basic realm="polymagic test index"'},
            )
        path = self.path.split("?", 1)[0]
        wheels = self.index.wheels
        if path in ("/simple", "/simple/"):
            links = "".join(
                f'<a href="/simple/{p}/">{p}</a>\n' for p in sorted(self.index.projects())
            )
            return 200, _page("Simple index", links), {"Content-Type": "text/html"}
        found = re.fullmatch(r"/simple/([^/]+)/?", path)
        if found:
            files = self.index.projects().get(normalize(found.group(1)))
            if files is None:
                return 404, b"no such project\n", {}
            links = "".join(
                f'<a href="/files/{html.escape(f.name)}#sha256={_sha256(f)}">'
                f"{html.escape(f.name)}</a>\n"
                for f in files
            )
            return 200, _page(found.group(1), links), {"Content-Type": "text/html"}
        found = re.fullmatch(r"/files/([^/]+\.whl)", path)
        if found and (wheels / found.group(1)).is_file():
            wheel = wheels / found.group(1)
            return (
                200,
                wheel.read_bytes(),
                {
                    "Content-Type": "application/octet-stream",
                    "Cache-Control": "public, max-age=86400",
                    "ETag": f'"{_sha256(wheel)}"',
                },
            )
        return 404, b"not found\n", {}

    def log_message(self, format: str, *args: Any) -> None:
        return


def _page(title: str, links: str) -> bytes:
    return (
        f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head>"
        f"<body>\n{links}</body></html>\n"
    ).encode()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class PackageIndex:
    """The index over ``wheels`` on a free loopback port, wanting ``team:<token>``."""

    def __init__(self, wheels: Path, token: str | None = None, rate: int | None = None) -> None:
        self.wheels = wheels
        self.token = token or secrets.token_hex(24)
        self.rate = rate
        """Bytes a second each wheel is served at (None: as fast as loopback goes)."""
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def projects(self) -> dict[str, list[Path]]:
        """Each normalized project name and its wheels."""
        found: dict[str, list[Path]] = {}
        for wheel in sorted(self.wheels.glob("*.whl")):
            found.setdefault(normalize(wheel.name.split("-", 1)[0]), []).append(wheel)
        return found

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> PackageIndex:
        handler = type("IndexHandler", (_Handler,), {"index": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The simple index's URL, without credentials."""
        assert self._server is not None, "the index is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    @property
    def url_with_token(self) -> str:
        return self.url.replace("http://", f"http://{USERNAME}:{self.token}@", 1)

    def pip_conf(self) -> str:
        """A ``pip.conf`` reaching this index with the token (what the Secret holds). The index
        is plain HTTP, so it is a trusted host: pip caches only what comes over HTTPS or from
        a trusted host."""
        return (
            f"[global]\nindex-url = {self.url_with_token}\ntrusted-host = 127.0.0.1\n"
            "no-input = true\ndisable-pip-version-check = true\n"
        )

    def __enter__(self) -> PackageIndex:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
