"""``RUN --mount`` in the Dockerfile: build secrets and cache mounts, wired to the executor.

- ``--mount=type=secret,id=NAME[,target=…|,env=…]``: the value comes from a Kubernetes Secret
  that a connection named ``NAME`` mounts into the executor's container (the connection is in
  the catalog with ``secret: {name, mountPath, items: [KEY]}``, and listed in the run's
  connections, e.g. ``runPatch: {connections: [NAME]}``). The executor gets
  ``--secret=id=NAME,src=<mountPath>/<KEY>`` for exactly the ids the Dockerfile uses; a secret's
  value never appears in the ConfigMap, the pod's arguments or environment, or any view. An id
  with no such connection is an error before anything is submitted.
- ``--mount=type=cache,target=…``: works as written; the cache survives between builds only
  when a ``volume_claim`` or ``host_path`` connection of the run is mounted at the executor's
  cache folder (:data:`EXECUTOR_CACHE_DIR`), else a note says the cache is not kept.

Pure: reads the rendered Dockerfiles and the compiled build's connections.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polymagic.errors import SpecError

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild
    from polymagic.spec.connections import Connection

__all__ = [
    "CACHE_VOLUME_KINDS",
    "EXECUTOR_CACHE_DIR",
    "EXECUTOR_SECRETS_DIR",
    "RunMount",
    "RunMounts",
    "cache_note",
    "run_mounts",
    "secret_arguments",
]

EXECUTOR_SECRETS_DIR = "/kaniko/secrets"
"""Where the executor copies each build secret (its ``KanikoSecretsDir``): a Secret mounted
inside it collides with the copy (the executor fails with ``is a directory``)."""
EXECUTOR_CACHE_DIR = "/kaniko/caches"
"""Where the executor keeps ``RUN --mount=type=cache`` folders (its ``KanikoCacheDir``)."""
CACHE_VOLUME_KINDS = ("volume_claim", "host_path")
_MOUNT_OPTIONS_MAX = 64


@dataclass(frozen=True)
class RunMount:
    """One ``--mount`` of a RUN instruction."""

    kind: str
    """``secret``, ``cache``, ``bind``, ``tmpfs``, ``ssh``."""
    options: tuple[tuple[str, str], ...]
    instruction: str
    """The RUN instruction, for messages."""

    def get(self, key: str) -> str | None:
        return next((value for name, value in self.options if name == key), None)

    @property
    def secret_id(self) -> str:
        """BuildKit's rule: ``id``, else the target's last path element."""
        target = self.get("target") or self.get("dst") or self.get("destination") or ""
        return self.get("id") or target.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RunMounts:
    """What the Dockerfiles' RUN instructions mount."""

    secrets: tuple[RunMount, ...] = ()
    caches: tuple[RunMount, ...] = ()


def _mounts_of(instruction: str) -> list[RunMount]:
    """The ``--mount=...`` options at the start of a RUN instruction (before the command)."""
    try:
        words = shlex.split(instruction[3:], posix=True)
    except ValueError:
        words = instruction[3:].split()
    mounts = []
    for word in words[:_MOUNT_OPTIONS_MAX]:
        if not word.startswith("--"):
            break
        if not word.startswith("--mount="):
            continue
        pairs = []
        for part in word[len("--mount=") :].split(","):
            key, _, value = part.partition("=")
            pairs.append((key.strip(), value.strip()))
        kind = next((v for k, v in pairs if k == "type"), "bind")
        mounts.append(RunMount(kind, tuple(pairs), instruction))
    return mounts


def run_mounts(build: CompiledBuild) -> RunMounts:
    """The secret and cache mounts of every Dockerfile of ``build``."""
    from polymagic.render.dockerfile import dockerfile_instructions

    secrets: list[RunMount] = []
    caches: list[RunMount] = []
    for dockerfile in build.dockerfiles:
        for instruction in dockerfile_instructions(dockerfile.text):
            if instruction[:3].upper() != "RUN" or "--mount=" not in instruction:
                continue
            for mount in _mounts_of(instruction):
                if mount.kind == "secret":
                    secrets.append(mount)
                elif mount.kind == "cache":
                    caches.append(mount)
    return RunMounts(tuple(secrets), tuple(caches))


def _run_connections(build: CompiledBuild) -> list[Connection]:
    names = build.run.connections if isinstance(build.run.connections, list) else []
    found = (build.connections.get(n) for n in names)
    return [c for c in found if c is not None]


def _source_of(mount: RunMount, connection: Connection | None, names: Sequence[str]) -> str:
    """The file in the executor's container that holds the secret ``mount`` names."""
    ref = connection.secret if connection is not None else None
    if connection is None or ref is None or not ref.mount_path:
        have = ", ".join(f"`{n}`" for n in names) or "none"
        raise SpecError(
            f"RUN --mount=type=secret,id={mount.secret_id}: no connection"
            f" `{mount.secret_id}` with a mounted secret among the run's connections ({have}):"
            " add one to the catalog (`secret: {name: SECRET, mountPath:"
            " /secrets/NAME, items: [KEY]}`) and list it in `runPatch.connections`",
            path="runPatch.connections",
        )
    mount_path = ref.mount_path.rstrip("/")
    if mount_path == EXECUTOR_SECRETS_DIR or mount_path.startswith(EXECUTOR_SECRETS_DIR + "/"):
        raise SpecError(
            f"connection `{connection.name}`: its secret is mounted at {ref.mount_path}, inside"
            f" {EXECUTOR_SECRETS_DIR}, where the executor copies build secrets itself; mount it"
            f" elsewhere, e.g. /secrets/{connection.name}",
            path=f"connections.{connection.name}.secret.mountPath",
        )
    if not ref.items or len(ref.items) != 1:
        raise SpecError(
            f"connection `{connection.name}`: its secret must name the one key that holds the"
            " build secret (`items: [KEY]`)",
            path=f"connections.{connection.name}.secret.items",
        )
    return f"{ref.mount_path.rstrip('/')}/{ref.items[0]}"


def secret_arguments(build: CompiledBuild, mounts: RunMounts) -> list[str]:
    """``--secret=id=NAME,src=PATH`` for each secret id the Dockerfiles use, once each."""
    by_name = {c.name: c for c in _run_connections(build)}
    arguments: dict[str, str] = {}
    for mount in mounts.secrets:
        name = mount.secret_id
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise SpecError(
                f"`{mount.instruction[:120]}`: a secret mount needs an id of letters, digits,"
                " `-`, `_` or `.` (`--mount=type=secret,id=NAME`)"
            )
        if name not in arguments:
            source = _source_of(mount, by_name.get(name), list(by_name))
            arguments[name] = f"--secret=id={name},src={source}"
    return list(arguments.values())


def cache_note(build: CompiledBuild, mounts: RunMounts) -> str | None:
    """A note when the Dockerfiles use cache mounts that no volume keeps between builds."""
    if not mounts.caches:
        return None
    for connection in _run_connections(build):
        schema = connection.schema_ or {}
        if (
            connection.kind in CACHE_VOLUME_KINDS
            and str(schema.get("mountPath", "")).rstrip("/") == EXECUTOR_CACHE_DIR
        ):
            return None
    return (
        f"{len(mounts.caches)} RUN --mount=type=cache folder(s) work during this build but are"
        " not kept for the next one: add a volume_claim or host_path connection mounted at"
        f" {EXECUTOR_CACHE_DIR} to the run's connections to keep them"
    )
