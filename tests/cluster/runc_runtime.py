"""The test node's real container runtime: the Kaniko executor under Debian's ``runc``.

This module owns running one pod container for real, wired the way a kubelet (with
containerd's CRI defaults) wires it, and everything that must be cleaned up after it:

- the root filesystem: a fresh copy of the executor image's rootfs (built by
  ``.ci/kaniko-executor.sh``) per container, because Kaniko unpacks the base image over
  its own root;
- the process: the image's entrypoint, or the container's ``command``, with its ``args``
  (``$(VAR)`` references expanded as the kubelet does), the image's environment overridden
  by the container's ``env`` (``value``, ``valueFrom`` secretKeyRef / configMapKeyRef /
  fieldRef) and ``envFrom``;
- volumes: ConfigMap (``data``, ``binaryData``, ``items``, modes) and Secret volumes written
  in the kubelet's atomic-writer layout (``..data`` symlinks), hostPath folders, and emptyDirs, as host
  directories bind-mounted at their ``mountPath`` (``ro`` when ``readOnly``, and always for
  ConfigMaps and Secrets, as the kubelet mounts them; ``subPath``);
  the kubelet's ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf``;
- ``terminationMessagePath`` bound to a host file whose content (at most 4096 bytes) becomes
  the termination message; ``FallbackToLogsOnError`` as the kubelet applies it (the last 80
  lines, at most 2048 bytes, when the file is empty and the container failed);
- namespaces pid, ipc, uts and mount but NOT network: the executor shares the host's
  network and reaches test registries on 127.0.0.1 (like a ``hostNetwork`` pod);
- a kubelet-style cgroups path, ``/kubepods/<qos>/pod<uid>/<container id>`` — which is also
  how Kaniko recognises that it runs in a container (it refuses to start otherwise);
- the security context, as the kubelet and containerd's CRI apply it (:func:`effective_seccomp`,
  :func:`oci_seccomp`, :func:`container_capabilities`, :func:`process_user`): the seccomp
  profile, the container's ``seccompProfile`` over the pod's (none: Unconfined, as kubelets
  without SeccompDefault), ``RuntimeDefault`` being the runtime's default profile
  (:data:`DEFAULT_SECCOMP_PROFILE`, Docker's format, translated into the OCI spec for this
  host's arch, kernel and the container's capabilities) and ``Localhost`` a
  CreateContainerConfigError (no profile directory here); the runtime's default capabilities
  with ``capabilities.add`` / ``drop``; ``allowPrivilegeEscalation: false`` as
  ``noNewPrivileges``; ``runAsUser`` / ``runAsGroup`` (the container's over the pod's) as the
  process user; ``readOnlyRootFilesystem`` as a read-only root. What a kubelet refuses before
  it creates the container (a missing env reference, an unusable security context or
  quantity) the node learns from :meth:`RuncEngine.config_error` and reports while the pod
  stays Pending;
- resources, as containerd's CRI writes the kubelet's values into the OCI spec on cgroup v1
  (:func:`oci_resources`): ``limits.memory`` as the memory limit (and memory + swap at the
  same value when the kernel accounts swap), ``limits.cpu`` as a CFS quota per 100 ms period,
  ``requests.cpu`` as ``cpu.shares``; a quantity it cannot read is a
  CreateContainerConfigError;
- out of memory: the container's memory cgroup is watched as containerd's shim watches it
  (:class:`OomWatch`), and if it ran out of memory the container terminates with reason
  ``OOMKilled`` and the exit code its process returned (the OOM killer may have killed a
  child, e.g. a RUN step's command, and the executor exited with its own code);
- output: stdout and stderr are read on separate pipes and split into lines per stream,
  as the CRI logger does, and each line reaches the node's log endpoint as it is printed
  (bytes that are not UTF-8 travel unchanged, through ``surrogateescape``);
- deletion: SIGTERM, SIGKILL after the grace period (at most 2 s here), ``runc delete
  --force``, the bundle (rootfs copy, volume files) removed, the pod's cgroups removed.

Unlike containerd, a line is passed on only when its newline arrives (or the stream ends):
containerd splits a line longer than 16 KiB into partial entries as it comes, which the kubelet
serves without newlines between them.

Unlike containerd's shim, which keeps a stopped container (and its cgroup) until it is
deleted, ``runc run`` removes the cgroup as soon as the process ends; the OOM watch accounts for
that (see :class:`OomWatch`).

What it does not do: pull images (the node holds only the executor image, under the
reference :data:`EXECUTOR_REFERENCE`), the pod-level cgroup limits and ``oom_score_adj`` the
kubelet sets per QoS class, memory requests (cgroup v1 has no use for them), ephemeral-storage
limits and evictions, hugepages, cgroup v2 (no OOM watch there), probes, restarts, init containers (the simulated
node completes those instantly); of the security context: ``privileged``, ``procMount``,
SELinux and AppArmor options, ``runAsNonRoot``, ``supplementalGroups``, ``fsGroup`` and
``sysctls`` are ignored, and a user without a group gets group 0 (the executor image has no
``/etc/passwd`` to read it from).

Every container runs under a state directory private to the test session
(``/run/polymagic-runc/<pid>``); :meth:`RuncEngine.close` kills and removes whatever is
left and says what it found, and a new session removes what a crashed one left behind.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import posixpath
import re
import secrets
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tests.cluster.control_plane import start_child

if TYPE_CHECKING:
    from tests.cluster.simulated_node import ContainerRuntime, PodRuntime

__all__ = [
    "EXECUTOR_REFERENCE",
    "EXECUTOR_VERSION",
    "ExecutorImage",
    "ExecutorUnavailable",
    "RuncEngine",
    "cache_dir",
]

JsonDict = dict[str, Any]

EXECUTOR_VERSION = "1.28.3"
EXECUTOR_REFERENCE = f"ghcr.io/osscontainertools/kaniko:v{EXECUTOR_VERSION}"
"""The only image the node holds: the release ``.ci/kaniko-executor.sh`` builds."""
RUNC = "runc"
STATE_PARENT = Path("/run/polymagic-runc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
TERMINATION_MESSAGE_MAX = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
KILL_GRACE_SECONDS = 2.0
"""The kubelet's minimum grace period: a pod deleted with grace 0 still gets 2 s."""
DEFAULT_CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
ALL_CAPABILITIES = [
    *DEFAULT_CAPABILITIES,
    *(f"CAP_{name}" for name in (
        "DAC_READ_SEARCH", "LINUX_IMMUTABLE", "NET_BROADCAST", "NET_ADMIN", "IPC_LOCK",
        "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
        "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "LEASE",
        "AUDIT_CONTROL", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND",
        "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    )),
]  # fmt: skip
"""Every capability this kernel knows (``capabilities.add: [ALL]``)."""
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
CPU_PERIOD_US = 100_000
"""The kubelet's CFS period (its ``--cpu-cfs-quota-period`` default)."""
MIN_CPU_SHARES = 2
"""The kernel's, and so the kubelet's, least ``cpu.shares``: what a container without a request gets."""
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<decimal>[mkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def cache_dir() -> Path:
    """Where ``.ci/kaniko-executor.sh`` leaves the executor (``$POLYMAGIC_CACHE`` aware)."""
    root = os.environ.get("POLYMAGIC_CACHE") or str(Path.home() / ".cache" / "polymagic")
    return Path(root) / f"kaniko-v{EXECUTOR_VERSION}"


class ExecutorUnavailable(Exception):
    """The real executor cannot run here; the message says why (a test skip reason)."""


@dataclass(frozen=True)
class ExecutorImage:
    """The executor image as laid out on disk: a rootfs template and its config."""

    reference: str
    rootfs: Path
    entrypoint: tuple[str, ...]
    env: tuple[str, ...]
    workdir: str

    @classmethod
    def from_cache(cls, directory: Path | None = None) -> ExecutorImage:
        """The image built by ``.ci/kaniko-executor.sh``; :class:`ExecutorUnavailable` if absent."""
        directory = directory or cache_dir()
        missing = [tool for tool in (RUNC,) if shutil.which(tool) is None]
        if missing:
            raise ExecutorUnavailable(f"{', '.join(missing)} is not installed: run .ci/setup")
        if os.geteuid() != 0:
            raise ExecutorUnavailable("runc needs root to run the executor's containers")
        config_path = directory / "image-config.json"
        executor = directory / "rootfs" / "kaniko" / "executor"
        if not executor.is_file() or not config_path.is_file():
            reason_file = directory / "UNAVAILABLE"
            why = (
                reason_file.read_text().strip()
                if reason_file.is_file()
                else f"no executor in {directory}: run .ci/setup (it builds it)"
            )
            raise ExecutorUnavailable(f"the real Kaniko executor v{EXECUTOR_VERSION}: {why}")
        config = json.loads(config_path.read_text())
        return cls(
            reference=EXECUTOR_REFERENCE,
            rootfs=directory / "rootfs",
            entrypoint=tuple(config["Entrypoint"]),
            env=tuple(config["Env"]),
            workdir=config.get("WorkingDir") or "/",
        )


class ContainerConfigError(Exception):
    """The kubelet's CreateContainerConfigError: the spec refers to something missing."""


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity as an exact number: ``96Mi``, ``1Gi`` (binary suffixes), ``500M``,
    ``2k``, ``500m`` (decimal ones, ``m`` for thousandths), ``128974848``, ``129e6``.

    Anything else is a :class:`ContainerConfigError` (the API server would have refused it)."""
    text = (
        str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    )
    found = _QUANTITY.fullmatch(text)
    # A long exponent would build an enormous number; no memory or CPU amount needs one.
    if found is None or len(found["exponent"] or "") > 3:
        raise ContainerConfigError(
            f"quantity {value!r} is not a Kubernetes quantity (e.g. 96Mi, 1Gi, 500M, 500m, 129e6)"
        )
    number = Decimal(found["number"])
    if found["binary"]:
        return number * (1 << (10 * _BINARY[found["binary"]]))
    if found["decimal"]:
        return number.scaleb(_DECIMAL[found["decimal"]])
    return number.scaleb(int(found["exponent"] or 0))


def _whole(value: object, unit: int, what: str) -> int:
    """``value`` counted in ``1/unit`` parts, rounded up as Kubernetes' ``Value()`` and
    ``MilliValue()`` round; negative or absurdly large amounts are config errors."""
    try:
        amount = (parse_quantity(value) * unit).to_integral_value(rounding=ROUND_CEILING)
    except InvalidOperation:
        amount = Decimal(-1)
    if not 0 <= amount < 2**63:
        raise ContainerConfigError(f"{what} {value!r} is out of range")
    return int(amount)


def oci_resources(resources: JsonDict, *, swap_controller: bool) -> JsonDict:
    """A container's ``resources`` as containerd's CRI writes them into the OCI spec on cgroup
    v1, from the values the kubelet computes:

    - ``limits.memory`` in bytes becomes ``memory.limit``, and ``memory.swap`` the same (memory
      plus swap capped at the limit: no swap beyond it) when the kernel has the swap controller;
    - ``cpu.shares`` from ``requests.cpu`` (the limit when there is no request): millicores *
      1024 / 1000, at least 2, which is also what a container without either gets;
    - ``cpu.period`` always 100 ms; ``cpu.quota`` from ``limits.cpu``: millicores * 100 µs
      (at least 1 ms)."""
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    oci: JsonDict = {}
    memory = _whole(limits["memory"], 1, "memory limit") if "memory" in limits else 0
    if memory:
        oci["memory"] = {"limit": memory}
        if swap_controller:
            oci["memory"]["swap"] = memory
    limit_milli = _whole(limits["cpu"], 1000, "cpu limit") if "cpu" in limits else 0
    request = requests.get("cpu")
    request_milli = _whole(request, 1000, "cpu request") if request is not None else 0
    shares_milli = request_milli or limit_milli
    cpu: JsonDict = {
        "shares": max(MIN_CPU_SHARES, min(262144, shares_milli * 1024 // 1000)),
        "period": CPU_PERIOD_US,
    }
    if limit_milli:
        cpu["quota"] = max(1000, limit_milli * CPU_PERIOD_US // 1000)
    oci["cpu"] = cpu
    return oci


def _swap_controller() -> bool:
    """Whether the memory controller accounts swap (``memory.memsw.*``): runc fails to create a
    container whose spec sets ``memory.swap`` without it, so containerd sets swap only then."""
    return (CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists()


# =========================================================================== security


DEFAULT_SECCOMP_PROFILE = Path("/usr/share/containers/seccomp.json")
"""The container runtime's default profile (Docker's format), from Debian's
``golang-github-containers-common``: what ``RuntimeDefault`` applies on this node."""
SECCOMP_ARCHES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
}
"""``uname -m`` -> (libseccomp's name of the native arch, as a profile's ``arches`` write it;
its ``archMap`` key)."""


@dataclass(frozen=True)
class Seccomp:
    """The effective seccomp profile of a container, as the kubelet resolves it."""

    kind: str
    """``RuntimeDefault`` or ``Unconfined`` (``Localhost`` is a config error here)."""


def effective_seccomp(pod_spec: JsonDict, container: JsonDict) -> Seccomp:
    """The container's ``securityContext.seccompProfile`` over the pod's; neither -> Unconfined
    (kubelets without SeccompDefault). ``Localhost`` is a :class:`ContainerConfigError`: this
    node has no profile directory, and a profile it cannot apply must not run unconfined."""
    profile = None
    for context in (container.get("securityContext"), pod_spec.get("securityContext")):
        if isinstance(context, dict) and context.get("seccompProfile"):
            profile = context["seccompProfile"]
            break
    if profile is None:
        return Seccomp("Unconfined")
    kind = profile.get("type") if isinstance(profile, dict) else None
    if kind in ("RuntimeDefault", "Unconfined"):
        return Seccomp(str(kind))
    if kind == "Localhost":
        name = profile.get("localhostProfile", "")
        raise ContainerConfigError(
            f'seccomp profile type Localhost ("{name}") is not supported by this test node: it'
            " applies only RuntimeDefault (its runtime's default profile) and Unconfined"
        )
    raise ContainerConfigError(
        f"seccompProfile type {kind!r} is not one of RuntimeDefault, Unconfined, Localhost"
    )


def container_capabilities(context: JsonDict | None) -> list[str]:
    """The capabilities the container gets, as containerd's CRI computes them: the runtime's
    defaults, ``ALL`` in ``add`` (every capability) or ``drop`` (none) first, then each named
    one added, then each named one dropped; names take a ``CAP_`` prefix."""
    capabilities = (context or {}).get("capabilities") or {}
    add = [str(c).upper() for c in capabilities.get("add") or []]
    drop = [str(c).upper() for c in capabilities.get("drop") or []]
    granted = list(DEFAULT_CAPABILITIES)
    if "ALL" in add:
        granted = list(ALL_CAPABILITIES)
    if "ALL" in drop:
        granted = []
    for name in add:
        cap = name if name.startswith("CAP_") else f"CAP_{name}"
        if name != "ALL" and cap not in granted:
            granted.append(cap)
    dropped = {n if n.startswith("CAP_") else f"CAP_{n}" for n in drop if n != "ALL"}
    return [c for c in granted if c not in dropped]


def _kernel_at_least(release: tuple[int, ...], wanted: str) -> bool:
    """``minKernel`` (``"4.8"``, ``"5.6"``) against the running kernel's release numbers."""
    try:
        numbers = tuple(int(part) for part in wanted.split("-", 1)[0].split("."))
    except ValueError:
        raise ContainerConfigError(
            f"seccomp profile: minKernel {wanted!r} is not a version"
        ) from None
    width = max(len(numbers), len(release))
    return release + (0,) * (width - len(release)) >= numbers + (0,) * (width - len(numbers))


def process_user(pod_context: JsonDict, context: JsonDict) -> JsonDict:
    """The OCI process user: ``runAsUser`` / ``runAsGroup``, the container's over the pod's;
    root (the executor image's user) when unset, and group 0 when only the user is given (the
    image has no ``/etc/passwd`` to take the user's group from)."""
    user: JsonDict = {"uid": 0, "gid": 0}
    for key, field_name in (("uid", "runAsUser"), ("gid", "runAsGroup")):
        value = context.get(field_name, pod_context.get(field_name))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise ContainerConfigError(f"securityContext.{field_name} {value!r} is not a valid id")
        user[key] = value
    return user


def kernel_release(text: str) -> tuple[int, ...]:
    """``6.18.44-fc-v669`` -> (6, 18, 44): the numbers before the first non-version part."""
    found = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    return tuple(int(n) for n in found.groups() if n is not None) if found else (0,)


def oci_seccomp(
    profile: JsonDict, *, capabilities: list[str], machine: str, kernel: tuple[int, ...]
) -> JsonDict:
    """A Docker-format seccomp profile as the OCI spec's ``linux.seccomp``, filtered for this
    container as containerd and podman filter it:

    - ``architectures``: the ``archMap`` entry of the host's arch and its sub-arches (or the
      profile's own ``architectures``);
    - a syscall rule is left out when its ``excludes`` names the host's arch, any capability
      the container has, or a ``minKernel`` the kernel reaches; and when its ``includes`` names
      arches without the host's, any capability the container lacks (all are needed), or a
      ``minKernel`` above the kernel;
    - kept rules carry ``names``, ``action``, ``errnoRet`` and ``args`` (index, value,
      valueTwo, op) unchanged."""
    if profile.get("architectures") and profile.get("archMap"):
        raise ContainerConfigError("seccomp profile: both 'architectures' and 'archMap' are given")
    native, map_key = SECCOMP_ARCHES.get(machine, (machine, ""))
    architectures = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == map_key:
            architectures += [entry["architecture"], *(entry.get("subArchitectures") or [])]
            break
    seccomp: JsonDict = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"]
    if architectures:
        seccomp["architectures"] = architectures
    if profile.get("flags"):
        seccomp["flags"] = list(profile["flags"])
    granted = set(capabilities)
    syscalls = []
    for rule in profile.get("syscalls") or []:
        excludes = rule.get("excludes") or {}
        includes = rule.get("includes") or {}
        if native in (excludes.get("arches") or []):
            continue
        if granted & set(excludes.get("caps") or []):
            continue
        if excludes.get("minKernel") and _kernel_at_least(kernel, excludes["minKernel"]):
            continue
        if includes.get("arches") and native not in includes["arches"]:
            continue
        if not set(includes.get("caps") or []) <= granted:
            continue
        if includes.get("minKernel") and not _kernel_at_least(kernel, includes["minKernel"]):
            continue
        if rule.get("name") and rule.get("names"):
            raise ContainerConfigError("seccomp profile: a rule gives both 'name' and 'names'")
        names = list(rule.get("names") or [rule["name"]])
        syscall: JsonDict = {"names": names, "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            syscall["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            syscall["args"] = [
                {k: arg[k] for k in ("index", "value", "valueTwo", "op") if k in arg}
                for arg in rule["args"]
            ]
        syscalls.append(syscall)
    seccomp["syscalls"] = syscalls
    return seccomp


def _default_seccomp(capabilities: list[str]) -> JsonDict:
    """The runtime's default profile for a container holding ``capabilities``, on this host."""
    try:
        profile = json.loads(DEFAULT_SECCOMP_PROFILE.read_text())
    except (OSError, ValueError) as error:
        raise ContainerConfigError(
            f"the runtime's default seccomp profile {DEFAULT_SECCOMP_PROFILE} cannot be read"
            f" ({error}): run .ci/setup (it installs golang-github-containers-common)"
        ) from None
    uname = os.uname()
    return oci_seccomp(
        profile,
        capabilities=capabilities,
        machine=uname.machine,
        kernel=kernel_release(uname.release),
    )


MASKED_PATHS = (
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
READONLY_PATHS = (
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)
"""The paths containerd's CRI masks and makes read-only in every container (also for
:mod:`tests.real_executor.image_runner`, which runs built images the same way)."""


def standard_mounts() -> list[JsonDict]:
    """The mounts every container gets: /proc, /dev (tmpfs, with pts, shm, mqueue), /sys and
    its cgroups (read-only), as containerd's CRI mounts them."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]  # fmt: skip


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# =========================================================================== the engine


class RuncEngine:
    """Runs pod containers with runc for :class:`~tests.cluster.simulated_node.SimulatedNode`."""

    def __init__(self, image: ExecutorImage, workdir: Path) -> None:
        self.image = image
        self.workdir = workdir
        self.state_root = STATE_PARENT / str(os.getpid())
        self.runs: list[ContainerRun] = []
        self._lock = threading.Lock()
        self._active: dict[str, ContainerRun] = {}
        self._node_env: dict[str, dict[str, str]] = {}

    def start(self) -> RuncEngine:
        self._remove_stale_sessions()
        self.state_root.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self

    def set_node_env(self, namespace: str, env: dict[str, str]) -> None:
        """Environment the node adds to the executor containers of ``namespace`` (the image's
        environment as this node provides it, e.g. ``KANIKO_REGISTRY_MIRROR``: where a real
        cluster would configure a pull-through mirror); the container's own env still wins."""
        with self._lock:
            self._node_env[namespace] = dict(env)

    def node_env(self, namespace: str) -> dict[str, str]:
        with self._lock:
            return dict(self._node_env.get(namespace, {}))

    def run(self, pod: PodRuntime, container: JsonDict, state: ContainerRuntime) -> None:
        """Run ``container`` of ``pod`` to its end (or until the pod is deleted), reporting
        its state in ``state``; called on the node's build thread for the container."""
        run = ContainerRun(self, pod, container, state)
        with self._lock:
            self.runs.append(run)
            self._active[run.id] = run
        try:
            run.execute()
        finally:
            with self._lock:
                self._active.pop(run.id, None)

    def config_error(self, pod: PodRuntime, container: JsonDict) -> str | None:
        """What the kubelet checks before it creates the container, as the message of its
        CreateContainerConfigError (None when the container can be created): env references,
        the security context and the resources."""
        try:
            ContainerRun(self, pod, container, pod.containers[container["name"]]).check_config()
        except ContainerConfigError as error:
            return str(error)
        return None

    def active(self) -> list[str]:
        """IDs of containers started and not yet cleaned up."""
        with self._lock:
            return list(self._active)

    def leftovers(self) -> list[str]:
        """What is still there that should not be: runc containers, bundles, pod cgroups."""
        found = [f"runc container {c}" for c in _runc_list(self.state_root)]
        if self.workdir.is_dir():
            found += [f"bundle {p}" for p in sorted(self.workdir.iterdir())]
        found += [f"cgroup {p}" for p in _pod_cgroups({r.pod_uid for r in self.runs})]
        return found

    def close(self) -> list[str]:
        """Kill and remove everything left; returns what was found left (empty when clean)."""
        left = self.leftovers()
        _remove_containers(self.state_root, _runc_list(self.state_root))
        shutil.rmtree(self.workdir, ignore_errors=True)
        _remove_cgroups({r.pod_uid for r in self.runs})
        with contextlib.suppress(OSError):
            self.state_root.rmdir()
        with contextlib.suppress(OSError):
            STATE_PARENT.rmdir()  # another session may still use it
        return left

    @staticmethod
    def _remove_stale_sessions() -> None:
        """Kill and remove containers a crashed test session left (its pid is gone): the
        node's (``<pid>``) and the image runner's (``images-<pid>``)."""
        if not STATE_PARENT.is_dir():
            return
        for root in STATE_PARENT.iterdir():
            pid = root.name.removeprefix("images-")
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            _remove_containers(root, _runc_list(root))
            shutil.rmtree(root, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        pass
    return True


def _runc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUNC, "--root", str(root), *args], capture_output=True, text=True, check=False, timeout=30
    )


def _remove_containers(root: Path, container_ids: list[str]) -> None:
    for container_id in container_ids:
        _runc(root, "kill", container_id, "KILL")
        _runc(root, "delete", "--force", container_id)


def _runc_list(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    listing = _runc(root, "list", "--format", "json")
    if listing.returncode != 0 or not listing.stdout.strip():
        return []
    return [entry["id"] for entry in json.loads(listing.stdout) or []]


def _cgroup_hierarchies() -> list[Path]:
    """Every mounted hierarchy (cgroup v1 controllers, or the v2 unified root)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    if not CGROUP_ROOT.is_dir():
        return []
    return [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink()]


def _pod_cgroups(uids: set[str]) -> list[Path]:
    found = []
    for hierarchy in _cgroup_hierarchies():
        for qos in ("", "besteffort", "burstable"):
            for uid in uids:
                path = hierarchy / "kubepods" / qos / f"pod{uid}"
                if path.is_dir():
                    found.append(path)
    return found


def _remove_cgroups(uids: set[str]) -> None:
    """rmdir the pods' cgroups (runc removes each container's own), then the empty parents."""
    for path in _pod_cgroups(uids):
        for child in (c for c in path.iterdir() if c.is_dir()):
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            path.rmdir()
    for hierarchy in _cgroup_hierarchies():
        for qos in ("besteffort", "burstable", ""):
            with contextlib.suppress(OSError):
                (hierarchy / "kubepods" / qos).rmdir()  # busy while another pod uses it


# =========================================================================== out of memory


class OomWatch:
    """What containerd's shim does on cgroup v1 to learn that a container ran out of memory:
    an eventfd registered (``cgroup.event_control``) on the container memory cgroup's
    ``memory.oom_control``, which the kernel signals each time the cgroup hits its limit and
    the OOM killer runs, whichever of its processes it kills (Kaniko's RUN command is a child
    of the executor, which then exits with its own code).

    The cgroup is created here before ``runc run`` (which takes it as it finds it) so the
    watch is in place before the container's first instruction. ``runc events`` reports the
    same signal (checked here: it prints ``{"type":"oom"}``) but can only attach once the
    container exists, so an early OOM would be missed, and it is one more process to reap.

    The kernel also signals the eventfd once when the cgroup is removed, which ``runc run``
    does as soon as the process ends, and only after the cgroup's files are gone: a signal
    while ``memory.oom_control`` is still there is an OOM; once it is gone, all signals but
    the removal's one are. Everything runs on the caller's thread (``wait`` instead of a
    sleep): no thread or process to leave behind. Also notes the cgroup's peak usage."""

    def __init__(self, cgroup: Path) -> None:
        self.cgroup = cgroup
        self.oom = False
        self.peak: int | None = None
        self._removals = 0
        self._fd: int | None = None

    @classmethod
    def start(cls, cgroups_path: str) -> OomWatch:
        """Watch the memory cgroup at ``cgroups_path`` (the OCI ``cgroupsPath``); without a
        cgroup v1 memory controller nothing is watched (``oom`` stays false)."""
        memory = CGROUP_ROOT / "memory"
        watch = cls(memory / cgroups_path.lstrip("/"))
        if not (memory / "cgroup.event_control").exists():
            return watch
        watch.cgroup.mkdir(parents=True, exist_ok=True)
        eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            control = os.open(watch.cgroup / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                (watch.cgroup / "cgroup.event_control").write_text(f"{eventfd} {control}")
            finally:
                os.close(control)
        except BaseException:
            os.close(eventfd)
            raise
        watch._fd = eventfd
        return watch

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, taking note of what the cgroup signals meanwhile."""
        if self._fd is None:
            time.sleep(seconds)
            return
        ready, _, _ = select.select([self._fd], [], [], seconds)
        with contextlib.suppress(OSError, ValueError):
            self.peak = int((self.cgroup / "memory.max_usage_in_bytes").read_text())
        if ready:
            self._drain()

    def _drain(self) -> None:
        if self._fd is None:
            return
        try:
            count = os.eventfd_read(self._fd)
        except BlockingIOError:
            return
        if (self.cgroup / "memory.oom_control").exists():
            self.oom = True
        else:
            self._removals += count

    def finish(self, removal_wait: float = 2.0) -> bool:
        """Once the container's process has ended: whether the cgroup ran out of memory.
        Waits (up to ``removal_wait``) for the removal's signal, which the kernel sends after
        the directory is gone (asynchronously), then stops watching."""
        try:
            if self._fd is not None and not self.cgroup.exists():
                deadline = time.monotonic() + removal_wait
                while self._removals == 0 and time.monotonic() < deadline:
                    select.select([self._fd], [], [], max(0.0, deadline - time.monotonic()))
                    self._drain()
                if self._removals > 1:
                    self.oom = True
            else:
                self._drain()  # still there: any signal is an OOM
        finally:
            self.close()
        return self.oom

    def close(self) -> None:
        """Stop watching (the kernel drops the registration with the eventfd)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# =========================================================================== one container


@dataclass
class _Mount:
    destination: str
    source: str
    read_only: bool
    kind: str = "bind"

    def oci(self) -> JsonDict:
        options = ["rbind", "rprivate", "ro" if self.read_only else "rw"]
        return {
            "destination": self.destination,
            "type": self.kind,
            "source": self.source,
            "options": options,
        }


@dataclass
class ContainerRun:
    """One container's life under runc: prepare the bundle, run, report, clean up."""

    engine: RuncEngine
    pod: PodRuntime
    container: JsonDict
    state: ContainerRuntime
    id: str = field(default_factory=lambda: secrets.token_hex(32))
    exit_code: int | None = None
    termination_message: str = ""
    killed: bool = False
    oom_killed: bool = False
    """The container's cgroup ran out of memory (reported as the kubelet does: ``OOMKilled``)."""
    memory_peak: int | None = None
    """The container cgroup's peak memory use in bytes, as last read while it ran."""
    times: dict[str, float] = field(default_factory=dict)
    """``time.monotonic()`` when the kubelet's work began (``prepare``: rootfs copy, volumes),
    ``runc run`` was started (``started``), it returned (``exited``) and the termination was
    reported (``reported``): what a benchmark subtracts to get polymagic's own time."""
    _process: subprocess.Popen[bytes] | None = None
    _oom_watch: OomWatch | None = None

    @property
    def pod_uid(self) -> str:
        return self.pod.uid

    @property
    def name(self) -> str:
        return str(self.container["name"])

    @property
    def bundle(self) -> Path:
        return (
            self.engine.workdir / f"{self.pod.namespace}.{self.pod.name}.{self.name}.{self.id[:12]}"
        )

    def execute(self) -> None:
        self.times["prepare"] = time.monotonic()
        try:
            if self.container["image"] != self.engine.image.reference:
                self._fail_to_start(
                    f'the test node holds only "{self.engine.image.reference}" (built from source'
                    f' by .ci/kaniko-executor.sh); it cannot run "{self.container["image"]}"'
                )
                return
            try:
                config = self._prepare()
            except ContainerConfigError as error:
                self._config_error(str(error))
                return
            (self.bundle / "config.json").write_text(json.dumps(config, indent=1))
            self._run()
        finally:
            self._cleanup()

    # -- preparing the bundle

    def check_config(self) -> None:
        """Raise :class:`ContainerConfigError` for what the spec refers to and is missing or
        what this runtime cannot apply; nothing is written."""
        self._environment()
        effective_seccomp(self.pod.pod["spec"], self.container)
        process_user(self.pod.pod["spec"].get("securityContext") or {}, self._security_context())
        oci_resources(self.container.get("resources") or {}, swap_controller=False)

    def _security_context(self) -> JsonDict:
        context = self.container.get("securityContext") or {}
        return context if isinstance(context, dict) else {}

    def _prepare(self) -> JsonDict:
        env = self._environment()
        self.bundle.mkdir(parents=True)
        rootfs = self.bundle / "rootfs"
        # A fresh copy each time: Kaniko unpacks the base image over its own root.
        subprocess.run(
            ["cp", "-a", "--reflink=auto", str(self.engine.image.rootfs), str(rootfs)], check=True
        )
        mounts = [*self._kubelet_files(), *self._volume_mounts()]
        argv = self._argv(env)
        return self._oci_config(argv, env, mounts)

    def _api_object(self, resource: str, name: str) -> JsonDict | None:
        return self.pod.node.get_namespaced(resource, self.pod.namespace, name)

    def _environment(self) -> list[tuple[str, str]]:
        """The container's env as the kubelet resolves it: envFrom, then env, in order."""
        resolved: dict[str, str] = {}
        for source in self.container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, resource in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
                ref = source.get(kind)
                if not ref:
                    continue
                obj = self._api_object(resource, ref["name"])
                if obj is None:
                    if ref.get("optional"):
                        continue
                    noun = "secret" if kind == "secretRef" else "configmap"
                    raise ContainerConfigError(f'{noun} "{ref["name"]}" not found')
                for key, raw in _object_data(obj).items():
                    if _ENV_NAME.match(prefix + key):
                        resolved[prefix + key] = raw.decode(errors="replace")
        for entry in self.container.get("env") or []:
            value = self._env_value(entry, resolved)
            if value is not None:
                resolved[entry["name"]] = value
        return list(resolved.items())

    def _env_value(self, entry: JsonDict, known: dict[str, str]) -> str | None:
        if "valueFrom" not in entry:
            return expand_references(str(entry.get("value", "")), known)
        source = entry["valueFrom"]
        for kind, resource, noun in (
            ("secretKeyRef", "secrets", "secret"),
            ("configMapKeyRef", "configmaps", "configmap"),
        ):
            ref = source.get(kind)
            if not ref:
                continue
            obj = self._api_object(resource, ref["name"])
            data = _object_data(obj) if obj is not None else None
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    return None
                if data is None:
                    raise ContainerConfigError(f'{noun} "{ref["name"]}" not found')
                raise ContainerConfigError(
                    f"couldn't find key {ref['key']} in {noun.capitalize()} "
                    f"{self.pod.namespace}/{ref['name']}"
                )
            return data[ref["key"]].decode(errors="replace")
        if "fieldRef" in source:
            return self._field(source["fieldRef"]["fieldPath"])
        raise ContainerConfigError(f"env {entry['name']}: this test node does not resolve {source}")

    def _field(self, path: str) -> str:
        meta, spec = self.pod.pod["metadata"], self.pod.pod["spec"]
        simple = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "metadata.uid": meta["uid"],
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "status.hostIP": "127.0.0.1",
            "status.podIP": "127.0.0.1",
        }
        if path in simple:
            return str(simple[path])
        found = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if found:
            return str((meta.get(found.group(1)) or {}).get(found.group(2), ""))
        raise ContainerConfigError(f"unsupported fieldRef {path}")

    def _argv(self, env: list[tuple[str, str]]) -> list[str]:
        known = dict(env)
        command = self.container.get("command")
        args = self.container.get("args")
        if command:
            argv = [expand_references(c, known) for c in command]
            argv += [expand_references(a, known) for a in args or []]
        else:
            argv = list(self.engine.image.entrypoint)
            argv += [expand_references(a, known) for a in args or []]
        return argv

    def _kubelet_files(self) -> list[_Mount]:
        """/etc/hosts, /etc/hostname, /etc/resolv.conf and the termination-message file."""
        etc = self.bundle / "etc"
        etc.mkdir()
        hostname = self.pod.name[:63]
        (etc / "hosts").write_text(
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"127.0.0.1\t{hostname}\n"
        )
        (etc / "hostname").write_text(hostname + "\n")
        resolv = Path("/etc/resolv.conf")
        (etc / "resolv.conf").write_text(resolv.read_text() if resolv.is_file() else "")
        termination = self.bundle / "termination-log"
        termination.touch(mode=0o666)
        path = self.container.get("terminationMessagePath") or DEFAULT_TERMINATION_MESSAGE_PATH
        return [
            _Mount("/etc/hosts", str(etc / "hosts"), read_only=False),
            _Mount("/etc/hostname", str(etc / "hostname"), read_only=False),
            _Mount("/etc/resolv.conf", str(etc / "resolv.conf"), read_only=False),
            _Mount(path, str(termination), read_only=False),
        ]

    def _volume_mounts(self) -> list[_Mount]:
        volumes = {v["name"]: v for v in self.pod.pod["spec"].get("volumes") or []}
        prepared: dict[str, Path] = {}
        mounts = []
        for mount in self.container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"])
            if volume is None:
                raise ContainerConfigError(f'volume "{mount["name"]}" is not in the pod spec')
            if mount["name"] not in prepared:
                prepared[mount["name"]] = self._volume_dir(volume)
            source = prepared[mount["name"]]
            if mount.get("subPath"):
                source = Path(os.path.realpath(source / mount["subPath"]))
                if not source.exists():
                    source.mkdir(parents=True)
            # The kubelet mounts ConfigMap and Secret volumes read-only whatever the mount says.
            api_data = "configMap" in volume or "secret" in volume
            read_only = bool(mount.get("readOnly")) or api_data
            mounts.append(_Mount(mount["mountPath"], str(source), read_only=read_only))
        return mounts

    def _volume_dir(self, volume: JsonDict) -> Path:
        directory: Path = self.bundle / "volumes" / volume["name"]
        directory.mkdir(parents=True)
        for kind, resource, key in (
            ("configMap", "configmaps", "name"),
            ("secret", "secrets", "secretName"),
        ):
            source = volume.get(kind)
            if source is None:
                continue
            obj = self._api_object(resource, source.get(key, ""))
            if obj is None:
                if source.get("optional"):
                    return directory
                noun = "configmap" if kind == "configMap" else "secret"
                raise ContainerConfigError(f'{noun} "{source.get(key, "")}" not found')
            data = _object_data(obj)
            default_mode = int(source.get("defaultMode", 0o644))
            items = source.get("items") or [{"key": k, "path": k} for k in sorted(data)]
            files: dict[str, tuple[bytes, int]] = {}
            for item in items:
                if item["key"] not in data:
                    if source.get("optional"):
                        continue
                    raise ContainerConfigError(
                        f"configmap references non-existent config key: {item['key']}"
                    )
                files[item["path"]] = (data[item["key"]], int(item.get("mode", default_mode)))
            write_atomic_volume(directory, files)
            return directory
        if "emptyDir" in volume:
            directory.chmod(0o777)
            return directory
        if "hostPath" in volume:
            # The node's own folder, bind-mounted as it is (what a cache volume keeps between
            # builds); created only when the volume asks for DirectoryOrCreate, as a kubelet does.
            host = Path(volume["hostPath"].get("path") or "")
            if volume["hostPath"].get("type") == "DirectoryOrCreate":
                host.mkdir(parents=True, exist_ok=True)
            if not host.is_absolute() or not host.is_dir():
                raise ContainerConfigError(f"hostPath {host} is not a directory on the node")
            return host
        raise ContainerConfigError(
            f"volume {volume['name']}: this test node only mounts "
            "configMap, secret, emptyDir and hostPath volumes"
        )

    def _oci_config(
        self, argv: list[str], env: list[tuple[str, str]], mounts: list[_Mount]
    ) -> JsonDict:
        image = self.engine.image
        merged: dict[str, str] = {}
        for item in image.env:
            name, _, value = item.partition("=")
            merged[name] = value
        merged["HOSTNAME"] = self.pod.name[:63]
        merged.update(self.engine.node_env(self.pod.namespace))
        merged.update(env)
        pod_context = self.pod.pod["spec"].get("securityContext") or {}
        context = self._security_context()
        capabilities = container_capabilities(context)
        seccomp = effective_seccomp(self.pod.pod["spec"], self.container)
        return {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "user": process_user(pod_context, context),
                "args": argv,
                "env": [f"{k}={v}" for k, v in merged.items()],
                "cwd": self.container.get("workingDir") or image.workdir,
                "capabilities": {
                    "bounding": capabilities,
                    "effective": capabilities,
                    "permitted": capabilities,
                },
                # The kubelet's rule: only an explicit `allowPrivilegeEscalation: false` sets it.
                "noNewPrivileges": context.get("allowPrivilegeEscalation") is False,
            },
            "root": {"path": "rootfs", "readonly": bool(context.get("readOnlyRootFilesystem"))},
            "hostname": self.pod.name[:63],
            "mounts": standard_mounts() + [m.oci() for m in mounts],
            "linux": {
                "cgroupsPath": self._cgroups_path(),
                **(
                    {"seccomp": _default_seccomp(capabilities)}
                    if seccomp.kind == "RuntimeDefault"
                    else {}
                ),
                "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
                "resources": {
                    "devices": [{"allow": False, "access": "rwm"}],
                    **oci_resources(
                        self.container.get("resources") or {}, swap_controller=_swap_controller()
                    ),
                },
                "maskedPaths": list(MASKED_PATHS),
                "readonlyPaths": list(READONLY_PATHS),
            },
        }

    def _cgroups_path(self) -> str:
        return f"/kubepods/{self._qos_path()}pod{self.pod.uid}/{self.id}"

    def _qos_path(self) -> str:
        """``besteffort/``, ``burstable/`` or ``""`` (Guaranteed), as the kubelet nests pods."""
        containers = self.pod.pod["spec"]["containers"]
        resources = [c.get("resources") or {} for c in containers]
        if not any(r.get("requests") or r.get("limits") for r in resources):
            return "besteffort/"
        guaranteed = all(
            set(r.get("limits") or {}) >= {"cpu", "memory"}
            and all(
                # an unset request defaults to the limit
                (r.get("requests") or {}).get(k, r["limits"][k]) == r["limits"][k]
                for k in ("cpu", "memory")
            )
            for r in resources
        )
        return "" if guaranteed else "burstable/"

    # -- running

    def _run(self) -> None:
        pid_file = self.bundle / "pid"
        argv = [RUNC, "--root", str(self.engine.state_root), "run", "--bundle", str(self.bundle),
                "--pid-file", str(pid_file), self.id]  # fmt: skip
        self.state.container_id = f"runc://{self.id}"
        watch = self._oom_watch = OomWatch.start(self._cgroups_path())
        self._process = start_child(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.times["started"] = time.monotonic()
        self.state.started_at = _now()
        process = self._process
        assert process.stdout is not None
        assert process.stderr is not None
        readers = [
            threading.Thread(target=self._pump, args=(stream,), daemon=True, name=f"log-{n}")
            for n, stream in (("stdout", process.stdout), ("stderr", process.stderr))
        ]
        for reader in readers:
            reader.start()
        while process.poll() is None:
            if self.pod.deletion_requested.is_set() or self.pod.node.stopping:
                self._kill(process)
                break
            watch.wait(0.05)
        code = process.wait()
        self.times["exited"] = time.monotonic()
        self.oom_killed = watch.finish()
        self.memory_peak = watch.peak
        for reader in readers:
            reader.join(timeout=10)
        process.stdout.close()
        process.stderr.close()
        started = pid_file.exists()
        if not started:
            self._fail_to_start(f"runc could not start the container (exit {code})")
            return
        self.exit_code = code
        self._report_termination(code)
        self.times["reported"] = time.monotonic()

    def _pump(self, stream: IO[bytes]) -> None:
        """One stream's bytes as lines, each delivered when its newline arrives."""
        for line in _lines(stream):
            self.state.log.write(line.decode("utf-8", errors="surrogateescape"))

    def _kill(self, process: subprocess.Popen[bytes]) -> None:
        self.killed = True
        root = self.engine.state_root
        _runc(root, "kill", self.id, "TERM")
        try:
            process.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _runc(root, "kill", self.id, "KILL")
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def _report_termination(self, code: int) -> None:
        try:
            raw = (self.bundle / "termination-log").read_bytes()[:TERMINATION_MESSAGE_MAX]
        except OSError:
            raw = b""
        message = raw.decode(errors="replace")
        if (
            not message.strip()
            and code != 0
            and self.container.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            lines = self.state.log.lines()[-FALLBACK_LOG_LINES:]
            tail = "\n".join(lines).encode("utf-8", errors="surrogateescape")
            message = tail[-FALLBACK_LOG_BYTES:].decode(errors="replace")
        self.termination_message = message
        # containerd reports OOMKilled whenever the cgroup ran out of memory, whatever the
        # exit code: the OOM killer may have killed a child and the main process carried on.
        reason = "OOMKilled" if self.oom_killed else "Completed" if code == 0 else "Error"
        terminated: JsonDict = {
            "exitCode": code,
            "reason": reason,
            "startedAt": self.state.started_at,
            "finishedAt": _now(),
            "containerID": self.state.container_id,
        }
        if message:
            terminated["message"] = message
        self.state.terminated = terminated
        seen = self.pod.seen
        seen.exit_codes[self.name] = code
        seen.digests[self.name] = message.strip() if code == 0 and message.strip() else None
        self.state.log.close()

    def _fail_to_start(self, message: str) -> None:
        """The kubelet's StartError: exit code 128, the runtime's message."""
        self.exit_code = 128
        self.state.terminated = {
            "exitCode": 128,
            "reason": "StartError",
            "message": message,
            "startedAt": "1970-01-01T00:00:00Z",
            "finishedAt": _now(),
            "containerID": self.state.container_id or f"runc://{self.id}",
        }
        self.pod.seen.exit_codes[self.name] = 128
        self.state.log.close()

    def _config_error(self, message: str) -> None:
        """CreateContainerConfigError: the container waits (never starts) until the pod goes."""
        self.state.waiting_reason = "CreateContainerConfigError"
        self.state.waiting_message = message
        self.state.started_at = ""
        with contextlib.suppress(Exception):
            self.pod.publish_status()
        self.pod.event(self.name, "Warning", "Failed", f"Error: {message}")
        while not (self.pod.deletion_requested.is_set() or self.pod.node.stopping):
            time.sleep(0.1)

    def _cleanup(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._kill(self._process)
        if self._oom_watch is not None:
            self._oom_watch.close()
        root = self.engine.state_root
        _remove_containers(root, [c for c in _runc_list(root) if c == self.id])
        shutil.rmtree(self.bundle, ignore_errors=True)
        _remove_cgroups({self.pod.uid})


def _lines(stream: IO[bytes], chunk: int = 65536) -> Iterator[bytes]:
    """Complete lines (without the newline) as they arrive; the rest at EOF."""
    buffer = b""
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
    while True:
        data = read(chunk)
        if not data:
            break
        buffer += data
        if b"\n" in data:
            *complete, buffer = buffer.split(b"\n")
            yield from complete
    if buffer:
        yield buffer


def _object_data(obj: JsonDict) -> dict[str, bytes]:
    """A Secret's or ConfigMap's keys as bytes (``data`` base64 for a Secret; ``binaryData``)."""
    if obj.get("kind") == "Secret" or "type" in obj:
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def write_atomic_volume(directory: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """The kubelet's atomic-writer layout: ``..<stamp>/<files>``, ``..data -> ..<stamp>``,
    and one symlink per top-level entry ``<name> -> ..data/<name>``."""
    stamp = "..{}".format(
        datetime.datetime.now().strftime("%Y_%m_%d_%H_%M_%S.") + secrets.token_hex(4)
    )
    payload = directory / stamp
    payload.mkdir()
    for relative, (content, mode) in files.items():
        target = payload / posixpath.normpath(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    (directory / "..data").symlink_to(stamp)
    for top in sorted({posixpath.normpath(p).split("/", 1)[0] for p in files}):
        (directory / top).symlink_to(f"..data/{top}")


def expand_references(text: str, env: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: known names replaced, ``$$`` escapes, others kept."""
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "$" and index + 1 < len(text):
            following = text[index + 1]
            if following == "$":
                out.append("$")
                index += 2
                continue
            if following == "(":
                end = text.find(")", index + 2)
                if end != -1:
                    name = text[index + 2 : end]
                    out.append(env[name] if name in env else text[index : end + 1])
                    index = end + 1
                    continue
        out.append(char)
        index += 1
    return "".join(out)
