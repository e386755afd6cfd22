"""Which paths of the build context a ``dockerfile`` init takes: its ``copy`` and ``path``
entries as COPY sources (``copy_sources``, used by the packer and by ``lint`` alike), and finding
them under a folder (``find_source``). Pure but for the folder lookup."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polymagic.spec.models import DockerfileInit

if TYPE_CHECKING:
    pass

__all__ = ["GLOB_MAGIC", "CopySource", "context_sources", "copy_arguments", "copy_sources"]


GLOB_MAGIC = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class CopySource:
    """One path a ``COPY`` line of the rendered Dockerfile reads from the context."""

    path: str
    """The source as Docker reads it (a file, a folder or a wildcard)."""
    line: str
    """The whole ``COPY ...`` line it comes from, to find it in the rendered text."""


def copy_arguments(text: str) -> list[str]:
    """The sources of one ``COPY <text>`` line, split as Docker does (shell form)."""
    words = text.split()
    if any(w.startswith("--from") for w in words):
        return []  # copies from another stage or image, not from the context
    words = [w for w in words if not w.startswith("--")]  # --chown, --chmod, --link
    return words[:-1] if len(words) > 1 else words


def copy_sources(spec: DockerfileInit) -> list[CopySource]:
    """Each source of the ``COPY`` lines that ``copy``, ``postRunCopy`` and ``workdirPath``
    render, in order (repeats kept).

    Polyaxon renders ``COPY <src> <dst>`` unquoted, so a source holding spaces is several
    sources to Docker (``copy: ["a.txt b.txt"]`` copies both): they are split the same way.
    """
    texts: list[str] = []
    for entries in (spec.copy_, spec.post_run_copy):
        if not isinstance(entries, list):
            continue  # unset, or a ``{{ ... }}`` reference resolved elsewhere
        for entry in entries:
            if isinstance(entry, str):
                texts.append(f"{entry} {spec.workdir}")
            elif entry:
                texts.append(f"{entry[0]} {entry[1] if len(entry) > 1 else ''}")
    if spec.workdir_path:
        texts.append(f"{spec.workdir_path} {spec.workdir}")
    return [CopySource(path, f"COPY {text}") for text in texts for path in copy_arguments(text)]


def context_sources(spec: DockerfileInit) -> list[str]:
    """The context paths that ``copy``, ``postRunCopy`` and ``workdirPath`` copy, in order,
    each once."""
    return list(dict.fromkeys(source.path for source in copy_sources(spec)))
