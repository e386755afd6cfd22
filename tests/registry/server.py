"""A real Docker registry (Debian's ``docker-registry``, Distribution 2.8) on 127.0.0.1 for tests.

This module owns the registry processes of the tests and what they need: a config file, TLS
material (a throwaway CA and a server certificate), an ``htpasswd`` file made with apache2-utils'
``htpasswd -Bbn``, and, for the Bearer mode, a small token server that issues JWTs the registry
verifies against the CA (the registry's own ``auth.token`` support; only the token issuer is ours).
It also pushes tiny images through the HTTP API (:func:`push_test_image`) with its own small
client, independent of :mod:`polymagic.registry`, so the tests check one against the other.

Modes: ``HTTP`` (plain), ``TLS`` (untrusted certificate), ``TLS_BASIC`` (TLS + htpasswd) and
``TLS_TOKEN`` (TLS + Bearer tokens; ``realm`` makes it announce another token realm, even a
malformed one, as a misconfigured registry does). Each registry logs to
``<workdir>/registry.log``; the process is started and stopped by PID (see
:class:`tests.cluster.control_plane.ManagedProcess`).

:class:`StubServer` is not a registry: it answers with whatever a test scripts, for situations a
real registry cannot be made to produce (a 503, a redirect, an HTML page). :class:`TrickleServer`
is not one either: it answers one byte a second, forever.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import gzip
import hashlib
import http.server
import io
import itertools
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.cluster.control_plane import ManagedProcess, free_port, write_ca_and_server_cert

__all__ = [
    "REGISTRY_BINARY",
    "ManifestKind",
    "RegistryMode",
    "RegistryServer",
    "RegistryServerError",
    "StubServer",
    "TrickleServer",
    "push_test_image",
]

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
HTPASSWD_BINARY = "htpasswd"
LOCALHOST = "127.0.0.1"
SERVICE = "polymagic-test-registry"
ISSUER = "polymagic-test-token-issuer"


class RegistryServerError(RuntimeError):
    """Raised when a test registry cannot be started or a test push fails."""


class RegistryMode(str, enum.Enum):
    """How a test registry is reached and who may read it."""

    HTTP = "http"
    TLS = "tls"
    TLS_BASIC = "tls-basic"
    TLS_TOKEN = "tls-token"

    @property
    def tls(self) -> bool:
        return self is not RegistryMode.HTTP


def missing_tools() -> list[str]:
    """The Debian tools the registry tests need and cannot find (install with ``.ci/setup``)."""
    missing = [] if REGISTRY_BINARY.is_file() else [f"{REGISTRY_BINARY} (docker-registry)"]
    if shutil.which(HTPASSWD_BINARY) is None:
        missing.append("htpasswd (apache2-utils)")
    return missing


@dataclass
class RegistryServer:
    """One registry process and its files under ``workdir``; ``start()`` waits until it answers."""

    workdir: Path
    mode: RegistryMode
    username: str = "polymagic-user"
    password: str = field(default_factory=lambda: "pw-" + secrets.token_urlsafe(18))
    identity_token: str = field(default_factory=lambda: "idt-" + secrets.token_urlsafe(24))
    port: int = field(default_factory=free_port)
    realm: str | None = None
    """The token realm a ``TLS_TOKEN`` registry announces (None: its own token server's)."""
    ca_file: Path | None = None
    token_server: TokenServer | None = None
    _process: ManagedProcess | None = None
    _context: ssl.SSLContext | None = None
    starts: ClassVar[int] = 0
    """How many registry processes this test process has started (tests/conftest.py checks that
    a test starting one is marked ``registry``)."""

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``: the registry part of an image reference."""
        return f"{LOCALHOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.mode.tls else 'http'}://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    @property
    def needs_credentials(self) -> bool:
        return self.mode in (RegistryMode.TLS_BASIC, RegistryMode.TLS_TOKEN)

    def image(self, repository: str, tag: str) -> str:
        """The reference of ``repository:tag`` in this registry."""
        return f"{self.host}/{repository}:{tag}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context trusting only this registry's CA (None for plain HTTP); made once."""
        if self.ca_file is None:
            return None
        if self._context is None:
            self._context = ssl.create_default_context(cafile=str(self.ca_file))
        return self._context

    def docker_config(
        self, form: str = "auth", *, password: str | None = None, repository: str = ""
    ) -> dict[str, Any]:
        """A docker config JSON for this registry: ``auth`` (base64 user:pass), ``username``
        (username/password fields), ``identitytoken``, or ``registrytoken`` (a token minted now
        that may pull ``repository``)."""
        secret = self.password if password is None else password
        entry: dict[str, Any]
        if form == "auth":
            entry = {"auth": base64.b64encode(f"{self.username}:{secret}".encode()).decode()}
        elif form == "username":
            entry = {"username": self.username, "password": secret}
        elif form == "identitytoken":
            entry = {"username": "<token>", "identitytoken": self.identity_token}
        elif form == "registrytoken":
            if self.token_server is None:
                raise RegistryServerError("registry tokens exist only in the TLS_TOKEN mode")
            grant = [f"repository:{repository}:pull"]
            entry = {"registrytoken": self.token_server.mint(self.username, grant)}
        else:
            raise ValueError(f"unknown docker config form {form!r}")
        return {"auths": {f"https://{self.host}" if self.mode.tls else self.host: entry}}

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> RegistryServer:
        missing = missing_tools()
        if missing:
            raise RegistryServerError(f"missing {', '.join(missing)}: run .ci/setup")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "storage")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.mode.tls:
            self.ca_file, cert, key = write_ca_and_server_cert(self.workdir)
            config["http"]["tls"] = {"certificate": str(cert), "key": str(key)}
        if self.mode is RegistryMode.TLS_BASIC:
            config["auth"] = {
                "htpasswd": {"realm": "polymagic-test", "path": str(self._write_htpasswd())}
            }
        if self.mode is RegistryMode.TLS_TOKEN:
            self.token_server = TokenServer(
                cert_file=self.workdir / "server.crt",
                key_file=self.workdir / "server.key",
                users={self.username: self.password},
                identity_tokens={self.identity_token: self.username},
            ).start()
            config["auth"] = {
                "token": {
                    "realm": self.realm or f"{self.token_server.url}/token",
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self.ca_file),
                }
            }
        config_file = self.workdir / "config.yml"
        config_file.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
        self._process = ManagedProcess(
            "docker-registry", [str(REGISTRY_BINARY), "serve", str(config_file)], self.log_path
        )
        RegistryServer.starts += 1
        self._process.start()
        self._wait_ready(timeout)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        if self.token_server is not None:
            self.token_server.stop()

    def _write_htpasswd(self) -> Path:
        line = subprocess.run(
            [HTPASSWD_BINARY, "-Bbn", self.username, self.password],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        path = self.workdir / "htpasswd"
        path.write_text(line + "\n")
        path.chmod(0o600)
        return path

    def _wait_ready(self, timeout: float) -> None:
        """Poll ``GET /v2/`` until it answers 200 or 401."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not self._process.alive():
                raise RegistryServerError(
                    f"docker-registry exited with {self._process.exit_code()};"
                    f" log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(
                    f"{self.url}/v2/", timeout=2, context=self.ssl_context()
                ) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                error.close()
                if error.code == 401:
                    return
                last = f"HTTP {error.code}"
            except OSError as error:
                last = str(error)
            time.sleep(0.05)
        raise RegistryServerError(
            f"docker-registry did not answer on {self.url}/v2/ within {timeout:.0f}s ({last});"
            f" log {self.log_path}:\n{self.log_tail()}"
        )


# -- the token server ---------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    """The Bearer token issuer of a ``TLS_TOKEN`` registry, over HTTPS on its own port.

    ``GET /token`` with Basic credentials, or ``POST /token`` with an OAuth2 form
    (``grant_type=refresh_token`` + an identity token, or ``password``), answers a JWT granting the
    requested scopes to a known user; unknown credentials get 401; anonymous callers get a token
    that grants nothing. Every request is recorded in :attr:`requests` as (method, kind).
    """

    def __init__(
        self,
        *,
        cert_file: Path,
        key_file: Path,
        users: dict[str, str],
        identity_tokens: dict[str, str],
    ) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise RegistryServerError("the token signing key must be RSA")
        self._key = key
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.users = users
        self.identity_tokens = identity_tokens
        self.requests: list[tuple[str, str]] = []
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"https://{LOCALHOST}:{self._httpd.server_address[1]}"

    def mint(self, subject: str, scopes: list[str]) -> str:
        """A signed JWT granting ``scopes`` (``repository:<name>:<action,...>``) to ``subject``."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and name and actions:
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def start(self) -> TokenServer:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                user, kind = server._basic_user(self.headers.get("Authorization"))
                server.requests.append(("GET", kind))
                self._answer(user, kind, query.get("scope", []))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                grant = form.get("grant_type", [""])[0]
                user: str | None = None
                if grant == "refresh_token":
                    user = server.identity_tokens.get(form.get("refresh_token", [""])[0])
                    kind = "identitytoken" if user else "bad-identitytoken"
                elif grant == "password":
                    name, password = form.get("username", [""])[0], form.get("password", [""])[0]
                    user = name if server.users.get(name) == password else None
                    kind = "password" if user else "bad-password"
                else:
                    kind = f"bad-grant:{grant}"
                server.requests.append(("POST", kind))
                scopes = " ".join(form.get("scope", [])).split()
                self._answer(user, kind, scopes)

            def _answer(self, user: str | None, kind: str, scopes: list[str]) -> None:
                if user is None and kind != "anonymous":
                    self._send(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                    return
                token = server._token_for(user, scopes)
                self._send(200, {"token": token, "access_token": token, "expires_in": 600})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        httpd = http.server.ThreadingHTTPServer((LOCALHOST, 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def _basic_user(self, header: str | None) -> tuple[str | None, str]:
        if not header:
            return None, "anonymous"
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None, f"bad-scheme:{scheme}"
        name, _, password = base64.b64decode(value).decode().partition(":")
        if self.users.get(name) == password:
            return name, "basic"
        return None, "bad-basic"

    def _token_for(self, user: str | None, scopes: list[str]) -> str:
        # Known users get what they ask for; anonymous callers get a token granting nothing.
        return self.mint(user, scopes) if user else self.mint("anonymous", [])


# -- pushing test images ------------------------------------------------------------------------


class ManifestKind(str, enum.Enum):
    """What :func:`push_test_image` puts under the tag."""

    DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
    OCI = "application/vnd.oci.image.manifest.v1+json"
    DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
    OCI_INDEX = "application/vnd.oci.image.index.v1+json"


_CONFIG_TYPES = {
    ManifestKind.DOCKER: "application/vnd.docker.container.image.v1+json",
    ManifestKind.OCI: "application/vnd.oci.image.config.v1+json",
}
_LAYER_TYPES = {
    ManifestKind.DOCKER: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ManifestKind.OCI: "application/vnd.oci.image.layer.v1.tar+gzip",
}
_CHILD = {ManifestKind.DOCKER_LIST: ManifestKind.DOCKER, ManifestKind.OCI_INDEX: ManifestKind.OCI}


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(content: str) -> tuple[bytes, str]:
    """A gzipped tar holding one file; returns (blob, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = content.encode()
        info = tarfile.TarInfo("polymagic-test.txt")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), _sha256(tar_bytes)


def push_test_image(
    registry: RegistryServer,
    repository: str,
    tag: str,
    auth: tuple[str, str] | None = None,
    *,
    kind: ManifestKind = ManifestKind.DOCKER,
    content: str | None = None,
) -> str:
    """Push a tiny image to ``repository:tag`` and return the digest the tag points to.

    A config blob and one layer blob are uploaded monolithically (``POST .../blobs/uploads/`` then
    ``PUT <location>?digest=``), then the manifest; for ``DOCKER_LIST``/``OCI_INDEX`` the image
    manifest is pushed by digest and an index of it under the tag. ``auth`` (user, password)
    defaults to the registry's own user when it needs one; ``content`` varies the layer (and so
    the digest), by default with the repository and tag.
    """
    if auth is None and registry.needs_credentials:
        auth = (registry.username, registry.password)
    client = _PushClient(registry, repository, auth)
    child = _CHILD.get(kind, kind)
    layer, diff_id = _layer(content or f"{repository}:{tag}")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "polymagic test"}],
        }
    ).encode()
    for blob in (config, layer):
        client.upload_blob(blob)
    manifest = {
        "schemaVersion": 2,
        "mediaType": child.value,
        "config": {
            "mediaType": _CONFIG_TYPES[child],
            "digest": _sha256(config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": _LAYER_TYPES[child], "digest": _sha256(layer), "size": len(layer)}
        ],
    }
    body = json.dumps(manifest).encode()
    if kind is child:
        return client.put_manifest(tag, child.value, body)
    child_digest = client.put_manifest(_sha256(body), child.value, body)
    index = {
        "schemaVersion": 2,
        "mediaType": kind.value,
        "manifests": [
            {
                "mediaType": child.value,
                "digest": child_digest,
                "size": len(body),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    return client.put_manifest(tag, kind.value, json.dumps(index).encode())


class _PushClient:
    """Just enough of the registry API to push: Basic or Bearer (push scope) authentication."""

    def __init__(
        self, registry: RegistryServer, repository: str, auth: tuple[str, str] | None
    ) -> None:
        self.registry = registry
        self.repository = repository
        self.auth = auth
        self.authorization: str | None = None

    def upload_blob(self, blob: bytes) -> None:
        status, headers, _ = self._call("POST", f"/v2/{self.repository}/blobs/uploads/", b"", {})
        if status != 202:
            raise RegistryServerError(f"starting a blob upload answered HTTP {status}")
        location = urllib.parse.urljoin(self.registry.url + "/", headers["Location"])
        separator = "&" if urllib.parse.urlsplit(location).query else "?"
        url = f"{location}{separator}digest={urllib.parse.quote(_sha256(blob))}"
        headers = {"Content-Type": "application/octet-stream"}
        status, _, body = self._call("PUT", url, blob, headers)
        if status != 201:
            raise RegistryServerError(f"uploading a blob answered HTTP {status}: {body[:300]!r}")

    def put_manifest(self, reference: str, media_type: str, body: bytes) -> str:
        path = f"/v2/{self.repository}/manifests/{reference}"
        status, headers, answer = self._call("PUT", path, body, {"Content-Type": media_type})
        if status != 201:
            raise RegistryServerError(
                f"pushing a manifest answered HTTP {status}: {answer[:300]!r}"
            )
        digest = _sha256(body)
        if headers.get("Docker-Content-Digest") != digest:
            raise RegistryServerError(
                f"the registry stored {headers.get('Docker-Content-Digest')}, expected {digest}"
            )
        return digest

    def _call(
        self, method: str, path: str, data: bytes, headers: dict[str, str]
    ) -> tuple[int, Any, bytes]:
        status, answer_headers, body = self._once(method, path, data, headers)
        if status == 401 and self.authorization is None:
            self.authorization = self._login(answer_headers.get("WWW-Authenticate", ""))
            status, answer_headers, body = self._once(method, path, data, headers)
        return status, answer_headers, body

    def _once(
        self, method: str, path: str, data: bytes, headers: dict[str, str]
    ) -> tuple[int, Any, bytes]:
        url = path if path.startswith("http") else self.registry.url + path
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        if self.authorization:
            request.add_header("Authorization", self.authorization)
        try:
            with urllib.request.urlopen(
                request, timeout=10, context=self.registry.ssl_context()
            ) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers, error.read()

    def _login(self, challenge: str) -> str:
        if self.auth is None:
            raise RegistryServerError(f"the registry asks for credentials ({challenge})")
        basic = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        if challenge.lower().startswith("basic"):
            return basic
        params = dict(
            (key, value.strip('"'))
            for key, _, value in (part.partition("=") for part in challenge[7:].split(","))
        )
        query = urllib.parse.urlencode(
            {"service": params["service"], "scope": f"repository:{self.repository}:pull,push"}
        )
        request = urllib.request.Request(
            f"{params['realm']}?{query}", headers={"Authorization": basic}
        )
        with urllib.request.urlopen(request, timeout=10, context=self.registry.ssl_context()) as r:
            return "Bearer " + str(json.loads(r.read())["token"])


# -- a scripted HTTP server -----------------------------------------------------------------------


@dataclass(frozen=True)
class StubAnswer:
    """What :class:`StubServer` answers: a status, headers and a body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class StubServer:
    """An HTTP server on 127.0.0.1 whose answers a test scripts with ``respond``.

    ``respond(method, path, headers)`` returns a :class:`StubAnswer`; every request is recorded
    in ``requests`` as (method, path, headers). With ``cert`` (certificate, key) it serves HTTPS.
    Not a registry: for what a registry will not do.
    """

    respond: Callable[[str, str, dict[str, str]], StubAnswer]
    cert: tuple[Path, Path] | None = None
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    _httpd: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        assert self._httpd is not None
        return f"{LOCALHOST}:{self._httpd.server_address[1]}"

    def start(self) -> StubServer:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                headers = dict(self.headers.items())
                stub.requests.append((self.command, self.path, headers))
                answer = stub.respond(self.command, self.path, headers)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_HEAD = do_POST = _handle

        self._httpd = http.server.ThreadingHTTPServer((LOCALHOST, 0), Handler)
        if self.cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.cert)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


# -- a server that answers one byte a second ----------------------------------------------------


class TrickleServer:
    """A TCP server on 127.0.0.1 that reads a request and answers ``head`` then ``tail``
    repeated, one byte every ``interval`` seconds, until the client goes away or ``stop()``.

    Every byte arrives well within any per-read timeout, so only a deadline for the whole
    exchange ends it. With ``cert`` (certificate, key) it speaks TLS. Not a registry.
    """

    def __init__(
        self,
        head: bytes = b"HTTP/1.1 200 OK\r\n",
        tail: bytes = b"X-Slow: y\r\n",
        *,
        interval: float = 1.0,
        cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.head, self.tail, self.interval = head, tail, interval
        self._listener = socket.create_server((LOCALHOST, 0))
        self._context: ssl.SSLContext | None = None
        if cert is not None:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(*cert)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.requests = 0

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self._listener.getsockname()[1]}"

    def start(self) -> TrickleServer:
        self._listener.settimeout(0.1)
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name="trickle-server", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError), connection:
            connection.settimeout(5)
            if self._context is not None:
                connection = self._context.wrap_socket(connection, server_side=True)
            received = b""
            while b"\r\n\r\n" not in received:
                data = connection.recv(4096)
                if not data:
                    return
                received += data
            self.requests += 1
            for byte in itertools.chain(self.head, itertools.cycle(self.tail)):
                if self._stopping.wait(self.interval):
                    return
                connection.sendall(bytes([byte]))
