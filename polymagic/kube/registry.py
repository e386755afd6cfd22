"""Ask a container registry whether an image is already there (Docker Registry HTTP API v2).

This module owns the one question polymagic asks a registry before building: *does the destination
already hold this tag (or digest)?* The answer has three values, so that a network error, a refused
login or a server that is not a registry is never mistaken for "no":

- ``EXISTS``: the registry served a manifest for the reference; ``digest`` is its digest;
- ``MISSING``: the registry answered 404 (``MANIFEST_UNKNOWN`` / ``NAME_UNKNOWN``);
- ``UNKNOWN``: anything else, with a one-line human ``reason``.

References are read the way Kaniko (go-containerregistry) and Docker (distribution/reference) both
read them; the few forms the two read differently are refused with a message saying how to write
them unambiguously. Credentials come from a docker config (the ``config.json`` Kaniko reads) and are
never logged, never put in a message, and hidden from ``repr``.

Only the standard library is used: ``urllib.request`` (which honours ``HTTPS_PROXY`` / ``NO_PROXY``
as Kaniko does), ``ssl`` and ``json``. Besides the check it does two things, for an image
polymagic already knows by digest: read its manifest (:func:`read_manifest`: the media type and
the image's size, the sum of the config's and layers' sizes), and make tags point at it
(:func:`tag_manifest`: the manifest's own bytes PUT under each tag that points elsewhere). It
never pushes blobs and never deletes.

A registry is input polymagic does not control, so the check holds whatever it answers: one
deadline bounds the whole check (a server trickling one byte a second is cut off there, not
after each read); skipping TLS verification applies to the registry's own host only, never to
a token realm or redirect elsewhere; a redirect from HTTPS to plain HTTP is not followed; any
failure inside the check ends as ``UNKNOWN``; every ``reason`` is safe to print
(:func:`polymagic.printable.printable`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import hashlib
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import Message
from typing import Any

from polymagic.errors import ConnectionsError, SpecError
from polymagic.printable import printable

__all__ = [
    "ImageManifest",
    "ImageReference",
    "ManifestAnswer",
    "Presence",
    "RegistryAnswer",
    "RegistryAuth",
    "check_image",
    "read_manifest",
    "tag_manifest",
]

DOCKER_HUB_HOST = "registry-1.docker.io"
"""Where Docker Hub's registry API is served (``docker.io`` is only its name)."""

_DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
"""What a check accepts, so a registry serves multi-platform indexes as they are."""

_MAX_MANIFEST = 4 * 1024 * 1024  # registries refuse manifests larger than 4 MiB
_MAX_TOKEN_RESPONSE = 1024 * 1024
_USER_AGENT = "polymagic-registry-check"

# -- references ---------------------------------------------------------------------------------

# distribution/reference's grammar, intersected with go-containerregistry's checks (tags at most
# 127 characters, repositories at least 2, digests sha256 only) so both tools accept what we accept.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?", re.ASCII
)
_TAG = re.compile(r"[\w][\w.-]{0,126}", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_ANY_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference: where the registry is, which repository, which tag or digest."""

    host: str
    """The registry to contact (``registry-1.docker.io`` for Docker Hub), with its port if any."""
    repository: str
    """The repository path (``library/ubuntu`` for Docker Hub's single-component names)."""
    tag: str | None = None
    """The tag; ``latest`` when the reference names neither a tag nor a digest."""
    digest: str | None = None
    """The digest (``sha256:...``), which wins over the tag when both are given."""

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Read ``[host[:port]/]path[:tag][@sha256:digest]`` as Kaniko and Docker read it."""
        return _parse_reference(text)

    @property
    def name(self) -> str:
        """``host/repository``."""
        return f"{self.host}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What is asked of the registry: the digest if there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def is_docker_hub(self) -> bool:
        """True for references to Docker Hub."""
        return self.host in _DOCKER_HUB_NAMES

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _invalid(text: str, why: str) -> SpecError:
    return SpecError(f"`{text}` is not a valid image reference: {why}")


def _parse_reference(text: str) -> ImageReference:
    if not isinstance(text, str) or not text:
        raise SpecError("an image reference is required")
    if "://" in text:
        raise _invalid(text, "write it without a scheme (`registry.example.com/org/app:tag`)")
    if any(char.isspace() for char in text):
        raise _invalid(text, "it contains whitespace")
    rest, digest = text, None
    if "@" in text:
        rest, _, digest = text.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise _invalid(text, "the digest must be `sha256:` and 64 lowercase hex digits")
    tag = None
    colon = rest.rfind(":")
    if colon != -1 and "/" not in rest[colon + 1 :]:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _invalid(
                text,
                "a tag is 1 to 127 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            )
    domain, path = _split_domain(text, rest)
    if not _PATH.fullmatch(path):
        why = (
            "the repository must be lowercase"
            if path.lower() != path
            else "the repository is lowercase words separated by `/`, joined by `.`, `_`, `__` or `-`"
        )
        raise _invalid(text, why)
    written = f"{domain}/{path}" if domain else path
    if len(written) > 255:
        raise _invalid(text, "the name is longer than 255 characters")
    if len(path) < 2:
        raise _invalid(text, "the repository must be at least 2 characters (Kaniko's rule)")
    host = domain or "docker.io"
    if host in ("docker.io", "index.docker.io"):
        host = DOCKER_HUB_HOST
        if "/" not in path:
            path = f"library/{path}"
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(host=host, repository=path, tag=tag, digest=digest)


def _split_domain(text: str, name: str) -> tuple[str | None, str]:
    """Split ``name`` into (registry domain or None for Docker Hub, repository path)."""
    first, slash, remainder = name.partition("/")
    if not slash:
        return None, name
    if "." in first or ":" in first:
        if not _DOMAIN.fullmatch(first):
            raise _invalid(text, f"`{first}` is not a valid registry host[:port]")
        return first, remainder
    if first == "localhost":
        # Docker reads `localhost/app` as registry `localhost`; Kaniko as Docker Hub's `localhost/app`.
        raise _invalid(
            text,
            "Docker and Kaniko read `localhost/...` differently: add the port"
            " (`localhost:5000/...`) or write `docker.io/localhost/...`",
        )
    if first.lower() != first:
        raise _invalid(text, "the repository must be lowercase")
    return None, name


# -- credentials ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class RegistryAuth:
    """Credentials for one registry: a user and password, an identity (refresh) token, or a
    registry (bearer) token. ``repr`` never shows them."""

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    registry_token: str | None = None

    def __repr__(self) -> str:
        kinds = [
            kind
            for kind, value in (
                ("password", self.password),
                ("identity_token", self.identity_token),
                ("registry_token", self.registry_token),
            )
            if value
        ]
        return f"RegistryAuth({', '.join(kinds) or 'empty'}; values hidden)"

    __str__ = __repr__

    @property
    def has_basic(self) -> bool:
        """True when a user and password can be sent with HTTP Basic authentication."""
        return bool(self.username) and self.password is not None

    def _secret_strings(self) -> tuple[str, ...]:
        """Every secret this holds (and the base64 form sent on the wire), for redaction."""
        values = [v for v in (self.password, self.identity_token, self.registry_token) if v]
        if self.has_basic:
            values.append(_basic_value(self))
        return tuple(values)

    @classmethod
    def from_docker_config(
        cls, config: Mapping[str, Any], registry_host: str
    ) -> RegistryAuth | None:
        """The credentials a docker config JSON holds for ``registry_host``, or None.

        Entries match as Docker matches them: the exact key, then any key whose host (after an
        ``http(s)://`` scheme, before the first ``/``) is the registry's; Docker Hub's names
        (``docker.io``, ``index.docker.io``, ``registry-1.docker.io``, the ``https://index.docker.io/v1/``
        key) are one registry. Credential helpers (``credsStore``, ``credHelpers``) are not run.
        """
        if not isinstance(config, Mapping):
            raise ConnectionsError("the docker config must be a JSON object")
        auths = config.get("auths")
        if auths is None and "credsStore" not in config and "credHelpers" not in config:
            # The legacy ~/.dockercfg (and `kubernetes.io/dockercfg`) form: hosts at the top level.
            auths = {k: v for k, v in config.items() if isinstance(v, Mapping)}
        if auths is None:
            return None
        if not isinstance(auths, Mapping):
            raise ConnectionsError("the docker config's `auths` must be a JSON object")
        for key in _matching_keys(auths, registry_host):
            entry = auths[key]
            if not isinstance(entry, Mapping):
                raise ConnectionsError(f"the docker config entry for `{key}` must be a JSON object")
            found = _entry_auth(key, entry)
            if found is not None:
                return found
        return None


def _config_host(key: str) -> str:
    """Docker's ``ConvertToHostname``: drop an ``http(s)://`` scheme and everything after ``/``."""
    stripped = key
    for scheme in ("http://", "https://"):
        if stripped.lower().startswith(scheme):
            stripped = stripped[len(scheme) :]
            break
    return stripped.partition("/")[0].lower()


def _matching_keys(auths: Mapping[str, Any], registry_host: str) -> Iterator[str]:
    target = _config_host(registry_host)
    keys = [key for key in auths if isinstance(key, str)]
    if target in _DOCKER_HUB_NAMES:
        if _DOCKER_HUB_CONFIG_KEY in keys:
            yield _DOCKER_HUB_CONFIG_KEY
        yield from (
            k for k in keys if k != _DOCKER_HUB_CONFIG_KEY and _config_host(k) in _DOCKER_HUB_NAMES
        )
        return
    if registry_host in keys:
        yield registry_host
    yield from (k for k in keys if k != registry_host and _config_host(k) == target)


def _entry_auth(key: str, entry: Mapping[str, Any]) -> RegistryAuth | None:
    def text(field: str) -> str | None:
        value = entry.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ConnectionsError(
                f"the docker config entry for `{key}`: `{field}` must be a string"
            )
        return value

    username, password = text("username"), text("password")
    encoded = text("auth")
    if encoded is not None:
        try:
            decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, colon, secret = decoded.partition(":")
        if not colon or not user:
            # The value is never quoted: it holds the password.
            raise ConnectionsError(
                f"the docker config entry for `{key}` has an `auth` value that is not"
                " base64 of `user:password`"
            )
        username, password = user, secret
    identity_token, registry_token = text("identitytoken"), text("registrytoken")
    if not (password is not None and username) and not identity_token and not registry_token:
        return None
    return RegistryAuth(
        username=username,
        password=password if username else None,
        identity_token=identity_token,
        registry_token=registry_token,
    )


def _basic_value(auth: RegistryAuth) -> str:
    raw = f"{auth.username}:{auth.password}".encode()
    return base64.b64encode(raw).decode("ascii")


# -- answers ------------------------------------------------------------------------------------


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


# -- the check ----------------------------------------------------------------------------------


def check_image(
    reference: str | ImageReference,
    *,
    auth: RegistryAuth | None,
    insecure: bool = False,
    skip_tls_verify: bool = False,
    ca_file: str | None = None,
    timeout: float = 10,
) -> RegistryAnswer:
    """Ask the registry whether ``reference`` (a tag or a digest) exists; never raises for I/O.

    Anonymous first; on 401 with a ``Basic`` challenge the user and password are sent, with a
    ``Bearer`` challenge a token is fetched from the realm (with the credentials, if any) and the
    request retried. ``insecure`` talks plain HTTP (Kaniko's ``--insecure``); ``skip_tls_verify``
    talks HTTPS without checking the certificate (``--skip-tls-verify``); ``ca_file`` adds a CA to
    the system's. ``timeout`` bounds the whole check, in seconds. An invalid reference raises
    :class:`~polymagic.errors.SpecError`.
    """
    ref = reference if isinstance(reference, ImageReference) else ImageReference.parse(reference)
    tls = _TlsContexts(skip_tls_verify=skip_tls_verify, ca_file=ca_file)
    try:
        if not insecure:  # HTTPS: a CA file that cannot be used is the answer at once
            tls.load()
    except (OSError, ssl.SSLError) as error:
        why = getattr(error, "strerror", None) or getattr(error, "reason", None) or str(error)
        reason = printable(f"cannot use the CA file `{ca_file}`: {why}")
        return RegistryAnswer(Presence.UNKNOWN, ref, reason=reason)
    check = _Check(
        ref,
        auth=auth,
        insecure=insecure,
        tls=tls,
        skip_tls_verify=skip_tls_verify,
        timeout=timeout,
    )
    answer = check.run()
    secrets = auth._secret_strings() if auth is not None else ()
    return RegistryAnswer(
        presence=answer.presence,
        reference=ref,
        digest=answer.digest,
        reason=printable(_redact(answer.reason, secrets)),
        status=answer.status,
        credentials_rejected=answer.credentials_rejected,
    )


class _TlsContexts:
    """The TLS settings of one check: the registry's own (``skip_tls_verify`` applied) and a
    verifying one for any other host; made when first needed (loading the system's CAs takes
    tens of milliseconds, and a plain-HTTP registry may never need them)."""

    def __init__(self, *, skip_tls_verify: bool, ca_file: str | None) -> None:
        self.skip_tls_verify = skip_tls_verify
        self.ca_file = ca_file
        self._registry: ssl.SSLContext | None = None
        self._verified: ssl.SSLContext | None = None

    def load(self) -> None:
        """Make both now (raises OSError / ssl.SSLError for an unusable CA file)."""
        _ = self.registry, self.verified

    @property
    def registry(self) -> ssl.SSLContext:
        if self._registry is None:
            self._registry = _ssl_context(
                skip_tls_verify=self.skip_tls_verify, ca_file=self.ca_file
            )
        return self._registry

    @property
    def verified(self) -> ssl.SSLContext:
        if self._verified is None:
            self._verified = _ssl_context(skip_tls_verify=False, ca_file=self.ca_file)
        return self._verified


def _ssl_context(*, skip_tls_verify: bool, ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    # Very short values (a test password "y") would garble ordinary words; they are not echoed
    # by registries anyway, unlike tokens and passwords of real length.
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Message
    body: bytes


@dataclass(frozen=True)
class _Result:
    presence: Presence
    reason: str
    digest: str | None = None
    status: int | None = None
    credentials_rejected: bool = False


class _Unreachable(Exception):
    """A request got no HTTP answer; ``str()`` is the reason, free of credentials."""


class _Deadline:
    """The one deadline of a check, for every request and every read in it.

    Socket timeouts only bound each ``recv``: a server sending one byte a second never trips
    them. So every connection the check opens is registered here (a duplicate of its socket),
    and when the deadline passes a timer shuts them all down: whatever was blocked reading
    (TLS handshake, headers, body) returns at once, and ``expired`` tells why.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        """Cancel the timer and let go of the registered sockets (their connections are
        closed by their own owners)."""
        self._timer.cancel()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def connect(
        self, address: tuple[str, int], timeout: float | None = None, source: Any = None
    ) -> socket.socket:
        """``socket.create_connection`` for http.client, registering the socket."""
        remaining = self.remaining()
        if remaining <= 0:
            raise TimeoutError("the check's deadline passed")
        wait = remaining if timeout is None else min(timeout, remaining)
        sock = socket.create_connection(address, wait, source)
        with self._lock:
            if not self.expired:
                self._sockets.append(sock.dup())
                return sock
        sock.close()
        raise TimeoutError("the check's deadline passed")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the server
                sock.shutdown(socket.SHUT_RDWR)


def _with_deadline(factory: Any, deadline: _Deadline, **options: Any) -> Any:
    """An http.client connection class for urllib whose sockets obey ``deadline``."""

    def make(host: str, **kwargs: Any) -> Any:
        connection = factory(host, **kwargs, **options)
        connection._create_connection = deadline.connect
        return connection

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_with_deadline(http.client.HTTPConnection, self._deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """HTTPS with the registry's TLS settings for the registry's own host, and full
    verification for every other host (a token realm, a redirect's target)."""

    def __init__(self, check: _Check) -> None:
        super().__init__()
        self._check = check

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        target = getattr(req, "_tunnel_host", None) or req.host  # through a proxy: the origin
        context = self._check.context_for(target)
        factory = _with_deadline(http.client.HTTPSConnection, self._check.deadline, context=context)
        return self.do_open(factory, req)


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but never from HTTPS down to plain HTTP."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if req.type == "https" and urllib.parse.urlsplit(newurl).scheme != "https":
            fp.close()
            raise _Unreachable(
                f"{req.host} redirected an HTTPS request to `{_shown(newurl)}`: polymagic does"
                " not follow a redirect from HTTPS to plain HTTP"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _shown(text: str, limit: int = 200) -> str:
    """A value from the server, for a message: printable and not too long."""
    clean = printable(text)
    return clean if len(clean) <= limit else clean[:limit] + "…"


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urllib.parse.urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    default = 443 if scheme == "https" else 80
    return (parts.hostname or "", port or default)


class _Check:
    """One existence check: the requests, the auth dance and the reading of the answers."""

    def __init__(
        self,
        ref: ImageReference,
        *,
        auth: RegistryAuth | None,
        insecure: bool,
        tls: _TlsContexts,
        skip_tls_verify: bool,
        timeout: float,
    ) -> None:
        self.ref = ref
        self.auth = auth
        self.insecure = insecure
        self.timeout = timeout
        self.deadline = _Deadline(timeout)
        self.tls = tls
        self.skip_tls_verify = skip_tls_verify
        scheme = "http" if insecure else "https"
        path = urllib.parse.quote(ref.repository, safe="/")
        self.url = f"{scheme}://{ref.host}/v2/{path}/manifests/{urllib.parse.quote(ref.identifier, safe=':')}"
        self.opener = urllib.request.OpenerDirector()
        # Proxies from HTTPS_PROXY / NO_PROXY as Kaniko uses them; like Go, never for loopback.
        proxies = {} if _is_loopback(ref.host) else urllib.request.getproxies()
        for handler in (
            urllib.request.ProxyHandler(proxies),
            _HTTPHandler(self.deadline),
            _HTTPSHandler(self),
            _RedirectHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
        ):
            # Only http(s): a redirect or a token realm naming file:// or ftp:// is refused.
            self.opener.add_handler(handler)

    # The flow --------------------------------------------------------------------------------

    def context_for(self, netloc: str) -> ssl.SSLContext:
        """The TLS settings for a host: the registry's own for the registry, verified for others."""
        registry = _host_port(self.ref.host, "https")
        if registry is not None and _host_port(netloc, "https") == registry:
            return self.tls.registry
        return self.tls.verified

    def run(self) -> _Result:
        self.deadline.start()
        try:
            return self._run()
        except _Unreachable as error:
            return _Result(Presence.UNKNOWN, str(error))
        except Exception as error:  # whatever a server's answer breaks: can't tell, no crash
            return _Result(
                Presence.UNKNOWN,
                f"the check of {self.ref.host} failed on an answer polymagic cannot read"
                f" ({type(error).__name__})",
            )
        finally:
            self.deadline.stop()

    def _run(self) -> _Result:
        response = self._manifest("HEAD", None)
        authorization: str | None = None
        if response.status == 401:
            challenges = _parse_challenges(response.headers.get_all("WWW-Authenticate") or [])
            authorized = self._authorize(challenges)
            if isinstance(authorized, _Result):
                return authorized
            authorization = authorized
            response = self._manifest("HEAD", authorization)
            if response.status == 401:
                return self._refused(response, challenges)
        if response.status in (400, 405):
            # No HEAD on manifests (405), or an error a HEAD answer has no body to explain (400).
            response = self._manifest("GET", authorization)
        return self._read(response, authorization)

    def _read(self, response: _Response, authorization: str | None) -> _Result:
        status = response.status
        if status == 200:
            digest = response.headers.get("Docker-Content-Digest", "").strip()
            if not _ANY_DIGEST.fullmatch(digest):
                return self._digest_from_body(authorization)
            return self._found(digest)
        if status == 404:
            code = _error_code(response.body)
            detail = f" ({code})" if code else ""
            return _Result(
                Presence.MISSING,
                f"{self.ref.host} has no `{_short(self.ref)}`{detail}",
                status=status,
            )
        return _Result(Presence.UNKNOWN, self._status_reason(response), status=status)

    def _digest_from_body(self, authorization: str | None) -> _Result:
        # The header is missing (an old or unusual registry): read the manifest and hash its bytes.
        response = self._manifest("GET", authorization)
        if response.status != 200:
            return _Result(Presence.UNKNOWN, self._status_reason(response), status=response.status)
        try:
            document = json.loads(response.body)
        except ValueError:
            document = None
        if not isinstance(document, dict) or "schemaVersion" not in document:
            return _Result(
                Presence.UNKNOWN,
                f"{self.ref.host} answered 200 for {self.ref} but not with an image manifest:"
                " is it a registry?",
                status=200,
            )
        digest = "sha256:" + hashlib.sha256(response.body).hexdigest()
        return self._found(digest)

    def _found(self, digest: str) -> _Result:
        if self.ref.digest and digest != self.ref.digest:
            return _Result(
                Presence.UNKNOWN,
                f"{self.ref.host} answered for {self.ref.digest} with a manifest of digest {digest}",
                status=200,
            )
        return _Result(Presence.EXISTS, f"{self.ref} exists ({digest})", digest, 200)

    # Authentication ----------------------------------------------------------------------

    def _authorize(self, challenges: dict[str, dict[str, str]]) -> str | _Result:
        """The Authorization header to retry with, or the final answer when there is none."""
        auth = self.auth
        if "bearer" in challenges:
            if auth is not None and auth.registry_token:
                return f"Bearer {auth.registry_token}"
            return self._fetch_token(challenges["bearer"])
        if "basic" in challenges:
            if auth is None or not auth.has_basic:
                return _Result(
                    Presence.UNKNOWN,
                    f"{self.ref.host} requires a user and password (HTTP Basic) and none were"
                    f" given{self._no_credentials_hint()}",
                    status=401,
                )
            return f"Basic {_basic_value(auth)}"
        schemes = ", ".join(sorted(challenges)) or "none"
        return _Result(
            Presence.UNKNOWN,
            f"{self.ref.host} answered 401 with an authentication scheme polymagic does not"
            f" support ({schemes})",
            status=401,
        )

    def _fetch_token(self, challenge: dict[str, str]) -> str | _Result:
        realm = challenge.get("realm", "")
        try:
            parsed = urllib.parse.urlsplit(realm)
            usable = parsed.scheme in ("http", "https") and bool(parsed.hostname)
            usable = usable and _host_port(parsed.netloc, parsed.scheme) is not None
        except ValueError:  # e.g. `http://[::1/token`
            usable = False
        if not usable:
            return _Result(
                Presence.UNKNOWN,
                f"{self.ref.host} named an unusable token realm `{_shown(realm)}`",
                status=401,
            )
        auth = self.auth
        sends_secret = auth is not None and (auth.has_basic or bool(auth.identity_token))
        if sends_secret and parsed.scheme == "http" and not self.insecure:
            return _Result(
                Presence.UNKNOWN,
                f"the token realm `{_shown(realm)}` of {self.ref.host} is plain HTTP: credentials"
                " are only sent over HTTP to a registry marked insecure",
                status=401,
            )
        own_scope = f"repository:{self.ref.repository}:pull"
        scopes = [own_scope]
        if challenge.get("scope") and challenge["scope"] != own_scope:
            scopes.append(challenge["scope"])
        service = challenge.get("service")
        headers = {"Accept": "application/json"}
        if auth is not None and auth.identity_token:
            # Docker's OAuth2 flow: the identity token is a refresh token, POSTed as a form.
            form = {"grant_type": "refresh_token", "refresh_token": auth.identity_token}
            form |= {"client_id": _USER_AGENT, "scope": " ".join(scopes)}
            if service:
                form["service"] = service
            data: bytes | None = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            method, url = "POST", realm
        else:
            pairs = [("service", service)] if service else []
            query = urllib.parse.urlencode(pairs + [("scope", scope) for scope in scopes])
            data, method = None, "GET"
            url = f"{realm}{'&' if parsed.query else '?'}{query}"
            if auth is not None and auth.has_basic:
                headers["Authorization"] = f"Basic {_basic_value(auth)}"
        response = self._send(method, url, headers, data, limit=_MAX_TOKEN_RESPONSE)
        token_host = parsed.netloc
        if response.status in (401, 403):
            if sends_secret:
                why = "rejected the credentials from the docker config"
            else:
                why = "refused an anonymous token"
            return _Result(
                Presence.UNKNOWN,
                f"the token server {token_host} of {self.ref.host} {why} (HTTP {response.status})",
                status=response.status,
                credentials_rejected=sends_secret and response.status == 401,
            )
        if response.status != 200:
            return _Result(
                Presence.UNKNOWN,
                f"the token server {token_host} of {self.ref.host} answered HTTP {response.status}",
                status=response.status,
            )
        try:
            payload = json.loads(response.body)
        except ValueError:
            payload = None
        token = None
        if isinstance(payload, dict):
            token = payload.get("token") or payload.get("access_token")
        if not isinstance(token, str) or not token:
            return _Result(
                Presence.UNKNOWN,
                f"the token server {token_host} of {self.ref.host} answered without a token",
                status=response.status,
            )
        return f"Bearer {token}"

    def _refused(self, response: _Response, challenges: dict[str, dict[str, str]]) -> _Result:
        """The answer when the authenticated retry is refused too."""
        auth = self.auth
        has_credentials = auth is not None and (
            auth.has_basic or bool(auth.identity_token) or bool(auth.registry_token)
        )
        rejected = has_credentials and "basic" in challenges and "bearer" not in challenges
        if rejected:
            why = "rejected the credentials from the docker config"
        elif has_credentials:
            why = (
                f"did not let these credentials read `{self.ref.repository}` (or it does not exist)"
            )
        else:
            why = (
                f"needs credentials to read `{self.ref.repository}` (or it does not exist)"
                " and none were given"
            )
        hint = "" if has_credentials else self._no_credentials_hint()
        return _Result(
            Presence.UNKNOWN,
            f"{self.ref.host} {why} (HTTP 401){hint}",
            status=response.status,
            credentials_rejected=rejected,
        )

    def _no_credentials_hint(self) -> str:
        if self.auth is not None:
            return ""
        return f": add credentials for `{self.ref.host}` to the docker config's `auths`"

    # HTTP ----------------------------------------------------------------------------------

    def _manifest(self, method: str, authorization: str | None) -> _Response:
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        if authorization:
            headers["Authorization"] = authorization
        limit = _MAX_MANIFEST if method == "GET" else 64 * 1024
        return self._send(method, self.url, headers, None, limit=limit)

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        *,
        limit: int,
    ) -> _Response:
        host = urllib.parse.urlsplit(url).netloc
        late = f"no answer from {host} within {self.timeout:g}s"
        if self.deadline.remaining() <= 0 or self.deadline.expired:
            raise _Unreachable(late)
        try:
            response = self._exchange(method, url, host, headers, data, limit=limit)
        except _Unreachable:
            if self.deadline.expired:
                raise _Unreachable(late) from None
            raise
        if self.deadline.expired:  # the body may have been cut short when time ran out
            raise _Unreachable(late)
        return response

    def _exchange(
        self,
        method: str,
        url: str,
        host: str,
        headers: dict[str, str],
        data: bytes | None,
        *,
        limit: int,
    ) -> _Response:
        remaining = self.deadline.remaining()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("User-Agent", _USER_AGENT)
        for name, value in headers.items():
            if name == "Authorization":
                # Unredirected: urllib never forwards it to wherever a redirect points.
                request.add_unredirected_header(name, value)
            else:
                request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=remaining) as response:
                return _Response(response.status, response.headers, _read(response, limit, host))
        except urllib.error.HTTPError as error:
            try:
                body = _read(error, limit, host) if method != "HEAD" else b""
            except _Unreachable:
                body = b""
            finally:
                error.close()
            return _Response(error.code, error.headers, body)
        except urllib.error.URLError as error:
            reason = _network_reason(host, error.reason, self.timeout, self._skips_tls(host))
            raise _Unreachable(reason) from None
        except (OSError, http.client.HTTPException) as error:
            reason = _network_reason(host, error, self.timeout, self._skips_tls(host))
            raise _Unreachable(reason) from None
        except ValueError:
            # E.g. a token HTTP cannot carry; the error's text would quote part of it.
            raise _Unreachable(
                f"cannot send a request to {host}: a header or the URL holds characters HTTP"
                " cannot carry"
            ) from None

    def _skips_tls(self, host: str) -> bool:
        """Whether skip_tls_verify was asked and not applied because ``host`` is elsewhere."""
        return self.skip_tls_verify and self.context_for(host) is self.tls.verified

    def _status_reason(self, response: _Response) -> str:
        status, host = response.status, self.ref.host
        code = _error_code(response.body)
        detail = f" ({code})" if code else ""
        if status == 400 and b"HTTP request to an HTTPS server" in response.body:
            return f"{host} serves HTTPS, but the check used plain HTTP: do not mark it insecure"
        if status == 403:
            return f"{host} refused access to `{self.ref.repository}` (HTTP 403){detail}"
        if status == 429:
            return f"{host} is rate-limiting requests (HTTP 429): try again later"
        if status >= 500:
            return f"{host} failed with HTTP {status}{detail}: the registry has a problem"
        return f"{host} answered HTTP {status}{detail}, which is neither found nor not found"


# -- manifests of an image known by digest -------------------------------------------------------

_INDEX_TYPES = frozenset(MANIFEST_MEDIA_TYPES[0::2])  # OCI index, Docker manifest list


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


def read_manifest(
    reference: str | ImageReference,
    *,
    auth: RegistryAuth | None,
    insecure: bool = False,
    skip_tls_verify: bool = False,
    ca_file: str | None = None,
    timeout: float = 10,
) -> ManifestAnswer:
    """The manifest of ``reference`` (``host/repository@sha256:...``); never raises for I/O.

    The body must hash to the digest asked for. Credentials, TLS and the one deadline work as
    in :func:`check_image`."""
    return tag_manifest(
        reference,
        (),
        auth=auth,
        insecure=insecure,
        skip_tls_verify=skip_tls_verify,
        ca_file=ca_file,
        timeout=timeout,
    )


def tag_manifest(
    reference: str | ImageReference,
    tags: Sequence[str | ImageReference],
    *,
    auth: RegistryAuth | None,
    insecure: bool = False,
    skip_tls_verify: bool = False,
    ca_file: str | None = None,
    timeout: float = 10,
) -> ManifestAnswer:
    """Read the manifest of ``reference`` (by digest), then make each of ``tags`` (references
    with a tag, on the same registry) point at it: a tag already pointing there is left alone,
    any other gets the manifest's own bytes PUT under it (Docker Registry API v2; the
    registry needs the blobs in that repository, so another repository usually refuses).

    Stops at the first tag that cannot be set, with the reason; never raises for I/O. The
    credentials must allow pushing to the tags' repositories (a bearer token is asked for
    ``pull,push`` when the registry's challenge says so)."""
    ref = reference if isinstance(reference, ImageReference) else ImageReference.parse(reference)
    targets = [t if isinstance(t, ImageReference) else ImageReference.parse(t) for t in tags]
    if ref.digest is None:
        raise SpecError(f"`{ref}`: a manifest is read by digest (`@sha256:...`)")
    for target in targets:
        if target.host != ref.host or target.tag is None or target.digest is not None:
            raise SpecError(f"`{target}`: a tag on {ref.host} (`{ref.host}/repository:tag`)")
    tls = _TlsContexts(skip_tls_verify=skip_tls_verify, ca_file=ca_file)
    try:
        if not insecure:  # HTTPS: a CA file that cannot be used is the answer at once
            tls.load()
    except (OSError, ssl.SSLError) as error:
        why = getattr(error, "strerror", None) or getattr(error, "reason", None) or str(error)
        return ManifestAnswer(None, printable(f"cannot use the CA file `{ca_file}`: {why}"))
    session = _ManifestSession(
        ref,
        auth=auth,
        insecure=insecure,
        tls=tls,
        skip_tls_verify=skip_tls_verify,
        timeout=timeout,
    )
    answer = session.read_and_tag(targets)
    secrets = auth._secret_strings() if auth is not None else ()
    return replace(answer, reason=printable(_redact(answer.reason, secrets)))


class _ManifestSession(_Check):
    """Manifest requests on one registry under one deadline, keeping the authorization the
    first challenge gave (a new challenge, e.g. for ``push``, gets a new one)."""

    _authorization: str | None = None

    def read_and_tag(self, targets: list[ImageReference]) -> ManifestAnswer:
        self.deadline.start()
        try:
            return self._read_and_tag(targets)
        except _Unreachable as error:
            return ManifestAnswer(None, str(error))
        except Exception as error:  # whatever a server's answer breaks: an answer, no crash
            return ManifestAnswer(
                None,
                f"reading the manifest from {self.ref.host} failed on an answer polymagic"
                f" cannot read ({type(error).__name__})",
            )
        finally:
            self.deadline.stop()

    def _read_and_tag(self, targets: list[ImageReference]) -> ManifestAnswer:
        got = self._call("GET", self.url, {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)})
        if isinstance(got, _Result):
            return ManifestAnswer(None, got.reason, credentials_rejected=got.credentials_rejected)
        if got.status != 200:
            return ManifestAnswer(None, self._status_reason(got))
        digest = "sha256:" + hashlib.sha256(got.body).hexdigest()
        if digest != self.ref.digest:
            return ManifestAnswer(
                None,
                f"{self.ref.host} answered for {self.ref} with a manifest of digest {digest}",
            )
        media_type = (got.headers.get("Content-Type") or "").split(";")[0].strip()
        if media_type not in MANIFEST_MEDIA_TYPES:
            try:
                declared = json.loads(got.body).get("mediaType")
            except (ValueError, AttributeError):
                declared = None
            if declared not in MANIFEST_MEDIA_TYPES:
                return ManifestAnswer(
                    None,
                    f"{self.ref.host} served {self.ref} as `{_shown(media_type)}`, not an image"
                    " manifest",
                )
            media_type = str(declared)
        manifest = ImageManifest(self.ref, digest, media_type, got.body)
        tagged: list[str] = []
        for target in targets:
            why = self._point(target, manifest)
            if why:
                return ManifestAnswer(manifest, why, tuple(tagged))
            tagged.append(str(target))
        return ManifestAnswer(manifest, "", tuple(tagged))

    def _point(self, target: ImageReference, manifest: ImageManifest) -> str:
        """Make ``target`` point at ``manifest``; "" when it does, else why not."""
        url = self._url_of(target)
        now = self._call("HEAD", url, {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)})
        pointed = now.headers.get("Docker-Content-Digest", "") if isinstance(now, _Response) else ""
        if pointed.strip() == manifest.digest:
            return ""
        put = self._call(
            "PUT", url, {"Content-Type": manifest.media_type}, data=manifest.body, limit=64 * 1024
        )
        if isinstance(put, _Result):
            return f"could not tag {target}: {put.reason}"
        if put.status not in (200, 201):
            code = _error_code(put.body)
            detail = f" ({code})" if code else ""
            if put.status in (401, 403):
                why = f"refused to let these credentials push to `{target.repository}`"
            else:
                why = "refused the manifest"
            return f"could not tag {target}: {target.host} {why} (HTTP {put.status}){detail}"
        answered = put.headers.get("Docker-Content-Digest", "").strip()
        if answered and answered != manifest.digest:
            return (
                f"could not tag {target}: {target.host} stored the manifest as {answered},"
                f" not {manifest.digest}"
            )
        return ""

    def _url_of(self, ref: ImageReference) -> str:
        scheme = "http" if self.insecure else "https"
        path = urllib.parse.quote(ref.repository, safe="/")
        return f"{scheme}://{ref.host}/v2/{path}/manifests/{urllib.parse.quote(ref.identifier, safe=':')}"

    def _call(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None = None,
        limit: int = _MAX_MANIFEST,
    ) -> _Response | _Result:
        """One request, authenticated as the registry's challenge asks (once per challenge)."""
        if self._authorization:
            headers = {**headers, "Authorization": self._authorization}
        response = self._send(method, url, headers, data, limit=limit)
        if response.status != 401:
            return response
        challenges = _parse_challenges(response.headers.get_all("WWW-Authenticate") or [])
        authorized = self._authorize(challenges)
        if isinstance(authorized, _Result):
            return authorized
        self._authorization = authorized
        response = self._send(
            method, url, {**headers, "Authorization": authorized}, data, limit=limit
        )
        if response.status == 401 and method != "PUT":
            return self._refused(response, challenges)
        return response


def _short(ref: ImageReference) -> str:
    """``repository:tag`` or ``repository@digest``: what was asked, without the host."""
    return f"{ref.repository}@{ref.digest}" if ref.digest else f"{ref.repository}:{ref.tag}"


def _is_loopback(host: str) -> bool:
    name = urllib.parse.urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _read(response: Any, limit: int, host: str) -> bytes:
    try:
        body: bytes = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as error:
        raise _Unreachable(f"the connection to {host} broke while reading: {error}") from None
    return body[:limit]


def _network_reason(host: str, error: object, timeout: float, elsewhere: bool) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or "certificate verify failed"
        if elsewhere:
            return (
                f"the TLS certificate of {host} is not trusted ({detail}): skip_tls_verify"
                " (Kaniko's --skip-tls-verify) applies to the registry's own host only, so"
                " nothing was sent there; pass its CA as ca_file"
            )
        return (
            f"the TLS certificate of {host} is not trusted ({detail}): pass its CA as ca_file,"
            " or skip_tls_verify=True (Kaniko's --skip-tls-verify)"
        )
    if isinstance(error, ssl.SSLError):
        text = str(error)
        if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
            return (
                f"{host} did not answer with TLS: if it serves plain HTTP, mark the registry"
                " insecure (Kaniko's --insecure)"
            )
        return f"TLS with {host} failed: {error.reason or text}"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"no answer from {host} within {timeout:g}s"
    if isinstance(error, ConnectionRefusedError):
        return f"cannot connect to {host}: connection refused (is the registry running there?)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host of {host}: {error.strerror or error}"
    if isinstance(error, ConnectionError):
        return f"the connection to {host} failed: {error.strerror or type(error).__name__}"
    if isinstance(error, http.client.HTTPException):
        return f"{host} did not answer with valid HTTP ({type(error).__name__})"
    return f"cannot reach {host}: {error}"


def _error_code(body: bytes) -> str | None:
    """The first error code of a registry's JSON error body (``MANIFEST_UNKNOWN``), if any."""
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("errors"), list):
        for error in document["errors"]:
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                return _shown(error["code"], limit=64)
    return None


_PARAM = re.compile(r'([A-Za-z0-9_.-]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^,\s"]*)')
_SCHEME = re.compile(r"([A-Za-z0-9!#$%&'*+.^_`|~-]+)")


def _parse_challenges(values: list[str]) -> dict[str, dict[str, str]]:
    """``WWW-Authenticate`` values as {scheme (lowercase): {param: value}}; the first of a scheme wins."""
    challenges: dict[str, dict[str, str]] = {}
    for value in values:
        current: dict[str, str] | None = None
        position = 0
        while position < len(value):
            if value[position] in " \t,":
                position += 1
                continue
            param = _PARAM.match(value, position)
            if param is not None and current is not None:
                raw = param.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                current.setdefault(param.group(1).lower(), raw)
                position = param.end()
                continue
            scheme = _SCHEME.match(value, position)
            if scheme is None:
                break
            current = {}
            challenges.setdefault(scheme.group(1).lower(), current)
            position = scheme.end()
    return challenges
