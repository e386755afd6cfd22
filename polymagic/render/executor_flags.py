"""The Kaniko executor's own options that polymagic exposes, declared once: the ``KanikoOptions``
field each sets, the executor flag it becomes, the first executor release that has it (from the
executor's changelog: osscontainertools/kaniko continues GoogleContainerTools' numbering), and
whether it changes what the image contains (then it is part of the spec hash).

The command line's and the magic's options are made from :data:`EXECUTOR_FLAGS`
(``polymagic.app.arguments``); ``executor_args`` turns set fields into arguments;
``check_executor_version`` refuses, before anything is submitted, a flag the chosen executor
image is too old for. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from polymagic.errors import SpecError

__all__ = [
    "EXECUTOR_FLAGS",
    "FLAG_SINCE",
    "MANAGED_FLAGS",
    "ExecutorFlag",
    "FlagKind",
    "check_executor_args",
    "check_executor_version",
    "executor_version",
    "flag_arguments",
]

Version = tuple[int, int, int]


class FlagKind(Enum):
    """How a field's value becomes arguments."""

    SWITCH = "switch"  # True: --flag
    BOOLEAN = "boolean"  # True/False: --flag=true / --flag=false (the executor's default: None)
    NUMBER = "number"  # --flag=N
    TEXT = "text"  # --flag=value
    REPEATED = "repeated"  # --flag=value, once per value
    PAIRS = "pairs"  # --flag=key=value, once per pair


@dataclass(frozen=True)
class ExecutorFlag:
    """One executor option polymagic exposes."""

    field: str
    """The ``KanikoOptions`` field."""
    flag: str
    since: Version
    kind: FlagKind
    help: str
    content: bool = False
    """Changes what the image contains (or how it is stored): part of the spec hash."""
    choices: tuple[str, ...] = ()

    @property
    def option(self) -> str:
        """The command-line option (the executor's flag, but for the repeated ones' names)."""
        return self.flag

    def arguments(self, value: Any) -> list[str]:
        """The executor arguments for ``value`` (none when it is unset)."""
        if value is None or value == () or (value is False and self.kind is FlagKind.SWITCH):
            return []
        if self.kind is FlagKind.SWITCH:
            return [self.flag]
        if self.kind is FlagKind.BOOLEAN:
            return [f"{self.flag}={'true' if value else 'false'}"]
        if self.kind is FlagKind.REPEATED:
            return [f"{self.flag}={item}" for item in value]
        if self.kind is FlagKind.PAIRS:
            return [f"{self.flag}={key}={item}" for key, item in value]
        return [f"{self.flag}={value}"]


EXECUTOR_FLAGS: tuple[ExecutorFlag, ...] = (
    ExecutorFlag(
        "no_push_cache", "--no-push-cache", (1, 23, 1), FlagKind.SWITCH,
        "do not push cached layers to the cache repository",
    ),
    ExecutorFlag(
        "compressed_caching", "--compressed-caching", (1, 7, 0), FlagKind.BOOLEAN,
        "compress cached layers (false uses less memory: try it after an out-of-memory build)",
    ),
    ExecutorFlag(
        "single_snapshot", "--single-snapshot", (0, 2, 0), FlagKind.SWITCH,
        "take one snapshot at the end instead of one per step (faster for many RUN steps)",
        content=True,
    ),
    ExecutorFlag(
        "use_new_run", "--use-new-run", (1, 0, 0), FlagKind.SWITCH,
        "the executor's experimental RUN that detects changes without snapshots",
        content=True,
    ),
    ExecutorFlag(
        "cache_run_layers", "--cache-run-layers", (1, 9, 0), FlagKind.BOOLEAN,
        "cache RUN layers (the executor's default: true)",
    ),
    ExecutorFlag(
        "cache_copy_layers", "--cache-copy-layers", (1, 5, 0), FlagKind.SWITCH,
        "cache COPY layers too",
    ),
    ExecutorFlag(
        "registry_mirrors", "--registry-mirror", (0, 19, 0), FlagKind.REPEATED,
        "pull Docker Hub images through this mirror (repeatable; against Docker Hub's rate limit)",
    ),
    ExecutorFlag(
        "skip_default_registry_fallback", "--skip-default-registry-fallback", (1, 13, 0),
        FlagKind.SWITCH, "fail instead of pulling from Docker Hub when no mirror has the image",
    ),
    ExecutorFlag(
        "push_retry", "--push-retry", (1, 5, 1), FlagKind.NUMBER,
        "retry a failed push this many times",
    ),
    ExecutorFlag(
        "image_download_retry", "--image-download-retry", (1, 19, 0), FlagKind.NUMBER,
        "retry downloading the base image this many times",
    ),
    ExecutorFlag(
        "compression", "--compression", (1, 10, 0), FlagKind.TEXT,
        "layer compression", content=True, choices=("gzip", "zstd"),
    ),
    ExecutorFlag(
        "compression_level", "--compression-level", (1, 10, 0), FlagKind.NUMBER,
        "layer compression level", content=True,
    ),
    ExecutorFlag(
        "image_format", "--image-format", (1, 28, 1), FlagKind.TEXT,
        "the pushed image's media type (default: the base image's)", content=True,
        choices=("docker", "oci"),
    ),
    ExecutorFlag(
        "labels", "--label", (0, 19, 0), FlagKind.PAIRS,
        "a label in the image's config (repeatable)", content=True,
    ),
    ExecutorFlag(
        "annotations", "--annotation", (1, 25, 3), FlagKind.PAIRS,
        "an annotation on the image's manifest (repeatable)", content=True,
    ),
    ExecutorFlag(
        "push_ignore_immutable_tag_errors", "--push-ignore-immutable-tag-errors", (1, 21, 0),
        FlagKind.SWITCH, "treat a registry's immutable-tag refusal as a successful push",
    ),
)  # fmt: skip

FLAG_SINCE: dict[str, Version] = {
    # The executor flags polymagic writes for options it had before, and the component's own.
    "--cache": (0, 4, 0),
    "--cache-ttl": (0, 8, 0),
    "--cache-repo": (0, 4, 0),
    "--reproducible": (0, 2, 0),
    "--snapshot-mode": (0, 24, 0),
    "--label": (0, 19, 0),
    "--secret": (1, 27, 0),
    **{f.flag: f.since for f in EXECUTOR_FLAGS},
}
"""The first executor release that has each flag polymagic may pass."""

MANAGED_FLAGS = (
    "--context",
    "-c",
    "--dockerfile",
    "-f",
    "--destination",
    "-d",
    "--digest-file",
    "--no-push",
    "--tar-path",
)
"""Flags polymagic sets itself (the context, the Dockerfile, where the image goes, where the
digest is read from): ``--executor-arg`` may not set them."""

_VERSION = re.compile(r"^v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:[-+][\w.-]*)?$", re.ASCII)


def executor_version(image: str) -> Version | None:
    """The release an executor image's tag names (``...:v1.23.2-debug`` is 1.23.2); None for a
    digest, ``latest`` or anything else that names no release."""
    name = image.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon <= slash:
        return None
    found = _VERSION.match(name[colon + 1 :])
    if found is None:
        return None
    major, minor, patch = (int(part) for part in found.groups())
    return (major, minor, patch)


def _release(version: Version) -> str:
    return "v" + ".".join(str(part) for part in version)


def check_executor_version(image: str, args: Sequence[str]) -> None:
    """Refuse, before submission, an argument whose flag ``image``'s release does not have."""
    version = executor_version(image)
    if version is None:
        return
    for arg in args:
        flag = arg.split("=", 1)[0]
        since = FLAG_SINCE.get(flag)
        if since is not None and version < since:
            raise SpecError(
                f"{flag} needs executor {_release(since)} or later, but the executor image"
                f" `{image[:200]}` is {_release(version)}: choose a newer executor"
                " (--executor-image) or leave the option out"
            )


def check_executor_args(args: Iterable[str]) -> tuple[str, ...]:
    """``--executor-arg`` values, checked: each a ``--flag`` or ``--flag=value`` on one line,
    and none of the flags polymagic manages."""
    checked = []
    for arg in args:
        shown = arg[:80].encode("unicode_escape").decode("ascii")
        if not arg.startswith("--") or len(arg) > 4096 or not arg.isprintable():
            raise SpecError(
                f"--executor-arg `{shown}`: give one executor flag as --flag or --flag=value"
                " (printable, on one line)"
            )
        flag = arg.split("=", 1)[0]
        if flag in MANAGED_FLAGS:
            raise SpecError(
                f"--executor-arg `{shown}`: polymagic sets {flag} itself; use --tag for more"
                " destinations"
            )
        checked.append(arg)
    return tuple(checked)


def flag_arguments(values: dict[str, Any]) -> list[str]:
    """The arguments for every flag whose field in ``values`` is set, in the table's order."""
    out: list[str] = []
    for item in EXECUTOR_FLAGS:
        out += item.arguments(values.get(item.field))
    return out
