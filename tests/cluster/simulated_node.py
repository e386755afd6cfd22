"""The simulated kubelet: the only simulated part of the test cluster.

This module owns one fake worker node.  :class:`SimulatedNode` registers a
``Node`` with the real apiserver and keeps it Ready, watches the pods that the
real kube-scheduler binds to it, and drives each through what a kubelet
running the Kaniko executor would report (``pods/status`` patches and kubelet
Events).  It serves the containers' logs on the kubelet HTTPS endpoint
(``/containerLogs/{ns}/{pod}/{container}``) that the apiserver proxies
``pods/log`` to, so clients read them through the real apiserver.

What a pod "does" is chosen per namespace with :meth:`SimulatedNode.set_scenario`
(see :class:`Scenario` and :class:`ScenarioOptions`), or, with
:meth:`SimulatedNode.run_containers_with`, a namespace's containers are run for real by
a :class:`ContainerEngine` (:class:`tests.cluster.runc_runtime.RuncEngine`: the real
Kaniko executor under runc); the kubelet side (volumes check, events, status, log
endpoint, deletion) stays this module's.  Kubelet behaviour that
does not depend on the scenario, as on a real node:

- a secret or ConfigMap volume whose object does not exist (and is not
  ``optional``) blocks the pod in ``ContainerCreating`` with repeated
  ``FailedMount`` Warning events until it appears;
- the log endpoint answers 400 ``container "c" in pod "p" is waiting to start:
  <reason>`` while a container has not started;
- a pod with ``deletionTimestamp`` gets its containers killed (exit 143) and is
  then deleted with grace period 0;
- the termination message is what the executor wrote to the container's
  ``terminationMessagePath`` (``--digest-file=/dev/termination-log`` writes
  ``sha256:<hex>``), or the log tail for ``FallbackToLogsOnError`` failures.

A ``-c tar://<file.tar.gz>`` context is read from the container's ConfigMap volumes
(``binaryData`` included): the archive's member names are recorded in
:attr:`SeenPod.context_files` and the Dockerfile is looked up inside it, as Kaniko does
after unpacking it to ``/kaniko/buildcontext/``.

The Kaniko log lines follow the executor's default ``color`` format exactly,
including logrus' padding of the message to 44 columns and the trailing space
(``\\x1b[36mINFO\\x1b[0m[0003] <message padded to 44> ``); ``--log-format=text``
and ``--log-format=json`` are honoured too.  Unprefixed lines are RUN output.

Simplifications: every regular container is treated as a Kaniko executor
(fed by its own args); init containers complete instantly; restartPolicy is
treated as ``Never``; the node keeps no Lease (status heartbeats only).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import enum
import gzip
import hashlib
import io
import itertools
import json
import posixpath
import re
import secrets
import shlex
import ssl
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar

import urllib3
import yaml

from tests.cluster.control_plane import LOCALHOST, write_self_signed_cert

__all__ = [
    "ContainerEngine",
    "ContainerLog",
    "ContainerRuntime",
    "Instruction",
    "KanikoArgs",
    "KanikoLine",
    "KanikoRun",
    "KubeApiError",
    "KubeHttp",
    "Scenario",
    "ScenarioOptions",
    "SeenPod",
    "SimulatedNode",
    "format_kaniko_line",
    "hostile_output",
    "kaniko_digest",
    "parse_dockerfile",
    "read_tar_context",
]

JsonDict = dict[str, Any]
T = TypeVar("T")

KUBELET_VERSION = "v1.20.2"
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
KANIKO_WORKDIR = "/workspace"
KANIKO_BUILD_CONTEXT_DIR = "/kaniko/buildcontext/"
"""Where the executor unpacks a ``tar://``, ``gs://``, ``s3://``... context."""
TAR_CONTEXT_PREFIX = "tar://"
FATAL_RUN_ERROR = (
    "error building image: error building stage: failed to execute command: "
    "waiting for process to exit: exit status {code}"
)
NO_DOCKERFILE_ERROR = (
    "error resolving dockerfile path: please provide a valid path to a Dockerfile "
    "within the build context with --dockerfile"
)
NO_DESTINATION_ERROR = "you must provide --destination, or use --no-push"


# =========================================================================== scenarios


class Scenario(enum.Enum):
    """What the simulated Kaniko pods of a namespace do."""

    SUCCESS = "success"
    """Pull, run the build (log lines per Dockerfile instruction), push, exit 0."""
    RUN_FAILS = "run-fails"
    """The ``step``-th RUN (1-based; the last RUN if there are fewer) fails, with the status of
    its ``exit N`` when its command ends with one, else ``exit_code``; the executor exits with
    that status, as Kaniko does (only its other errors exit 1)."""
    IMAGE_PULL_FAILS = "image-pull-fails"
    """The executor image never pulls: ErrImagePull / ImagePullBackOff, forever."""
    MISSING_SECRET = "missing-secret"
    """Like SUCCESS; names the intent.  The FailedMount behaviour for a missing secret is
    always on (as on a real kubelet): the pod waits in ContainerCreating until it exists."""
    SLOW_START = "slow-start"
    """A slow executor image pull: ContainerCreating for ``seconds`` between the ``Pulling``
    and ``Pulled`` events, then like SUCCESS."""
    FLOOD = "flood"
    """Like SUCCESS, but the first RUN prints ``lines`` output lines as fast as possible."""
    HOSTILE_OUTPUT = "hostile-output"
    """Like SUCCESS, but the first RUN prints :func:`hostile_output` (``long_line`` sets the
    size of its one very long line), as any RUN step can."""


@dataclass(frozen=True)
class ScenarioOptions:
    """Options of :meth:`SimulatedNode.set_scenario`; scenario-specific ones are checked."""

    # -- every scenario
    hold_running: bool = False
    """Before pushing, keep the container Running (printing a heartbeat line every
    ``heartbeat_interval`` s) until :meth:`SimulatedNode.release` or pod deletion."""
    heartbeat_interval: float = 1.0
    line_delay: float = 0.002
    """Pause between two log lines (FLOOD lines are never delayed)."""
    retry_interval: float = 1.0
    """Period of repeated kubelet events (FailedMount, image pull retries)."""
    # -- RUN_FAILS
    step: int = 1
    exit_code: int = 3
    """The failing RUN's status (not Kaniko's catch-all 1, so a test can tell them apart)."""
    # -- SLOW_START
    seconds: float = 5.0
    # -- FLOOD
    lines: int = 5000
    # -- HOSTILE_OUTPUT
    long_line: int = 1 << 20


_COMMON_OPTIONS = frozenset({"hold_running", "heartbeat_interval", "line_delay", "retry_interval"})
_SCENARIO_OPTIONS: dict[Scenario, frozenset[str]] = {
    Scenario.SUCCESS: frozenset(),
    Scenario.RUN_FAILS: frozenset({"step", "exit_code"}),
    Scenario.IMAGE_PULL_FAILS: frozenset(),
    Scenario.MISSING_SECRET: frozenset(),
    Scenario.SLOW_START: frozenset({"seconds"}),
    Scenario.FLOOD: frozenset({"lines"}),
    Scenario.HOSTILE_OUTPUT: frozenset({"long_line"}),
}


def _scenario_options(scenario: Scenario, options: dict[str, Any]) -> ScenarioOptions:
    allowed = _COMMON_OPTIONS | _SCENARIO_OPTIONS[scenario]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"{scenario.name} does not take {unknown}; allowed: {sorted(allowed)}")
    return ScenarioOptions(**options)


# =========================================================================== Kaniko simulation


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction; ``original`` is what Kaniko echoes."""

    keyword: str
    arguments: str
    original: str

    @classmethod
    def from_line(cls, line: str) -> Instruction:
        keyword, _, arguments = line.strip().partition(" ")
        return cls(keyword.upper(), arguments.strip(), line.strip())


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments and blank lines skipped, ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1]
            continue
        instructions.append(Instruction.from_line(pending + raw))
        pending = ""
    if pending.strip():
        instructions.append(Instruction.from_line(pending))
    return instructions


_VALUE_FLAGS = {
    "c": "context",
    "context": "context",
    "f": "dockerfile",
    "dockerfile": "dockerfile",
    "d": "destination",
    "destination": "destination",
    "cache-repo": "cache-repo",
    "digest-file": "digest-file",
    "image-name-with-digest-file": "image-name-with-digest-file",
    "log-format": "log-format",
    "context-sub-path": "context-sub-path",
    "v": "verbosity",
    "verbosity": "verbosity",
    "cache-ttl": "cache-ttl",
    "build-arg": "build-arg",
    "target": "target",
    "snapshot-mode": "snapshot-mode",
    "tar-path": "tar-path",
    "insecure-registry": "insecure-registry",
    "skip-tls-verify-registry": "skip-tls-verify-registry",
    "registry-mirror": "registry-mirror",
    "cache-dir": "cache-dir",
    "label": "label",
    "kaniko-dir": "kaniko-dir",
    "customPlatform": "customPlatform",
    "custom-platform": "custom-platform",
}


@dataclass(frozen=True)
class KanikoArgs:
    """The executor flags the simulation cares about, parsed like Go's pflag."""

    context: str = KANIKO_WORKDIR
    context_sub_path: str = ""
    dockerfile: str = "Dockerfile"
    destinations: tuple[str, ...] = ()
    no_push: bool = False
    cache: bool = False
    cache_repo: str = ""
    digest_file: str = ""
    image_name_with_digest_file: str = ""
    log_format: str = "color"
    log_timestamp: bool = False
    verbosity: str = "info"

    @classmethod
    def parse(cls, argv: Sequence[str]) -> KanikoArgs:
        values, flags = _parse_pflags(argv)
        last = {name: items[-1] for name, items in values.items()}  # pflag: the last one wins
        return cls(
            context=last.get("context", KANIKO_WORKDIR),
            context_sub_path=last.get("context-sub-path", ""),
            dockerfile=last.get("dockerfile", "Dockerfile"),
            destinations=tuple(values.get("destination", ())),
            no_push=flags.get("no-push", False),
            cache=flags.get("cache", False),
            cache_repo=last.get("cache-repo", ""),
            digest_file=last.get("digest-file", ""),
            image_name_with_digest_file=last.get("image-name-with-digest-file", ""),
            log_format=last.get("log-format", "color"),
            log_timestamp=flags.get("log-timestamp", False),
            verbosity=last.get("verbosity", "info"),
        )

    @classmethod
    def for_container(cls, container: JsonDict) -> KanikoArgs:
        command = list(container.get("command") or [])
        return cls.parse([*command[1:], *(container.get("args") or [])])

    def context_dir(self) -> str:
        if self.tar_path() is not None:
            return posixpath.join(KANIKO_BUILD_CONTEXT_DIR, self.context_sub_path)
        context = self.context.removeprefix("dir://")
        return posixpath.join(posixpath.join(KANIKO_WORKDIR, context), self.context_sub_path)

    def tar_path(self) -> str | None:
        """The archive a ``tar://`` context names (relative to the executor's workdir), else None."""
        if not self.context.startswith(TAR_CONTEXT_PREFIX):
            return None
        path = self.context.removeprefix(TAR_CONTEXT_PREFIX)
        return posixpath.normpath(posixpath.join(KANIKO_WORKDIR, path))

    @property
    def debug(self) -> bool:
        """``-v debug`` or ``-v trace``: the executor also prints its DEBU lines."""
        return self.verbosity.lower() in ("debug", "trace")


def _parse_pflags(argv: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, bool]]:
    values: dict[str, list[str]] = {}
    flags: dict[str, bool] = {}
    items = iter(a for a in argv if a != "")
    for arg in items:
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name in _VALUE_FLAGS:
            if not has_value:
                value = next(items, "")
            values.setdefault(_VALUE_FLAGS[name], []).append(value)
        elif len(name) > 1 and not arg.startswith("--") and name[0] in _VALUE_FLAGS:
            values.setdefault(_VALUE_FLAGS[name[0]], []).append(arg[2:])  # -dVALUE
        else:
            flags[name] = value.lower() not in ("false", "0") if has_value else True
    return values, flags


def kaniko_digest(dockerfile: str, destinations: Sequence[str]) -> str:
    """The image digest the simulation reports: ``sha256:`` + sha256(Dockerfile + destinations)."""
    payload = dockerfile + "\n" + "\n".join(destinations)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def image_repository(reference: str) -> str:
    """``reg/org/img:tag`` → ``reg/org/img`` (tag and digest removed)."""
    reference = reference.split("@", 1)[0]
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    return reference[:colon] if colon > slash else reference


def image_registry(reference: str) -> str:
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "index.docker.io"


def full_image_reference(reference: str) -> str:
    """Containerd's normalised name: ``python:3.11`` → ``docker.io/library/python:3.11``."""
    if image_registry(reference) == "index.docker.io":
        reference = reference if "/" in reference else f"library/{reference}"
        reference = f"docker.io/{reference}"
    name = reference.split("@", 1)[0]
    return (
        reference if (":" in name.rsplit("/", 1)[-1] or "@" in reference) else f"{reference}:latest"
    )


_LEVEL_COLORS = {"DEBU": 37, "TRAC": 37, "INFO": 36, "WARN": 33, "ERRO": 31, "FATA": 31, "PANI": 31}
_LEVEL_NAMES = {
    "DEBU": "debug",
    "TRAC": "trace",
    "INFO": "info",
    "WARN": "warning",
    "ERRO": "error",
    "FATA": "fatal",
    "PANI": "panic",
}


@dataclass(frozen=True)
class KanikoLine:
    """A log line: ``level`` (4-letter logrus level) for executor messages, None for raw output."""

    level: str | None
    text: str
    undelayed: bool = False


class Hold:
    """Marker in a line plan: the node may keep the container running here."""


def format_kaniko_line(line: KanikoLine, args: KanikoArgs, started: float, now: float) -> str:
    """Render like the executor's logrus formatter for ``--log-format`` (color/text/json)."""
    if line.level is None:
        return line.text
    stamp = (
        datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )
    if args.log_format == "json":
        record = {"level": _LEVEL_NAMES[line.level], "msg": line.text, "time": stamp}
        return json.dumps(record, separators=(",", ":"))
    if args.log_format == "text":
        return f'time="{stamp}" level={_LEVEL_NAMES[line.level]} msg={_logfmt_value(line.text)}'
    clock = f"[{stamp}]" if args.log_timestamp else f"[{int(now - started):04d}]"
    return f"\x1b[{_LEVEL_COLORS[line.level]}m{line.level}\x1b[0m{clock} {line.text:<44} "


def hostile_output(long_line: int) -> list[str]:
    """What a RUN step may print to attack whoever follows the log: JSON-looking lines that
    nest thousands deep, terminal control (reset, cursor, charset, title, clipboard, bell, C1),
    invalid UTF-8 (lone surrogates, written as the raw bytes) and one ``long_line``-byte line."""
    return [
        '{"level":"info","msg":' + "[" * 20000,
        '{"level":"error","msg":' + "[" * 3000,
        '{"level":"info","msg":{"not":"a string"}}',
        "\x1bc\x1b7\x1b[1;1H\x1b8 reset and cursor",
        "\x1b(0lqqk\x1b(B charset \x07 bell",
        "\x1b]0;pwned title\x07\x1b]52;c;cGF5bG9hZA==\x1b\\ osc",
        "\x9b31m c1 csi \x85 nel \x1bP+q544e\x1b\\ dcs \x1b]8;;http://x unterminated",
        "invalid utf-8: \udcff\udcfe\udcc3",
        "progress 10%\rprogress 100%",
        "x" * long_line,
    ]


def _logfmt_value(text: str) -> str:
    """logrus quotes a text-format value only when it has characters outside [A-Za-z0-9-._/@^+]."""
    plain = text and all(c.isascii() and (c.isalnum() or c in "-._/@^+") for c in text)
    return text if plain else json.dumps(text)


def _run_command(instruction: Instruction, shell: list[str]) -> tuple[str, list[str]]:
    """(Cmd, Args) Kaniko reports for a RUN in shell or exec form."""
    arguments = instruction.arguments
    if arguments.startswith("["):
        exec_form = _json_list(arguments)
        if exec_form:
            return exec_form[0], exec_form[1:]
    return shell[0], [*shell[1:], arguments]


def _json_list(text: str) -> list[str] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return [str(item) for item in value] if isinstance(value, list) and value else None


def _command_output(command: str) -> list[str]:
    """A few plausible output lines for a RUN command (per ``&&``/``;``/``|`` segment)."""
    lines: list[str] = []
    for segment in re.split(r"&&|\|\||;|\|", command):
        try:
            words = shlex.split(segment)
        except ValueError:
            words = segment.split()
        lines.extend(_segment_output(words))
    return lines or [f"(simulated output of: {command.strip()})"]


_REQUIREMENT_NAME = re.compile(r"[<>=~!\[;]")
_PIP_VALUE_OPTIONS = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
}


def _pip_packages(words: list[str]) -> list[str]:
    packages, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in _PIP_VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            packages.append(word)
    return packages


def _segment_output(words: list[str]) -> list[str]:
    program = posixpath.basename(words[0]) if words else ""
    if program.startswith("pip") or (program.startswith("python") and "pip" in words[1:3]):
        if "install" not in words:
            return []
        packages = _pip_packages(words[words.index("install") + 1 :])
        if not packages:
            return [
                "Requirement already satisfied: pip in /usr/local/lib/python3/site-packages (23.0.1)"
            ]
        installed = " ".join(f"{_REQUIREMENT_NAME.split(p)[0]}-1.0.0" for p in packages)
        return [
            *(f"Collecting {p}" for p in packages),
            f"Successfully installed {installed}".rstrip(),
        ]
    if program in ("apt-get", "apt"):
        return [
            "Reading package lists...",
            "Building dependency tree...",
            "Reading state information...",
        ]
    if program == "echo":
        return [" ".join(words[1:])]
    return []


def read_tar_context(data: bytes) -> tuple[list[str], dict[str, bytes]]:
    """(member names, regular files by normalised name) of a ``.tar.gz`` build context.

    Raises ValueError with the Go error Kaniko would print (``gzip: invalid header``, ...).
    """
    if data[:2] != b"\x1f\x8b":
        raise ValueError("gzip: invalid header")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            names: list[str] = []
            files: dict[str, bytes] = {}
            for member in archive:
                names.append(member.name)
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is not None:
                    files[posixpath.normpath(member.name.lstrip("/"))] = handle.read()
    except (EOFError, gzip.BadGzipFile, tarfile.ReadError, OSError) as error:
        raise ValueError("unexpected EOF" if isinstance(error, EOFError) else str(error)) from error
    return names, files


class KanikoRun:
    """What one simulated executor run prints, and how it ends.

    ``plan()`` yields :class:`KanikoLine` items (and one :class:`Hold` marker before
    the push with ``hold_running``); ``exit_code``, ``error_line`` and ``digest``
    are known up front.
    """

    def __init__(
        self,
        args: KanikoArgs,
        dockerfile: str | None,
        scenario: Scenario,
        options: ScenarioOptions,
        *,
        context_error: str | None = None,
        context_lines: Sequence[KanikoLine] = (),
        dockerignore: str | None = None,
    ) -> None:
        self.args = args
        self.dockerfile = dockerfile
        self.scenario = scenario
        self.options = options
        self.context_error = context_error
        """Kaniko's error line when the source context (e.g. the tar archive) cannot be read."""
        self.context_lines = tuple(context_lines)
        """Lines printed while the source context is resolved (before any resolution error)."""
        self.dockerignore = dockerignore
        """The ``.dockerignore`` path the executor announces, if the context has one."""
        self.instructions = parse_dockerfile(dockerfile or "")
        self.failing_run = self._failing_run_index()
        self.error_line = self._error_line()
        self.exit_code = self._exit_code()
        can_push = dockerfile is not None and (args.destinations or args.no_push)
        self.digest = kaniko_digest(dockerfile or "", args.destinations) if can_push else None

    def _failing_run_index(self) -> int | None:
        if self.scenario is not Scenario.RUN_FAILS:
            return None
        runs = [i for i, ins in enumerate(self.instructions) if ins.keyword == "RUN"]
        return runs[min(max(self.options.step, 1), len(runs)) - 1] if runs else None

    def _error_line(self) -> str | None:
        if self.dockerfile is None and self.context_error is None:
            return NO_DOCKERFILE_ERROR
        if not self.args.destinations and not self.args.no_push:
            return NO_DESTINATION_ERROR
        if self.context_error is not None:  # checked after --destination, as the executor does
            return self.context_error
        if self.failing_run is not None:
            return FATAL_RUN_ERROR.format(code=self._run_status())
        return None

    def _run_status(self) -> int:
        """The failing RUN's status: its command's own ``exit N``, else the scenario's."""
        assert self.failing_run is not None
        found = re.search(
            r"(?:^|[;&|]\s*)exit\s+(\d+)\s*$", self.instructions[self.failing_run].arguments
        )
        return int(found.group(1)) % 256 if found else self.options.exit_code

    def _exit_code(self) -> int:
        # Kaniko exits with the status of a RUN that failed, and with 1 for anything else.
        if self.error_line is None:
            return 0
        return self._run_status() if self.failing_run is not None else 1

    def termination_file(self, path: str) -> str:
        """What the executor leaves in ``path`` (the container's termination-message file)."""
        if self.digest is None or self.exit_code != 0:
            return ""
        if self.args.image_name_with_digest_file == path:
            return "\n".join(f"{d}@{self.digest}" for d in self.args.destinations)
        if self.args.digest_file == path:
            return self.digest
        return ""

    def plan(self) -> Iterator[KanikoLine | Hold]:
        if self.args.destinations or self.args.no_push:
            yield from self.context_lines
        if self.dockerfile is None or (not self.args.destinations and not self.args.no_push):
            yield KanikoLine(None, self.error_line or "")
            return
        if self.dockerignore:
            yield KanikoLine("INFO", f"Using dockerignore file: {self.dockerignore}")
        shell = ["/bin/sh", "-c"]
        flood_left = self.options.lines if self.scenario is Scenario.FLOOD else 0
        hostile = self.scenario is Scenario.HOSTILE_OUTPUT
        stage = -1
        for index, instruction in enumerate(self.instructions):
            if instruction.keyword == "FROM":
                stage += 1
                yield from self._stage_start(instruction, stage, index)
                continue
            if stage < 0:
                continue  # ARGs before the first FROM are meta arguments, not build steps
            yield KanikoLine("INFO", instruction.original)
            if instruction.keyword == "SHELL":
                shell = _json_list(instruction.arguments) or shell
            elif instruction.keyword == "RUN":
                yield from self._run(instruction, shell, flood_left)
                flood_left = 0
                if hostile:
                    yield from (KanikoLine(None, t) for t in hostile_output(self.options.long_line))
                    hostile = False
                if index == self.failing_run:
                    yield KanikoLine(None, self.error_line or "")
                    return
            else:
                yield from self._metadata_step(instruction)
        for number in range(1, flood_left + 1):  # FLOOD without any RUN: flood before the push
            yield KanikoLine(None, f"flood output line {number} of {flood_left}", undelayed=True)
        if self.options.hold_running:
            yield Hold()
        yield from self._push()

    def _stage_start(
        self, instruction: Instruction, stage: int, index: int
    ) -> Iterator[KanikoLine]:
        words = [w for w in instruction.arguments.split() if not w.startswith("--platform")]
        image = words[0] if words else "scratch"
        if stage == 0:
            yield KanikoLine("INFO", f"Retrieving image manifest {image}")
            yield KanikoLine(
                "INFO", f"Retrieving image {image} from registry {image_registry(image)}"
            )
            yield KanikoLine("INFO", "Built cross stage deps: map[]")
        yield KanikoLine("INFO", f"Retrieving image manifest {image}")
        yield KanikoLine("INFO", "Returning cached image manifest")
        yield KanikoLine("INFO", "Executing 0 build triggers")
        yield KanikoLine("INFO", f"Building stage '{image}' [idx: '{stage}', base-idx: '-1']")
        first_run = next(
            (ins for ins in self.instructions[index + 1 :] if ins.keyword in ("RUN", "FROM")), None
        )
        if self.args.cache:
            for ins in self.instructions[index + 1 :]:
                if ins.keyword == "FROM":
                    break
                if ins.keyword == "RUN":
                    yield KanikoLine("INFO", f"Checking for cached layer {self._cache_key(ins)}...")
                    yield KanikoLine("INFO", f"No cached layer found for cmd {ins.original}")
        if first_run is not None and first_run.keyword == "RUN":
            yield KanikoLine("INFO", f"Unpacking rootfs as cmd {first_run.original} requires it.")

    def _run(self, instruction: Instruction, shell: list[str], flood: int) -> Iterator[KanikoLine]:
        cmd, cmd_args = _run_command(instruction, shell)
        yield KanikoLine("INFO", "Initializing snapshotter ...")
        yield KanikoLine("INFO", "Taking snapshot of full filesystem...")
        yield KanikoLine("INFO", f"Cmd: {cmd}")
        yield KanikoLine("INFO", f"Args: [{' '.join(cmd_args)}]")
        yield KanikoLine("INFO", f"Running: [{' '.join([cmd, *cmd_args])}]")
        for line in _command_output(cmd_args[-1] if cmd_args else cmd):
            yield KanikoLine(None, line)
        for number in range(1, flood + 1):
            yield KanikoLine(None, f"flood output line {number} of {flood}", undelayed=True)
        if self.failing_run is not None and instruction is self.instructions[self.failing_run]:
            return
        yield KanikoLine("INFO", "Taking snapshot of files...")
        if self.args.cache:
            yield KanikoLine("INFO", f"Pushing layer {self._cache_key(instruction)} to cache now")

    @staticmethod
    def _metadata_step(instruction: Instruction) -> Iterator[KanikoLine]:
        if instruction.keyword == "WORKDIR":
            yield KanikoLine("INFO", "Cmd: workdir")
            yield KanikoLine("INFO", f"Changed working directory to {instruction.arguments}")
            yield KanikoLine(
                "INFO", f"Creating directory {instruction.arguments} with uid -1 and gid -1"
            )
            yield KanikoLine("INFO", "Taking snapshot of files...")
        elif instruction.keyword in ("COPY", "ADD"):
            yield KanikoLine("INFO", "Taking snapshot of files...")

    def _cache_key(self, instruction: Instruction) -> str:
        repo = self.args.cache_repo or (
            f"{image_repository(self.args.destinations[0])}/cache"
            if self.args.destinations
            else "cache"
        )
        return f"{repo}:{hashlib.sha256(instruction.original.encode()).hexdigest()}"

    def _push(self) -> Iterator[KanikoLine]:
        if self.args.no_push:
            yield KanikoLine("INFO", "Skipping push to container registry due to --no-push flag")
            return
        for destination in self.args.destinations:
            yield KanikoLine("INFO", f"Pushing image to {destination}")
            yield KanikoLine("INFO", f"Pushed {image_repository(destination)}@{self.digest}")


# =========================================================================== API access


class KubeApiError(Exception):
    """A non-2xx answer from the apiserver."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body

    @property
    def retriable(self) -> bool:
        return self.status >= 500 or self.status == 429


class ApiUnavailable(Exception):
    """The apiserver could not be reached (e.g. while it restarts)."""


class WatchGone(Exception):
    """The watch's resourceVersion is too old (410 Gone): relist."""


class KubeHttp:
    """A minimal JSON client for a token + CA kubeconfig (the kind the control plane writes)."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(Path(kubeconfig).read_text())
        context = _named(config["contexts"], config["current-context"])["context"]
        cluster = _named(config["clusters"], context["cluster"])["cluster"]
        user = _named(config["users"], context["user"])["user"]
        self.server = cluster["server"].rstrip("/")
        ca_args: dict[str, Any] = {}
        if "certificate-authority-data" in cluster:
            ca_args["ca_cert_data"] = base64.b64decode(
                cluster["certificate-authority-data"]
            ).decode()
        else:
            ca_args["ca_certs"] = cluster["certificate-authority"]
        self._headers = {"Authorization": f"Bearer {user['token']}", "Accept": "application/json"}
        self._pool = urllib3.PoolManager(
            maxsize=32, cert_reqs="CERT_REQUIRED", retries=False, **ca_args
        )

    def request(
        self,
        method: str,
        path: str,
        body: JsonDict | None = None,
        *,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> JsonDict:
        headers = dict(
            self._headers, **({"Content-Type": content_type} if body is not None else {})
        )
        try:
            response = self._pool.request(
                method,
                self.server + path,
                body=None if body is None else json.dumps(body),
                headers=headers,
                timeout=urllib3.Timeout(connect=3.0, read=timeout),
            )
        except urllib3.exceptions.HTTPError as error:
            raise ApiUnavailable(f"{method} {path}: {error}") from error
        text = response.data.decode(errors="replace")
        if not 200 <= response.status < 300:
            raise KubeApiError(response.status, text)
        return json.loads(text) if text else {}

    def stream(self, path: str, read_timeout: float) -> urllib3.BaseHTTPResponse:
        try:
            response = self._pool.request(
                "GET",
                self.server + path,
                headers=self._headers,
                preload_content=False,
                timeout=urllib3.Timeout(connect=3.0, read=read_timeout),
            )
        except urllib3.exceptions.HTTPError as error:
            raise ApiUnavailable(f"GET {path}: {error}") from error
        if response.status != 200:
            body = response.read().decode(errors="replace")
            response.release_conn()
            raise KubeApiError(response.status, body)
        return response

    def close(self) -> None:
        self._pool.clear()


def _named(entries: list[JsonDict], name: str) -> JsonDict:
    return next(entry for entry in entries if entry["name"] == name)


def _quote(*parts: str) -> str:
    return "/".join(urllib.parse.quote(part, safe="") for part in parts)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# =========================================================================== container logs


class ContainerLog:
    """The (growing) log of one container; readers block for more until it is closed."""

    def __init__(self) -> None:
        self._lines: list[tuple[str, str]] = []  # (RFC3339Nano timestamp, text)
        self._closed = False
        self._changed = threading.Condition()

    def write(self, text: str) -> None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._changed:
            self._lines.append((stamp, text))
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def lines(self) -> list[str]:
        with self._changed:
            return [text for _, text in self._lines]

    def read_from(self, index: int, wait: float) -> tuple[list[tuple[str, str]], bool]:
        """Lines from ``index`` on (waiting up to ``wait`` s for some) and whether the log is closed."""
        with self._changed:
            if index >= len(self._lines) and not self._closed:
                self._changed.wait(wait)
            return self._lines[index:], self._closed

    def __len__(self) -> int:
        with self._changed:
            return len(self._lines)


@dataclass
class ContainerRuntime:
    """The simulated runtime state of one container."""

    name: str
    image: str
    log: ContainerLog = field(default_factory=ContainerLog)
    waiting_reason: str | None = "ContainerCreating"
    waiting_message: str = ""
    container_id: str = ""
    started_at: str = ""
    terminated: JsonDict | None = None

    def status(self) -> JsonDict:
        status: JsonDict = {
            "name": self.name,
            "image": self.image,
            "restartCount": 0,
            "lastState": {},
            "ready": False,
            "started": False,
            "imageID": "",
        }
        if self.container_id:
            status["containerID"] = self.container_id
            status["imageID"] = _image_id(self.image)
        if self.terminated is not None:
            status["state"] = {"terminated": self.terminated}
        elif self.waiting_reason is not None:
            waiting = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            status["state"] = {"waiting": waiting}
        else:
            status.update(
                ready=True, started=True, state={"running": {"startedAt": self.started_at}}
            )
        return status

    def log_refusal(self, pod: str) -> str | None:
        """The kubelet's error while the container has not started, else None."""
        if self.terminated is not None or self.waiting_reason is None:
            return None
        reason = {
            "ErrImagePull": "image can't be pulled",
            "ImagePullBackOff": "trying and failing to pull image",
        }.get(self.waiting_reason, self.waiting_reason)
        return f'container "{self.name}" in pod "{pod}" is waiting to start: {reason}'


def _image_id(image: str) -> str:
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"{image_repository(full_image_reference(image))}@sha256:{digest}"


@dataclass
class SeenPod:
    """What the node saw of one pod (for test assertions)."""

    namespace: str
    name: str
    uid: str
    scenario: Scenario
    options: ScenarioOptions
    pod: JsonDict
    configmaps: dict[str, dict[str, str]] = field(default_factory=dict)
    binary_configmaps: dict[str, dict[str, bytes]] = field(default_factory=dict)
    """ConfigMap name → its ``binaryData``, decoded (only ConfigMaps that have some)."""
    context_files: dict[str, list[str]] = field(default_factory=dict)
    """Per container with a ``tar://`` context: the archive's member names, in archive order."""
    dockerfiles: dict[str, str | None] = field(default_factory=dict)
    """Per container: the Dockerfile text found through the ConfigMap volumes (None: not found)."""
    args: dict[str, KanikoArgs] = field(default_factory=dict)
    digests: dict[str, str | None] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)
    phase: str = "Pending"
    containers: dict[str, ContainerRuntime] = field(default_factory=dict, repr=False)

    @property
    def dockerfile(self) -> str | None:
        """The first container's Dockerfile."""
        return next(iter(self.dockerfiles.values()), None)

    @property
    def digest(self) -> str | None:
        return next(iter(self.digests.values()), None)

    def log_lines(self, container: str | None = None) -> list[str]:
        runtime = self.containers[container] if container else next(iter(self.containers.values()))
        return runtime.log.lines()


# =========================================================================== kubelet HTTPS server


class _KubeletServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, node: SimulatedNode, ssl_context: ssl.SSLContext) -> None:
        self.node = node
        self.ssl_context = ssl_context
        super().__init__((LOCALHOST, 0), _KubeletRequestHandler)


class _KubeletRequestHandler(BaseHTTPRequestHandler):
    server: _KubeletServer
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: fine for streaming

    def setup(self) -> None:
        self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the peer is gone
        finally:
            self.request.close()  # the server only closes the raw socket this one replaced

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        self.server.node.http_requests.append(format % args)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._error(404, f"unknown kubelet path {url.path}")
            return
        namespace, pod, container = (urllib.parse.unquote(p) for p in parts[1:])
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        with contextlib.suppress(TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self._serve_logs(namespace, pod, container, query)  # (errors: the apiserver went away)

    def _serve_logs(self, namespace: str, pod: str, container: str, query: dict[str, str]) -> None:
        runtime = self.server.node.container_runtime(namespace, pod, container)
        if runtime is None:
            self._error(
                400,
                f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating',
            )
            return
        if query.get("previous") == "true":
            self._error(
                400, f'previous terminated container "{container}" in pod "{pod}" not found'
            )
            return
        refusal = runtime.log_refusal(pod)
        if refusal is not None:
            self._error(400, refusal)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self._stream(
            runtime.log,
            follow=query.get("follow") == "true",
            tail=int(query["tailLines"]) if "tailLines" in query else None,
            timestamps=query.get("timestamps") == "true",
            limit=int(query["limitBytes"]) if "limitBytes" in query else None,
        )

    def _stream(
        self,
        log: ContainerLog,
        *,
        follow: bool,
        tail: int | None,
        timestamps: bool,
        limit: int | None,
    ) -> None:
        index = max(len(log) - tail, 0) if tail is not None else 0
        sent = 0
        node = self.server.node
        while not node.stopping:
            lines, closed = log.read_from(index, wait=0.5 if follow else 0)
            index += len(lines)
            chunk = "".join(
                f"{stamp} {text}\n" if timestamps else f"{text}\n" for stamp, text in lines
            )
            data = chunk.encode(errors="surrogateescape")  # a real container's bytes, unchanged
            if limit is not None:
                data = data[: max(limit - sent, 0)]
            if data:
                self.wfile.write(data)
                self.wfile.flush()
                sent += len(data)
            if (
                not follow
                or (closed and index >= len(log))
                or (limit is not None and sent >= limit)
            ):
                return

    def _error(self, status: int, message: str) -> None:
        body = message.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# =========================================================================== events


class EventRecorder:
    """Kubelet-style core/v1 Events; a repeated (object, type, reason, message) bumps ``count``."""

    def __init__(self, api: KubeHttp, node_name: str) -> None:
        self._api = api
        self._node = node_name
        self._known: dict[tuple[str, str, str, str, str], tuple[str, int]] = {}
        self._lock = threading.Lock()

    def record(
        self, pod: JsonDict, container: str | None, event_type: str, reason: str, message: str
    ) -> None:
        meta = pod["metadata"]
        key = (meta["uid"], container or "", event_type, reason, message)
        with self._lock:
            name, count = self._known.get(key, (f"{meta['name']}.{secrets.token_hex(8)}", 0))
            self._known[key] = (name, count + 1)
        path = f"/api/v1/namespaces/{_quote(meta['namespace'])}/events"
        if count:
            try:
                self._api.request(
                    "PATCH",
                    f"{path}/{_quote(name)}",
                    {"count": count + 1, "lastTimestamp": _now()},
                    content_type="application/strategic-merge-patch+json",
                )
                return
            except KubeApiError as error:
                if error.status != 404:  # expired or deleted: start over, like client-go's recorder
                    raise
            with self._lock:
                name = f"{meta['name']}.{secrets.token_hex(8)}"
                self._known[key] = (name, 1)
        involved = {
            "kind": "Pod",
            "apiVersion": "v1",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if container:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        self._api.request(
            "POST",
            path,
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": meta["namespace"]},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": event_type,
                "source": {"component": "kubelet", "host": self._node},
                "firstTimestamp": _now(),
                "lastTimestamp": _now(),
                "count": 1,
            },
        )


# =========================================================================== pod driver


class ContainerEngine(Protocol):
    """Runs one container of a pod for real (instead of the Kaniko simulation)."""

    def run(self, pod: PodRuntime, container: JsonDict, state: ContainerRuntime) -> None:
        """Run to the end (or the pod's deletion), writing ``state.log``; set ``state.terminated``."""

    def config_error(self, pod: PodRuntime, container: JsonDict) -> str | None:
        """Why the container cannot be created from its spec (the kubelet's
        CreateContainerConfigError message), or None: asked before the container starts."""


class _Interrupted(Exception):
    """The pod is being deleted or the node is stopping."""


class _PodGone(Exception):
    """The pod no longer exists in the apiserver."""


class PodRuntime:
    """Everything the node tracks for one pod (by UID) while and after driving it."""

    def __init__(self, node: SimulatedNode, pod: JsonDict, seen: SeenPod) -> None:
        self.node = node
        self.pod = pod
        self.seen = seen
        self.uid: str = pod["metadata"]["uid"]
        self.deletion_requested = threading.Event()
        self.released = threading.Event()
        self.finished = threading.Event()
        self.eviction: str | None = None
        """The eviction manager's message once the node evicts the pod (see ``evict``)."""
        self.containers = seen.containers
        for container in pod["spec"]["containers"]:
            self.containers[container["name"]] = ContainerRuntime(
                container["name"], container["image"]
            )
        self._status_lock = threading.Lock()
        self._phase = "Pending"
        self._started = _now()
        self._pod_ip = ""
        self._ready = (False, self._started)  # (Ready, since)

    # -- helpers

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    def sleep(self, seconds: float) -> None:
        """Sleep, raising :class:`_Interrupted` as soon as the pod is deleted or the node stops."""
        deadline = time.monotonic() + seconds
        while True:
            if self.deletion_requested.is_set() or self.node.stopping:
                raise _Interrupted
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.deletion_requested.wait(min(left, 0.2))

    def event(self, container: str | None, event_type: str, reason: str, message: str) -> None:
        """Record a kubelet event; like a kubelet's, best effort (e.g. a terminating namespace refuses it)."""
        with contextlib.suppress(KubeApiError, ApiUnavailable):
            self.node.call(
                lambda: self.node.events.record(self.pod, container, event_type, reason, message)
            )

    def publish_status(self, phase: str | None = None) -> None:
        """Patch ``pods/status`` with the current container states."""
        with self._status_lock:
            if phase:
                self._phase = phase
            body = {"status": self._status_body()}
        path = f"/api/v1/namespaces/{_quote(self.namespace)}/pods/{_quote(self.name)}/status"
        try:
            self.node.call(
                lambda: self.node.api.request(
                    "PATCH", path, body, content_type="application/strategic-merge-patch+json"
                )
            )
        except KubeApiError as error:
            if error.status == 404:
                raise _PodGone from error
            raise
        self.seen.phase = self._phase

    def _status_body(self) -> JsonDict:
        statuses = [c.status() for c in self.containers.values()]
        all_ready = all(s["ready"] for s in statuses)
        terminal = self._phase in ("Succeeded", "Failed")
        unready = [s["name"] for s in statuses if not s["ready"]]
        if self._ready[0] != all_ready:
            self._ready = (all_ready, _now())
        ready_condition: JsonDict = {
            "type": "Ready",
            "status": "True" if all_ready else "False",
            "lastProbeTime": None,
            "lastTransitionTime": self._ready[1],
        }
        if not all_ready:
            ready_condition.update(
                reason="PodCompleted" if terminal else "ContainersNotReady",
                message=""
                if terminal
                else f"containers with unready status: [{' '.join(unready)}]",
            )
        containers_ready = dict(ready_condition, type="ContainersReady")
        body: JsonDict = {
            "phase": self._phase,
            **({"reason": "Evicted", "message": self.eviction} if self.eviction else {}),
            "hostIP": LOCALHOST,
            "startTime": self._started,
            "conditions": [
                {
                    "type": "Initialized",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self._started,
                },
                ready_condition,
                containers_ready,
            ],
            "containerStatuses": statuses,
        }
        if self._pod_ip:
            body.update(podIP=self._pod_ip, podIPs=[{"ip": self._pod_ip}])
        init = self.pod["spec"].get("initContainers") or []
        if init:
            body["initContainerStatuses"] = [_completed_init_status(c, self._started) for c in init]
        return body

    def assign_pod_ip(self) -> None:
        self._pod_ip = self.node.next_pod_ip()


def _completed_init_status(container: JsonDict, when: str) -> JsonDict:
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": _image_id(container["image"]),
        "containerID": f"containerd://{secrets.token_hex(32)}",
        "ready": True,
        "restartCount": 0,
        "lastState": {},
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": when,
                "finishedAt": when,
            }
        },
    }


@dataclass(frozen=True)
class _TarContext:
    """What unpacking a ``tar://`` context gave: files under /kaniko/buildcontext/, log lines
    and the executor's error line (None: no error, or not a tar context)."""

    files: dict[str, bytes] = field(default_factory=dict)
    lines: list[KanikoLine] = field(default_factory=list)
    error: str | None = None


def _text(content: str | bytes) -> str:
    return content.decode(errors="replace") if isinstance(content, bytes) else content


def _dockerfile_path(files: dict[str, str | bytes], args: KanikoArgs) -> str | None:
    """Where the executor finds ``--dockerfile``: as given (relative to its workdir), else
    relative to the (unpacked) context."""
    candidates = [
        posixpath.normpath(posixpath.join(KANIKO_WORKDIR, args.dockerfile)),
        posixpath.normpath(posixpath.join(args.context_dir(), args.dockerfile)),
    ]
    return next((c for c in candidates if c in files), None)


def _find_dockerfile(files: dict[str, str | bytes], args: KanikoArgs) -> str | None:
    path = _dockerfile_path(files, args)
    return None if path is None else _text(files[path])


def _dockerignore_path(files: dict[str, str | bytes], args: KanikoArgs) -> str | None:
    """The ignore file the executor announces: ``<dockerfile>.dockerignore`` (which it copies
    beside its copy of the Dockerfile, /kaniko/Dockerfile), else the context's one."""
    dockerfile = _dockerfile_path(files, args)
    if dockerfile is not None and f"{dockerfile}.dockerignore" in files:
        return "/kaniko/Dockerfile.dockerignore"
    context_ignore = posixpath.join(posixpath.normpath(args.context_dir()), ".dockerignore")
    return context_ignore if context_ignore in files else None


class PodDriver:
    """Drives one pod through the kubelet lifecycle on a daemon thread."""

    def __init__(self, runtime: PodRuntime) -> None:
        self.runtime = runtime
        self.node = runtime.node
        self.scenario = runtime.seen.scenario
        self.options = runtime.seen.options

    def run(self) -> None:
        try:
            self._lifecycle()
        except _Interrupted:
            self._finish_deletion_if_requested()
        except _PodGone:
            pass
        except Exception:  # a thread must report, not die silently
            self.node.report_error(f"pod {self.runtime.namespace}/{self.runtime.name}")
        finally:
            for container in self.runtime.containers.values():
                container.log.close()
            self.runtime.finished.set()

    # -- phases

    def _lifecycle(self) -> None:
        runtime = self.runtime
        runtime.publish_status("Pending")
        self._mount_volumes()
        for container in runtime.pod["spec"]["containers"]:
            self._pull_and_start(container)
        runtime.assign_pod_ip()
        runtime.publish_status("Running")
        builds = [
            threading.Thread(
                target=self._build_guarded,
                args=(c,),
                daemon=True,
                name=f"build-{runtime.name}-{c['name']}",
            )
            for c in runtime.pod["spec"]["containers"]
        ]
        for thread in builds:
            thread.start()
        for thread in builds:
            thread.join()
        if runtime.deletion_requested.is_set() or self.node.stopping:
            raise _Interrupted
        failed = any(
            c.terminated and c.terminated["exitCode"] != 0 for c in runtime.containers.values()
        )
        runtime.publish_status("Failed" if failed else "Succeeded")
        if runtime.deletion_requested.is_set():
            raise _Interrupted

    def _mount_volumes(self) -> None:
        """Read ConfigMap volumes; report FailedMount (repeatedly) while a secret/ConfigMap is missing."""
        while True:
            missing = [
                m
                for m in (self._mount(v) for v in self.runtime.pod["spec"].get("volumes") or [])
                if m
            ]
            if not missing:
                return
            for message in missing:
                self.runtime.event(None, "Warning", "FailedMount", message)
            self.runtime.sleep(self.options.retry_interval)

    def _mount(self, volume: JsonDict) -> str | None:
        """None when the volume can be set up, else kubelet's FailedMount message."""
        for kind, key, resource in (
            ("secret", "secretName", "secrets"),
            ("configmap", "name", "configmaps"),
        ):
            source = volume.get("secret" if kind == "secret" else "configMap")
            if not source:
                continue
            name = source.get(key, "")
            obj = self.node.get_namespaced(resource, self.runtime.namespace, name)
            if obj is None:
                return (
                    None
                    if source.get("optional")
                    else (
                        f'MountVolume.SetUp failed for volume "{volume["name"]}" : {kind} "{name}" not found'
                    )
                )
            if kind == "configmap":
                self.runtime.seen.configmaps[name] = dict(obj.get("data") or {})
                binary = obj.get("binaryData") or {}
                if binary:
                    self.runtime.seen.binary_configmaps[name] = {
                        k: base64.b64decode(v) for k, v in binary.items()
                    }
        return None

    def _pull_and_start(self, container: JsonDict) -> None:
        name, image = container["name"], container["image"]
        runtime = self.runtime
        pulling = time.monotonic()
        runtime.event(name, "Normal", "Pulling", f'Pulling image "{image}"')
        runtime.sleep(self.options.seconds if self.scenario is Scenario.SLOW_START else 0.05)
        if self.scenario is Scenario.IMAGE_PULL_FAILS:
            self._fail_pulling_forever(name, image)
        took = f"{time.monotonic() - pulling:.9f}s"
        runtime.event(name, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took}')
        engine = self.node.engine_for(runtime.namespace)
        problem = engine.config_error(runtime, container) if engine is not None else None
        if problem is not None:
            self._config_error_forever(name, problem)
        runtime.containers[name].container_id = f"containerd://{secrets.token_hex(32)}"
        runtime.event(name, "Normal", "Created", f"Created container {name}")
        runtime.event(name, "Normal", "Started", f"Started container {name}")
        state = runtime.containers[name]
        state.started_at = _now()
        state.waiting_reason = None

    def _config_error_forever(self, name: str, message: str) -> None:
        """The kubelet's CreateContainerConfigError: the pod stays Pending, the container
        waiting, and each sync retries (and fails) until the pod is deleted."""
        runtime, state = self.runtime, self.runtime.containers[name]
        while True:
            runtime.event(name, "Warning", "Failed", f"Error: {message}")
            state.waiting_reason, state.waiting_message = "CreateContainerConfigError", message
            runtime.publish_status()
            runtime.sleep(self.options.retry_interval)

    def _fail_pulling_forever(self, name: str, image: str) -> None:
        runtime, state = self.runtime, self.runtime.containers[name]
        full = full_image_reference(image)
        host = full.split("/", 1)[0].replace("docker.io", "registry-1.docker.io")
        repo, _, tag = full.split("/", 1)[1].rpartition(":")
        error = (
            f'rpc error: code = Unknown desc = failed to pull and unpack image "{full}": '
            f'failed to resolve reference "{full}": failed to do request: '
            f'Head "https://{host}/v2/{repo}/manifests/{tag}": dial tcp: lookup {host}: no such host'
        )
        while True:
            runtime.event(name, "Warning", "Failed", f'Failed to pull image "{image}": {error}')
            runtime.event(name, "Warning", "Failed", "Error: ErrImagePull")
            state.waiting_reason, state.waiting_message = "ErrImagePull", error
            runtime.publish_status()
            runtime.sleep(self.options.retry_interval)
            backoff = f'Back-off pulling image "{image}"'
            runtime.event(name, "Normal", "BackOff", backoff)
            runtime.event(name, "Warning", "Failed", "Error: ImagePullBackOff")
            state.waiting_reason, state.waiting_message = "ImagePullBackOff", backoff
            runtime.publish_status()
            runtime.sleep(self.options.retry_interval)
            runtime.event(name, "Normal", "Pulling", f'Pulling image "{image}"')

    def _build_guarded(self, container: JsonDict) -> None:
        try:
            self._build(container)
        except (_Interrupted, _PodGone):
            pass
        except Exception:  # reported, not raised: a thread must not die silently
            self.node.report_error(f"build in {self.runtime.namespace}/{self.runtime.name}")

    def _build(self, container: JsonDict) -> None:
        runtime, name = self.runtime, container["name"]
        state = runtime.containers[name]
        args = KanikoArgs.for_container(container)
        engine = self.node.engine_for(runtime.namespace)
        if engine is not None:
            runtime.seen.args[name] = args
            engine.run(runtime, container, state)
            return
        files = self._configmap_files(container)
        context = self._tar_context(name, args, files)
        files.update(context.files)
        dockerfile = None if context.error else _find_dockerfile(files, args)
        run = KanikoRun(
            args,
            dockerfile,
            self.scenario,
            self.options,
            context_error=context.error,
            context_lines=context.lines,
            dockerignore=_dockerignore_path(files, args),
        )
        seen = runtime.seen
        seen.args[name], seen.dockerfiles[name], seen.digests[name] = args, dockerfile, run.digest
        started = time.time()
        for item in run.plan():
            if isinstance(item, Hold):
                self._hold(state.log)
                if self.runtime.eviction is not None:
                    self._evicted(state)
                    return
                continue
            state.log.write(format_kaniko_line(item, args, started, time.time()))
            if not item.undelayed and self.options.line_delay > 0:
                runtime.sleep(self.options.line_delay)
            elif runtime.deletion_requested.is_set() or self.node.stopping:
                raise _Interrupted
        self._terminate(container, state, run)

    def _hold(self, log: ContainerLog) -> None:
        beat = 0
        while not self.runtime.released.is_set() and self.runtime.eviction is None:
            beat += 1
            log.write(f"(still running: held by the simulated node, heartbeat {beat})")
            deadline = time.monotonic() + self.options.heartbeat_interval
            while time.monotonic() < deadline and not self.runtime.released.is_set():
                self.runtime.sleep(min(0.1, self.options.heartbeat_interval))

    def _evicted(self, state: ContainerRuntime) -> None:
        """The eviction manager killed the container (as a 1.20 kubelet reports it: exit 137,
        ``Error``; the pod ``Failed`` with reason ``Evicted`` and the message, and the events)."""
        message = self.runtime.eviction or ""
        self.runtime.event(None, "Warning", "Evicted", message)
        self.runtime.event(state.name, "Normal", "Killing", f"Stopping container {state.name}")
        state.terminated = {
            "exitCode": 137,
            "reason": "Error",
            "startedAt": state.started_at,
            "finishedAt": _now(),
            "containerID": state.container_id,
        }
        self.runtime.seen.exit_codes[state.name] = 137
        state.log.close()

    def _terminate(self, container: JsonDict, state: ContainerRuntime, run: KanikoRun) -> None:
        path = container.get("terminationMessagePath") or DEFAULT_TERMINATION_MESSAGE_PATH
        message = run.termination_file(path)
        if (
            not message
            and run.exit_code != 0
            and container.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            message = "\n".join(state.log.lines()[-80:])[-2048:]
        terminated: JsonDict = {
            "exitCode": run.exit_code,
            "reason": "Completed" if run.exit_code == 0 else "Error",
            "startedAt": state.started_at,
            "finishedAt": _now(),
            "containerID": state.container_id,
        }
        if message:
            terminated["message"] = message
        state.terminated = terminated
        self.runtime.seen.exit_codes[state.name] = run.exit_code
        state.log.close()

    def _tar_context(
        self, container: str, args: KanikoArgs, files: dict[str, str | bytes]
    ) -> _TarContext:
        """Unpack a ``tar://`` context as the executor does (nothing to do for other contexts)."""
        path = args.tar_path()
        if path is None:
            return _TarContext()
        lines = [KanikoLine("DEBU", f"Getting source context from {args.context}")]
        lines = lines if args.debug else []
        content = files.get(path)
        try:
            if content is None:
                raise ValueError(f"open {path}: no such file or directory")
            names, members = read_tar_context(
                content.encode() if isinstance(content, str) else content
            )
        except ValueError as error:
            return _TarContext(lines=lines, error=f"error resolving source context: {error}")
        self.runtime.seen.context_files[container] = names
        context_dir = args.context_dir()
        if args.context_sub_path:
            sub = posixpath.normpath(args.context_sub_path)
            present = (posixpath.normpath(n) for n in names)
            if not any(n == sub or n.startswith(f"{sub}/") for n in present):
                problem = f"stat {posixpath.normpath(context_dir)}: no such file or directory"
                return _TarContext(lines=lines, error=f"error resolving source context: {problem}")
        if args.debug:
            lines.append(KanikoLine("DEBU", f"Build context located at {context_dir}"))
        unpacked = {posixpath.join(KANIKO_BUILD_CONTEXT_DIR, n): c for n, c in members.items()}
        return _TarContext(files=unpacked, lines=lines)

    def _configmap_files(self, container: JsonDict) -> dict[str, str | bytes]:
        """Absolute path → content of every file the container sees from ConfigMap volumes
        (``data`` as text, ``binaryData`` as bytes)."""
        volumes = {
            v["name"]: v["configMap"]
            for v in self.runtime.pod["spec"].get("volumes") or []
            if v.get("configMap")
        }
        files: dict[str, str | bytes] = {}
        for mount in container.get("volumeMounts") or []:
            source = volumes.get(mount["name"])
            if source is None:
                continue
            configmap = source.get("name", "")
            data: dict[str, str | bytes] = {
                **self.runtime.seen.configmaps.get(configmap, {}),
                **self.runtime.seen.binary_configmaps.get(configmap, {}),
            }
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] not in data:
                    continue
                sub_path = mount.get("subPath")
                if sub_path:
                    if sub_path == item["path"]:
                        files[posixpath.normpath(mount["mountPath"])] = data[item["key"]]
                    continue
                files[posixpath.normpath(posixpath.join(mount["mountPath"], item["path"]))] = data[
                    item["key"]
                ]
        return files

    def _finish_deletion_if_requested(self) -> None:
        """On deletion: kill running containers (exit 143), report it, delete the pod with grace 0."""
        runtime = self.runtime
        if not runtime.deletion_requested.is_set() or self.node.stopping:
            return
        for state in runtime.containers.values():
            if state.terminated is None and state.waiting_reason is None:
                state.terminated = {
                    "exitCode": 143,
                    "reason": "Error",
                    "startedAt": state.started_at,
                    "finishedAt": _now(),
                    "containerID": state.container_id,
                }
                runtime.seen.exit_codes[state.name] = 143
            state.log.close()
        if any(s.terminated for s in runtime.containers.values()):
            with contextlib.suppress(KubeApiError, ApiUnavailable, _PodGone):
                runtime.publish_status("Failed")
        self.node.delete_pod_now(runtime.namespace, runtime.name, runtime.uid)


# =========================================================================== the node


class SimulatedNode:
    """A fake kubelet registered as Node ``name`` with the apiserver of ``kubeconfig``.

    ``kubeconfig`` must grant node-like rights (the control plane's admin one does).
    """

    def __init__(
        self,
        kubeconfig: Path,
        name: str = "polymagic-node",
        *,
        heartbeat_period: float = 5.0,
        api_retry_timeout: float = 120.0,
    ) -> None:
        self.name = name
        self.api = KubeHttp(Path(kubeconfig))
        self.events = EventRecorder(self.api, name)
        self.heartbeat_period = heartbeat_period
        self.api_retry_timeout = api_retry_timeout
        self.errors: list[str] = []
        """Tracebacks of unexpected errors in the node's threads (tests may assert it stays empty)."""
        self.http_requests: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._scenarios: dict[str, tuple[Scenario, ScenarioOptions]] = {}
        self._engines: dict[str, ContainerEngine] = {}
        self._by_uid: dict[str, PodRuntime] = {}
        self._by_name: dict[tuple[str, str], PodRuntime] = {}
        self._seen: list[SeenPod] = []
        self._threads: list[threading.Thread] = []
        self._watch_response: urllib3.BaseHTTPResponse | None = None
        self._pod_ips = itertools.count(2)
        self._server: _KubeletServer | None = None
        self._conditions_since = ""
        self.port = 0

    # -- public API

    def start(self) -> SimulatedNode:
        """Serve the kubelet endpoint, register the Node, start heartbeat and pod watch."""
        self._stop.clear()
        try:
            self._start_server()
            self.call(self._register)
            self._wait_schedulable()
            self._spawn("heartbeat", self._heartbeat_loop)
            self._spawn("pod-watch", self._watch_loop)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, delete_node: bool = True) -> None:
        """Stop every thread and the server (pods are left as they are); delete the Node."""
        self._stop.set()
        response = self._watch_response
        if response is not None:
            _shutdown_response(response)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        deadline = time.monotonic() + 10
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0.1))
        if delete_node:
            with contextlib.suppress(KubeApiError, ApiUnavailable):
                self.api.request("DELETE", f"/api/v1/nodes/{_quote(self.name)}", timeout=5)
        self.api.close()

    def __enter__(self) -> SimulatedNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_scenario(
        self, namespace: str, scenario: Scenario = Scenario.SUCCESS, **options: Any
    ) -> None:
        """Choose what pods created from now on in ``namespace`` do (default SUCCESS)."""
        config = _scenario_options(scenario, options)
        with self._lock:
            self._scenarios[namespace] = (scenario, config)

    def run_containers_with(self, namespace: str, engine: ContainerEngine | None) -> None:
        """Run the containers of pods created from now on in ``namespace`` with ``engine``
        (None: simulate them again)."""
        with self._lock:
            if engine is None:
                self._engines.pop(namespace, None)
            else:
                self._engines[namespace] = engine

    def engine_for(self, namespace: str) -> ContainerEngine | None:
        with self._lock:
            return self._engines.get(namespace)

    def evict(self, namespace: str, pod: str, message: str) -> bool:
        """Evict held pod ``namespace/pod`` as the kubelet's eviction manager does when the node
        runs short of a resource (``message`` names it); whether the node holds that pod."""
        with self._lock:
            runtimes = [
                r for r in self._by_uid.values() if (r.namespace, r.name) == (namespace, pod)
            ]
        for runtime in runtimes:
            runtime.eviction = message
        return bool(runtimes)

    def release(self, namespace: str, pod: str | None = None) -> int:
        """Let held pods (``hold_running=True``) of ``namespace`` (or just ``pod``) finish; returns how many."""
        with self._lock:
            runtimes = [
                r
                for r in self._by_uid.values()
                if r.namespace == namespace and (pod is None or r.name == pod)
            ]
        for runtime in runtimes:
            runtime.released.set()
        return len(runtimes)

    @property
    def seen_pods(self) -> list[SeenPod]:
        with self._lock:
            return list(self._seen)

    def seen_pod(self, namespace: str, name: str, timeout: float = 30.0) -> SeenPod:
        """The latest pod ``namespace/name`` the node picked up, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = next(
                    (p for p in reversed(self._seen) if (p.namespace, p.name) == (namespace, name)),
                    None,
                )
            if seen is not None:
                return seen
            if time.monotonic() > deadline:
                raise LookupError(f"the node never saw pod {namespace}/{name}")
            time.sleep(0.05)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- used by drivers and the server

    def container_runtime(
        self, namespace: str, pod: str, container: str
    ) -> ContainerRuntime | None:
        with self._lock:
            runtime = self._by_name.get((namespace, pod))
        return runtime.containers.get(container) if runtime else None

    def next_pod_ip(self) -> str:
        number = next(self._pod_ips)
        return f"10.244.{number // 250}.{number % 250 + 2}"

    def report_error(self, where: str) -> None:
        text = f"{where}: {traceback.format_exc()}"
        self.errors.append(text)
        print(f"[simulated-node] {text}", file=sys.stderr)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` retried with backoff while the apiserver is unreachable or answers 5xx/429."""
        delay, deadline = 0.1, time.monotonic() + self.api_retry_timeout
        while True:
            try:
                return fn()
            except (ApiUnavailable, KubeApiError) as error:
                retriable = isinstance(error, ApiUnavailable) or error.retriable
                if not retriable or self.stopping or time.monotonic() > deadline:
                    raise
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)

    def get_namespaced(self, resource: str, namespace: str, name: str) -> JsonDict | None:
        """GET a namespaced object (None when 404), retried while the apiserver is down."""
        try:
            return self.call(
                lambda: self.api.request(
                    "GET", f"/api/v1/namespaces/{_quote(namespace)}/{resource}/{_quote(name)}"
                )
            )
        except KubeApiError as error:
            if error.status == 404:
                return None
            raise

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> None:
        """Finish a deletion like a kubelet: delete with grace period 0 (UID precondition)."""
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": uid},
        }
        try:
            self.call(
                lambda: self.api.request(
                    "DELETE", f"/api/v1/namespaces/{_quote(namespace)}/pods/{_quote(name)}", body
                )
            )
        except KubeApiError as error:
            if error.status not in (404, 409):
                raise

    # -- HTTPS server

    def _start_server(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="polymagic-sim-node-") as directory:
            cert, key = write_self_signed_cert(Path(directory), "kubelet")
            context.load_cert_chain(cert, key)
        self._server = _KubeletServer(self, context)
        self.port = self._server.server_address[1]
        self._spawn("kubelet-server", self._server.serve_forever)

    # -- Node object

    def _node_status(self) -> JsonDict:
        now = _now()
        since = self._conditions_since or now
        conditions = [
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
        resources = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        return {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": r,
                    "message": m,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": since,
                }
                for t, s, r, m in conditions
            ],
            "addresses": [
                {"type": "InternalIP", "address": LOCALHOST},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "simulated",
                "osImage": "polymagic simulated node",
                "containerRuntimeVersion": "containerd://1.4.13",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    def _register(self) -> None:
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "polymagic.test/simulated": "true",
        }
        try:
            self.api.request(
                "POST",
                "/api/v1/nodes",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": self.name, "labels": labels},
                },
            )
        except KubeApiError as error:
            if error.status != 409:
                raise
        self._conditions_since = _now()
        self._post_node_status()

    def _post_node_status(self) -> None:
        # conditions merge by type; addresses are replaced as a whole by a merge patch
        self.api.request(
            "PATCH",
            f"/api/v1/nodes/{_quote(self.name)}/status",
            {"status": self._node_status()},
            content_type="application/strategic-merge-patch+json",
        )

    def _wait_schedulable(self, timeout: float = 20.0) -> None:
        """Wait for the node lifecycle controller to lift the not-ready taint (else lift it ourselves)."""
        deadline = time.monotonic() + timeout
        path = f"/api/v1/nodes/{_quote(self.name)}"
        while time.monotonic() < deadline:
            taints = (
                self.call(lambda: self.api.request("GET", path)).get("spec", {}).get("taints") or []
            )
            if not any(t.get("key", "").startswith("node.kubernetes.io/not-ready") for t in taints):
                return
            time.sleep(0.2)
        self.api.request(
            "PATCH", path, {"spec": {"taints": None}}, content_type="application/merge-patch+json"
        )

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_period):
            try:
                self._post_node_status()
            except KubeApiError as error:
                if error.status == 404:
                    with contextlib.suppress(KubeApiError, ApiUnavailable, _PodGone):
                        self._register()
            except ApiUnavailable:
                pass  # the apiserver is down; try again at the next beat

    # -- pod watch

    def _watch_loop(self) -> None:
        resource_version: str | None = None
        delay = 0.1
        while not self.stopping:
            try:
                if resource_version is None:
                    resource_version = self._relist()
                resource_version = self._watch_once(resource_version)
                delay = 0.1
            except WatchGone:
                resource_version = None
            except (
                ApiUnavailable,
                KubeApiError,
                urllib3.exceptions.HTTPError,
                OSError,
                ValueError,
            ):
                if self.stopping:
                    return
                self._stop.wait(delay)
                delay = min(delay * 2, 2.0)
            except Exception:  # reported; the watch goes on
                self.report_error("pod watch")
                self._stop.wait(1.0)

    def _pods_path(self) -> str:
        selector = urllib.parse.quote(f"spec.nodeName={self.name}")
        return f"/api/v1/pods?fieldSelector={selector}"

    def _relist(self) -> str:
        listing = self.api.request("GET", self._pods_path())
        present = set()
        for pod in listing.get("items") or []:
            present.add(pod["metadata"]["uid"])
            self._on_pod("ADDED", pod)
        with self._lock:
            vanished = [r for uid, r in self._by_uid.items() if uid not in present]
        for runtime in vanished:
            self._forget(runtime)
        return str(listing["metadata"]["resourceVersion"])

    def _watch_once(self, resource_version: str) -> str:
        path = (
            f"{self._pods_path()}&watch=true&allowWatchBookmarks=true&timeoutSeconds=60"
            f"&resourceVersion={urllib.parse.quote(resource_version)}"
        )
        response = self.api.stream(path, read_timeout=90)
        self._watch_response = response
        if self.stopping:  # stop() may have looked for the response just before it existed
            _shutdown_response(response)
        try:
            for line in _response_lines(response):
                if self.stopping:
                    break
                resource_version = self._on_watch_event(json.loads(line), resource_version)
        finally:
            self._watch_response = None
            response.release_conn()
        return resource_version

    def _on_watch_event(self, event: JsonDict, resource_version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise WatchGone(obj.get("message", ""))
            raise KubeApiError(int(obj.get("code") or 500), json.dumps(obj))
        if kind != "BOOKMARK":
            self._on_pod(str(kind), obj)
        return obj.get("metadata", {}).get("resourceVersion") or resource_version

    def _on_pod(self, kind: str, pod: JsonDict) -> None:
        meta = pod["metadata"]
        with self._lock:
            runtime = self._by_uid.get(meta["uid"])
        if kind == "DELETED":
            if runtime is not None:
                self._forget(runtime)
            return
        if meta.get("deletionTimestamp"):
            if runtime is not None and not runtime.finished.is_set():
                runtime.deletion_requested.set()  # the driver kills the containers, then deletes
            else:
                self._spawn(f"delete-{meta['name']}", lambda: self._delete_guarded(meta))
            return
        if runtime is None and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
            self._adopt(pod)

    def _delete_guarded(self, meta: JsonDict) -> None:
        try:
            self.delete_pod_now(meta["namespace"], meta["name"], meta["uid"])
        except (ApiUnavailable, KubeApiError):
            if not self.stopping:
                self.report_error(f"deleting {meta['namespace']}/{meta['name']}")

    def _adopt(self, pod: JsonDict) -> None:
        meta = pod["metadata"]
        with self._lock:
            scenario, options = self._scenarios.get(
                meta["namespace"], (Scenario.SUCCESS, ScenarioOptions())
            )
            seen = SeenPod(meta["namespace"], meta["name"], meta["uid"], scenario, options, pod)
            runtime = PodRuntime(self, pod, seen)
            self._by_uid[runtime.uid] = runtime
            self._by_name[(runtime.namespace, runtime.name)] = runtime
            self._seen.append(seen)
        self._spawn(f"pod-{meta['name']}", PodDriver(runtime).run)

    def _forget(self, runtime: PodRuntime) -> None:
        runtime.deletion_requested.set()
        with self._lock:
            self._by_uid.pop(runtime.uid, None)
            if self._by_name.get((runtime.namespace, runtime.name)) is runtime:
                del self._by_name[(runtime.namespace, runtime.name)]

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        """Run ``target`` on a daemon thread that :meth:`stop` waits for."""
        thread = threading.Thread(target=target, name=f"sim-node-{name}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()


def _response_lines(response: urllib3.BaseHTTPResponse) -> Iterator[str]:
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            if line.strip():
                yield line.decode()


def _shutdown_response(response: urllib3.BaseHTTPResponse) -> None:
    """Unblock a thread reading ``response`` (urllib3 ≥ 2.3 has ``shutdown``)."""
    shutdown = getattr(response, "shutdown", None)
    try:
        if callable(shutdown):
            shutdown()
        else:
            response.close()
    except Exception:  # best effort while stopping
        pass
