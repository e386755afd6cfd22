"""HTTP to a registry: the one module of polymagic that imports ``urllib`` and ``http``.

It owns what a registry's host must not be able to stretch or redirect: one deadline bounds
every request and every read of one check (a server trickling one byte a second is cut off
there, not after each read); skipping TLS verification applies to the registry's own host
only, never to a token realm or redirect elsewhere; a redirect from HTTPS to plain HTTP is not
followed; an ``Authorization`` header never follows a redirect; only ``http(s)`` URLs are
opened; proxies come from ``HTTPS_PROXY`` / ``NO_PROXY`` as Kaniko uses them (never for
loopback, like Go). A request that gets no HTTP answer raises :class:`Unreachable`, whose text
is the reason for a human, free of credentials.

:class:`Transport` is the seam: the check, the token auth and the tagging send their requests
through it, and a test can pass a fake that answers from a table instead of a server.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from polymagic.printable import printable
from polymagic.registry.reference import ImageReference

__all__ = [
    "USER_AGENT",
    "HttpTransport",
    "Request",
    "Response",
    "Transport",
    "TransportUnusable",
    "Unreachable",
    "Url",
    "encode_query",
    "manifest_url",
    "parse_url",
    "shown",
]

USER_AGENT = "polymagic-registry-check"


@dataclass(frozen=True)
class Request:
    """One HTTP request, and how much of the answer's body to read."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    limit: int = 64 * 1024
    """Read at most this many bytes of the body (the rest is dropped)."""
    data: bytes | None = None


@dataclass(frozen=True)
class Response:
    """An HTTP answer, whatever its status."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        """The first value of header ``name`` (any case), or ``default``."""
        values = self.header_values(name)
        return values[0] if values else default

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


class Unreachable(Exception):
    """A request got no HTTP answer; ``str()`` is the reason, free of credentials."""


class TransportUnusable(Exception):
    """The transport cannot be set up (a CA file that cannot be used); ``str()`` is why."""


class Transport(Protocol):
    """What sends a registry check's requests: :class:`HttpTransport`, or a test's fake."""

    def send(self, request: Request) -> Response:
        """The answer to ``request`` (any status); raises :class:`Unreachable` without one."""
        ...


@dataclass(frozen=True)
class Url:
    """The parts of a URL a token realm is judged by."""

    scheme: str
    netloc: str
    query: str


def parse_url(text: str) -> Url | None:
    """``text`` as a URL, or None when it cannot be read, names no host or has a bad port."""
    try:
        parts = urllib.parse.urlsplit(text)
        if not parts.hostname or _host_port(parts.netloc, parts.scheme) is None:
            return None
    except ValueError:  # e.g. `http://[::1/token`
        return None
    return Url(parts.scheme, parts.netloc, parts.query)


def encode_query(pairs: Sequence[tuple[str, str]]) -> str:
    """``pairs`` as ``application/x-www-form-urlencoded`` (a query string or a form body)."""
    return urllib.parse.urlencode(pairs)


def manifest_url(ref: ImageReference, *, insecure: bool) -> str:
    """Where the registry serves the manifest of ``ref`` (Docker Registry HTTP API v2)."""
    scheme = "http" if insecure else "https"
    path = urllib.parse.quote(ref.repository, safe="/")
    return (
        f"{scheme}://{ref.host}/v2/{path}/manifests/{urllib.parse.quote(ref.identifier, safe=':')}"
    )


def shown(text: str, limit: int = 200) -> str:
    """A value from the server, for a message: printable and not too long."""
    clean = printable(text)
    return clean if len(clean) <= limit else clean[:limit] + "…"


class HttpTransport:
    """Requests of one check to one registry over ``urllib``, all under one deadline.

    The deadline starts when this is made; :meth:`close` (or leaving a ``with`` block) ends it.
    ``load_tls`` loads the TLS settings at once (raising :class:`TransportUnusable` for a CA file
    that cannot be used) instead of when HTTPS is first needed."""

    def __init__(
        self,
        registry_host: str,
        *,
        timeout: float,
        skip_tls_verify: bool = False,
        ca_file: str | None = None,
        load_tls: bool = False,
    ) -> None:
        self.registry_host = registry_host
        self.timeout = timeout
        self.tls = _TlsContexts(skip_tls_verify=skip_tls_verify, ca_file=ca_file)
        if load_tls:
            try:
                self.tls.load()
            except (OSError, ssl.SSLError) as error:
                why = getattr(error, "strerror", None) or getattr(error, "reason", None)
                detail = printable(f"cannot use the CA file `{ca_file}`: {why or error}")
                raise TransportUnusable(detail) from None
        self.deadline = _Deadline(timeout)
        self.opener = urllib.request.OpenerDirector()
        proxies = {} if _is_loopback(registry_host) else urllib.request.getproxies()
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
        self.deadline.start()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the deadline's timer."""
        self.deadline.stop()

    def context_for(self, netloc: str) -> ssl.SSLContext:
        """The TLS settings for a host: the registry's own for the registry, verified for others."""
        registry = _host_port(self.registry_host, "https")
        if registry is not None and _host_port(netloc, "https") == registry:
            return self.tls.registry
        return self.tls.verified

    def send(self, request: Request) -> Response:
        """The answer to ``request``; raises :class:`Unreachable` without one in time."""
        host = urllib.parse.urlsplit(request.url).netloc
        late = f"no answer from {host} within {self.timeout:g}s"
        if self.deadline.remaining() <= 0 or self.deadline.expired:
            raise Unreachable(late)
        try:
            response = self._exchange(request, host)
        except Unreachable:
            if self.deadline.expired:
                raise Unreachable(late) from None
            raise
        if self.deadline.expired:  # the body may have been cut short when time ran out
            raise Unreachable(late)
        return response

    def _exchange(self, request: Request, host: str) -> Response:
        remaining = self.deadline.remaining()
        try:
            with self.opener.open(_urllib_request(request), timeout=remaining) as answer:
                body = _read(answer, request.limit, host)
                return Response(answer.status, tuple(answer.headers.items()), body)
        except urllib.error.HTTPError as error:
            try:
                body = _read(error, request.limit, host) if request.method != "HEAD" else b""
            except Unreachable:
                body = b""
            finally:
                error.close()
            return Response(error.code, tuple(error.headers.items()), body)
        except urllib.error.URLError as error:
            reason = _network_reason(host, error.reason, self.timeout, self._skips_tls(host))
            raise Unreachable(reason) from None
        except (OSError, http.client.HTTPException) as error:
            reason = _network_reason(host, error, self.timeout, self._skips_tls(host))
            raise Unreachable(reason) from None
        except ValueError:
            # E.g. a token HTTP cannot carry; the error's text would quote part of it.
            raise Unreachable(
                f"cannot send a request to {host}: a header or the URL holds characters HTTP"
                " cannot carry"
            ) from None

    def _skips_tls(self, host: str) -> bool:
        """Whether skip_tls_verify was asked and not applied because ``host`` is elsewhere."""
        return self.tls.skip_tls_verify and self.context_for(host) is self.tls.verified


def _urllib_request(request: Request) -> urllib.request.Request:
    made = urllib.request.Request(request.url, data=request.data, method=request.method)
    made.add_header("User-Agent", USER_AGENT)
    for name, value in request.headers.items():
        if name == "Authorization":
            # Unredirected: urllib never forwards it to wherever a redirect points.
            made.add_unredirected_header(name, value)
        else:
            made.add_header(name, value)
    return made


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

    def __init__(self, transport: HttpTransport) -> None:
        super().__init__()
        self._transport = transport

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        target = getattr(req, "_tunnel_host", None) or req.host  # through a proxy: the origin
        context = self._transport.context_for(target)
        deadline = self._transport.deadline
        factory = _with_deadline(http.client.HTTPSConnection, deadline, context=context)
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
            raise Unreachable(
                f"{req.host} redirected an HTTPS request to `{shown(newurl)}`: polymagic does"
                " not follow a redirect from HTTPS to plain HTTP"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urllib.parse.urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    default = 443 if scheme == "https" else 80
    return (parts.hostname or "", port or default)


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
        raise Unreachable(f"the connection to {host} broke while reading: {error}") from None
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
