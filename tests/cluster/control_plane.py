"""A real Kubernetes v1.20.2 control plane on 127.0.0.1 for integration tests.

This module owns the processes of the test cluster: it locates (or builds, via
``.ci/cluster-binaries.sh``) the binaries, writes the TLS material, the static
token file and the kubeconfigs into a temporary directory, starts etcd,
kube-apiserver, kube-scheduler and kube-controller-manager on free ports, waits
until each is ready, and stops every process it started by PID.

Every process logs to ``<workdir>/<name>.log``; a startup failure raises
:class:`ControlPlaneError` carrying the tail of the relevant log.

Deliberate differences from a production cluster:

- the apiserver runs with ``--watch-cache=false`` (by default) so that watches
  are served from etcd and :meth:`ControlPlane.compact_etcd` reliably makes a
  watch resuming from an older resourceVersion fail with 410 Gone;
- the scheduler and the controller-manager authenticate with static tokens of
  users in ``system:masters``;
- there is no kubelet: see :mod:`tests.cluster.simulated_node`.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import functools
import ipaddress
import json
import os
import queue
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "ADMIN_USER",
    "UNPRIVILEGED_USER",
    "ControlPlane",
    "ControlPlaneError",
    "KubeBinaries",
    "default_kube_bin",
    "ensure_binaries",
    "free_port",
    "start_child",
    "write_cert_kubeconfig",
    "write_client_cert",
    "write_self_signed_cert",
]

KUBE_VERSION = "v1.20.2"
ADMIN_USER = "polymagic-admin"
UNPRIVILEGED_USER = "alice"
REPO_ROOT = Path(__file__).resolve().parents[2]
BINARIES_SCRIPT = REPO_ROOT / ".ci" / "cluster-binaries.sh"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/24"
LOCALHOST = "127.0.0.1"
T = TypeVar("T")
# Alpha in 1.20: without it `ttlSecondsAfterFinished` on Jobs is silently dropped.
FEATURE_GATES = "TTLAfterFinished=true"


class ControlPlaneError(RuntimeError):
    """The control plane (or one of its processes) could not be started."""


# --------------------------------------------------------------------------- binaries


def default_kube_bin() -> Path:
    """Where ``.ci/cluster-binaries.sh`` installs the binaries (same default as the script)."""
    if "KUBE_BIN" in os.environ:
        return Path(os.environ["KUBE_BIN"])
    cache_root = os.environ.get("POLYMAGIC_CACHE") or str(Path.home() / ".cache" / "polymagic")
    return Path(cache_root) / f"kube-{KUBE_VERSION}" / "bin"


@dataclass(frozen=True)
class KubeBinaries:
    """Absolute paths of the four control-plane executables."""

    apiserver: Path
    scheduler: Path
    controller_manager: Path
    etcd: Path

    @classmethod
    def locate(cls, kube_bin: Path | None = None) -> KubeBinaries | None:
        """The binaries in ``kube_bin`` plus ``etcd`` from PATH, or None if any is missing."""
        directory = kube_bin or default_kube_bin()
        names = ("kube-apiserver", "kube-scheduler", "kube-controller-manager")
        paths = [directory / name for name in names]
        etcd = _which("etcd")
        if etcd is None or not all(os.access(path, os.X_OK) for path in paths):
            return None
        return cls(apiserver=paths[0], scheduler=paths[1], controller_manager=paths[2], etcd=etcd)


def ensure_binaries(kube_bin: Path | None = None, script: Path = BINARIES_SCRIPT) -> KubeBinaries:
    """Locate the binaries, building them with ``.ci/cluster-binaries.sh`` when missing."""
    found = KubeBinaries.locate(kube_bin)
    if found is not None:
        return found
    env = dict(os.environ)
    if kube_bin is not None:
        env["KUBE_BIN"] = str(kube_bin)
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with subprocess.Popen(
        ["bash", str(script)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as build:
        assert build.stdout is not None
        for line in build.stdout:  # progress goes to stderr (visible with -s, captured otherwise)
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
    found = KubeBinaries.locate(kube_bin)
    if build.returncode != 0 or found is None:
        raise ControlPlaneError(f"{script} failed (exit {build.returncode}):\n" + "\n".join(tail))
    return found


def _which(name: str) -> Path | None:
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / name
        if directory and os.access(candidate, os.X_OK):
            return candidate
    return None


# --------------------------------------------------------------------------- TLS and credentials


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (all sockets are held until every port is picked)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOCALHOST, 0))
            ports.append(sock.getsockname()[1])
        return ports


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _cert_builder(
    subject: str, issuer: str, public_key: rsa.RSAPublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _server_extensions(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    names = [x509.IPAddress(ipaddress.ip_address(LOCALHOST)), x509.DNSName("localhost")]
    return (
        builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    )


def write_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """Write ``ca.crt`` and a CA-signed ``server.crt``/``server.key`` for 127.0.0.1/localhost.

    A separate CA (instead of one self-signed leaf) keeps strict X.509 verification
    (Python 3.13's default) happy.  The CA's key stays in ``ca.key``, for client certificates
    (the apiserver trusts this CA for them too).  Returns (ca_file, cert_file, key_file).
    """
    ca_key, server_key = _new_key(), _new_key()
    ca_cert = (
        _cert_builder("polymagic-test-ca", "polymagic-test-ca", ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_cert = (
        _server_extensions(_cert_builder(LOCALHOST, "polymagic-test-ca", server_key.public_key()))
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
    )
    _write_cert(ca_cert, ca_file)
    _write_key(ca_key, directory / "ca.key")
    _write_cert(server_cert, cert_file)
    _write_key(server_key, key_file)
    return ca_file, cert_file, key_file


def write_client_cert(
    directory: Path, stem: str, user: str, groups: Sequence[str] = (), ca_dir: Path | None = None
) -> tuple[Path, Path]:
    """Write ``<stem>.crt``/``<stem>.key``: a client certificate of ``user`` (its common name)
    in ``groups`` (its organizations: how the apiserver reads a certificate's groups), signed by
    the CA that ``write_ca_and_server_cert`` left in ``ca_dir``, or self-signed without one (a
    certificate the apiserver does not trust).  Returns (cert, key)."""
    key = _new_key()
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    names.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    if ca_dir is None:
        issuer, signer = x509.Name(names), key
    else:
        ca = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
        loaded = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        issuer, signer = ca.subject, loaded
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(names))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(signer, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
    _write_cert(cert, cert_file)
    _write_key(key, key_file)
    return cert_file, key_file


def write_self_signed_cert(directory: Path, stem: str) -> tuple[Path, Path]:
    """Write a self-signed ``<stem>.crt``/``<stem>.key`` for 127.0.0.1; returns (cert, key)."""
    key = _new_key()
    cert = (
        _server_extensions(_cert_builder(LOCALHOST, LOCALHOST, key.public_key()))
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
    _write_cert(cert, cert_file)
    _write_key(key, key_file)
    return cert_file, key_file


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class TokenUser:
    """One line of the apiserver's static token file."""

    name: str
    token: str
    groups: tuple[str, ...] = ()

    def csv_line(self) -> str:
        line = f"{self.token},{self.name},{self.name}"
        return f'{line},"{",".join(self.groups)}"' if self.groups else line


def write_kubeconfig(path: Path, server_url: str, ca_file: Path, user: TokenUser) -> Path:
    """A kubeconfig (JSON is valid YAML) for ``user`` authenticating with its bearer token."""
    return _write_kubeconfig(path, server_url, ca_file, user.name, {"token": user.token})


def write_cert_kubeconfig(
    path: Path, server_url: str, ca_file: Path, name: str, cert_file: Path, key_file: Path
) -> Path:
    """A kubeconfig for a user authenticating with a client certificate, given inline
    (``client-certificate-data``/``client-key-data``, as kubeadm and kind write them)."""
    credentials = {
        "client-certificate-data": base64.b64encode(cert_file.read_bytes()).decode(),
        "client-key-data": base64.b64encode(key_file.read_bytes()).decode(),
    }
    return _write_kubeconfig(path, server_url, ca_file, name, credentials)


def _write_kubeconfig(
    path: Path, server_url: str, ca_file: Path, name: str, credentials: dict[str, Any]
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "polymagic-test",
                "cluster": {"server": server_url, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": name, "user": credentials}],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": "polymagic-test", "user": name, "namespace": "default"},
            }
        ],
        "current-context": name,
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------- processes


def _with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    """Prefix ``argv`` with ``setpriv --pdeathsig KILL`` when available.

    The kernel then SIGKILLs the child when the thread that forked it exits, so no
    orphan survives a test process killed hard.  Children are therefore forked only
    by :class:`_ProcessStarter`'s thread, which lives as long as the test process.
    (This also avoids ``preexec_fn``, which is unsafe once the process has threads.)
    """
    setpriv = _which("setpriv")
    return [str(setpriv), "--pdeathsig", "KILL", "--", *argv] if setpriv else list(argv)


class _ProcessStarter:
    """One daemon thread, alive as long as the test process, that forks every child.

    Linux delivers the parent-death signal when the forking *thread* exits: a process
    started from a short-lived thread (say, a test calling ``restart_apiserver()`` from
    a helper thread) would be killed as soon as that thread ends.
    """

    _instance: _ProcessStarter | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, name="polymagic-process-starter", daemon=True
        )
        self._thread.start()

    @classmethod
    def shared(cls) -> _ProcessStarter:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def call(self, job: Callable[[], T]) -> T:
        """Run ``job`` on the starter thread and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            return job()
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            job, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as error:  # handed to the caller
                future.set_exception(error)


def start_child(argv: Sequence[str], *, stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, without stdin, forked by the starter thread
    with the parent-death signal: the one way the test harness starts a child it keeps."""
    argv = _with_parent_death_signal(argv)
    return _ProcessStarter.shared().call(
        lambda: subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    )


class ManagedProcess:
    """One long-running child process, logging to a file, stopped by its PID."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        if self.alive():
            raise ControlPlaneError(f"{self.name} is already running (pid {self.pid})")
        with open(self.log_path, "ab") as log:
            log.write(
                f"\n==== {time.strftime('%H:%M:%S')} starting: {' '.join(self.argv)}\n".encode()
            )
            log.flush()
            self._popen = start_child(self.argv, stdout=log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def exit_code(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID, SIGKILL after ``timeout`` seconds; always reaps the child."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(popen.pid, signal.SIGKILL)
                popen.wait()
        popen.wait()

    def kill(self) -> None:
        """SIGKILL by PID (a crash, not a shutdown) and reap."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGKILL)
            popen.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _wait_until(
    what: str,
    ready: Callable[[], bool],
    processes: Iterable[ManagedProcess],
    timeout: float,
) -> None:
    """Poll ``ready`` until true; raise with the log tail if a process dies or time runs out."""
    watched = list(processes)
    deadline = time.monotonic() + timeout
    while True:
        for process in watched:
            if not process.alive():
                raise ControlPlaneError(
                    f"{process.name} exited with {process.exit_code()} while waiting for {what}; "
                    f"log {process.log_path}:\n{process.log_tail()}"
                )
        if ready():
            return
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name} ({p.log_path}):\n{p.log_tail()}" for p in watched)
            raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        time.sleep(0.2)


# --------------------------------------------------------------------------- the control plane


@dataclass(frozen=True)
class _Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    scheduler: int
    controller_manager: int


class ControlPlane:
    """etcd + kube-apiserver + kube-scheduler + kube-controller-manager on 127.0.0.1.

    Use as a context manager or call :meth:`start` / :meth:`stop`.  ``workdir``
    (default: a fresh temporary directory) receives certificates, kubeconfigs,
    etcd data and one ``<process>.log`` per process.
    """

    def __init__(
        self,
        binaries: KubeBinaries,
        workdir: Path | None = None,
        *,
        watch_cache: bool = False,
        startup_timeout: float = 90.0,
    ) -> None:
        self.binaries = binaries
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="polymagic-cluster-"))
        self.watch_cache = watch_cache
        self.startup_timeout = startup_timeout
        ports = free_ports(5)
        self._ports = _Ports(*ports)
        self.server_url = f"https://{LOCALHOST}:{self._ports.apiserver}"
        self.etcd_url = f"http://{LOCALHOST}:{self._ports.etcd_client}"
        self.admin = TokenUser(ADMIN_USER, secrets.token_hex(16), ("system:masters",))
        self.user = TokenUser(UNPRIVILEGED_USER, secrets.token_hex(16))
        self._scheduler_user = TokenUser(
            "polymagic-kube-scheduler", secrets.token_hex(16), ("system:masters",)
        )
        self._manager_user = TokenUser(
            "polymagic-kube-controller-manager", secrets.token_hex(16), ("system:masters",)
        )
        self.ca_file = self.workdir / "ca.crt"
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self.user_kubeconfig = self.workdir / "user.kubeconfig"
        self._processes: dict[str, ManagedProcess] = {}

    # -- lifecycle

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        """Start all four processes and wait until they are ready; stop them all on failure."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._write_credentials()
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfigs()
            self._start_scheduler()
            self._start_controller_manager()
            self._wait_controllers_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every started process by PID, in reverse start order, and reap them."""
        for process in reversed(list(self._processes.values())):
            process.stop()

    def restart_apiserver(self) -> None:
        """Kill the apiserver (SIGKILL, like a crash), start it with the same flags and port, wait ready.

        Safe to call from any thread.
        """
        apiserver = self._processes["kube-apiserver"]
        apiserver.kill()
        self._wait_port_free(self._ports.apiserver)
        apiserver.start()
        _wait_until(
            "kube-apiserver /readyz", self._apiserver_ready, [apiserver], self.startup_timeout
        )

    def compact_etcd(self) -> int:
        """Compact etcd to its current revision (physically); returns that revision.

        Afterwards a watch that resumes from an older resourceVersion gets 410 Gone.
        """
        answer = self._etcd_post(
            "/v3/kv/range", {"key": base64.b64encode(b"\0").decode(), "limit": 1}
        )
        revision = int(answer["header"]["revision"])
        self._etcd_post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        """The started processes by name (etcd, kube-apiserver, kube-scheduler, kube-controller-manager)."""
        return dict(self._processes)

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def cert_kubeconfig(
        self, path: Path, user: str, groups: Sequence[str] = (), *, trusted: bool = True
    ) -> Path:
        """Write a kubeconfig at ``path`` for ``user`` in ``groups``, logging in with a client
        certificate signed by the cluster's CA (``trusted``) or self-signed (refused)."""
        cert, key = write_client_cert(
            path.parent, path.stem, user, groups, self.workdir if trusted else None
        )
        return write_cert_kubeconfig(path, self.server_url, self.ca_file, user, cert, key)

    # -- credentials

    def _write_credentials(self) -> None:
        ca_file, self._cert_file, self._key_file = write_ca_and_server_cert(self.workdir)
        assert ca_file == self.ca_file
        self._sa_key = self.workdir / "sa.key"
        _write_key(_new_key(), self._sa_key)
        self._token_file = self.workdir / "tokens.csv"
        users = (self.admin, self.user, self._scheduler_user, self._manager_user)
        self._token_file.write_text("".join(user.csv_line() + "\n" for user in users))
        self._token_file.chmod(0o600)

    def _write_kubeconfigs(self) -> None:
        write_kubeconfig(self.admin_kubeconfig, self.server_url, self.ca_file, self.admin)
        write_kubeconfig(self.user_kubeconfig, self.server_url, self.ca_file, self.user)
        self._scheduler_kubeconfig = write_kubeconfig(
            self.workdir / "scheduler.kubeconfig",
            self.server_url,
            self.ca_file,
            self._scheduler_user,
        )
        self._manager_kubeconfig = write_kubeconfig(
            self.workdir / "controller-manager.kubeconfig",
            self.server_url,
            self.ca_file,
            self._manager_user,
        )

    # -- processes

    def _launch(self, name: str, argv: Sequence[str]) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.log_path(name))
        self._processes[name] = process
        process.start()
        return process

    def _start_etcd(self) -> None:
        peer = f"http://{LOCALHOST}:{self._ports.etcd_peer}"
        etcd = self._launch(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
            ],
        )
        _wait_until("etcd /health", self._etcd_healthy, [etcd], self.startup_timeout)

    def _start_apiserver(self) -> None:
        apiserver = self._launch(
            "kube-apiserver",
            [
                str(self.binaries.apiserver),
                f"--etcd-servers={self.etcd_url}",
                f"--bind-address={LOCALHOST}",
                f"--advertise-address={LOCALHOST}",
                f"--secure-port={self._ports.apiserver}",
                "--endpoint-reconciler-type=none",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={self._cert_file}",
                f"--tls-private-key-file={self._key_file}",
                f"--token-auth-file={self._token_file}",
                f"--client-ca-file={self.ca_file}",  # also publishes extension-apiserver-authentication
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={self._sa_key}",
                f"--service-account-signing-key-file={self._sa_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                f"--watch-cache={'true' if self.watch_cache else 'false'}",
                "--profiling=false",
                f"--feature-gates={FEATURE_GATES}",
            ],
        )
        _wait_until(
            "kube-apiserver /readyz", self._apiserver_ready, [apiserver], self.startup_timeout
        )

    def _component_flags(self, name: str, kubeconfig: Path, port: int) -> list[str]:
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--port=0",
            f"--bind-address={LOCALHOST}",
            f"--secure-port={port}",
            f"--cert-dir={self.workdir / (name + '-certs')}",
            "--profiling=false",
        ]

    def _start_scheduler(self) -> None:
        self._launch(
            "kube-scheduler",
            [
                str(self.binaries.scheduler),
                *self._component_flags(
                    "kube-scheduler", self._scheduler_kubeconfig, self._ports.scheduler
                ),
            ],
        )

    def _start_controller_manager(self) -> None:
        self._launch(
            "kube-controller-manager",
            [
                str(self.binaries.controller_manager),
                *self._component_flags(
                    "kube-controller-manager",
                    self._manager_kubeconfig,
                    self._ports.controller_manager,
                ),
                f"--service-account-private-key-file={self._sa_key}",
                f"--root-ca-file={self.ca_file}",
                "--use-service-account-credentials=false",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                f"--feature-gates={FEATURE_GATES}",
            ],
        )

    def _wait_controllers_ready(self) -> None:
        everything = list(self._processes.values())
        for name, port in (
            ("kube-scheduler", self._ports.scheduler),
            ("kube-controller-manager", self._ports.controller_manager),
        ):
            _wait_until(
                f"{name} /healthz",
                functools.partial(self._https_ok, port, "/healthz"),
                everything,
                self.startup_timeout,
            )
        # The service-account and token controllers are running once `default` has a token.
        _wait_until(
            "the default ServiceAccount token in namespace default",
            self._default_service_account_ready,
            everything,
            self.startup_timeout,
        )

    # -- probes

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as response:
                return bool(json.loads(response.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _etcd_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.etcd_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def _api_get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            f"{self.server_url}{path}", headers={"Authorization": f"Bearer {self.admin.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def _apiserver_ready(self) -> bool:
        try:
            status, body = self._api_get("/readyz")
        except OSError:
            return False
        return status == 200 and body.strip() == b"ok"

    def _https_ok(self, port: int, path: str) -> bool:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the components' self-generated serving certs
        try:
            with urllib.request.urlopen(
                f"https://{LOCALHOST}:{port}{path}", timeout=2, context=context
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _default_service_account_ready(self) -> bool:
        try:
            status, body = self._api_get("/api/v1/namespaces/default/serviceaccounts/default")
        except OSError:
            return False
        return status == 200 and bool(json.loads(body).get("secrets"))

    @staticmethod
    def _wait_port_free(port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((LOCALHOST, port))
                    return
                except OSError:
                    time.sleep(0.1)
        raise ControlPlaneError(f"port {port} still busy after {timeout:.0f}s")
