"""Packing a local build context into a reproducible ``.tar.gz`` for Kaniko's ``tar://`` context:
``pack_context`` and ``pack_build_context``, and what they give (``PackedContext``, with the
listing of its top-level entries for the views).

The parts live beside it: which paths a ``dockerfile`` init names (``copy_sources``), the bounds
and the files left out by default because they may hold secrets (``context_limits``), the walk
that honours ``.dockerignore`` (``context_walk``) and the archive's entries and tar headers
(``context_archive``). The archive is byte-for-byte reproducible: the same files give the same
bytes whatever their mtimes, owners or the umask. It reads files and writes nothing: no
temporary files, no network, no Kubernetes objects (putting the archive into a ConfigMap belongs
to ``manifests``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymagic.errors import SpecError
from polymagic.render.context_archive import (
    BoundedBuffer,
    Chunked,
    Entry,
    EntryKind,
    TooLarge,
    human_size,
    too_large,
    write_entry,
)
from polymagic.render.context_limits import (
    MAX_DEPTH,
    MAX_ENTRIES,
    SECRET_PATTERNS,
    default_archive_limit,
)
from polymagic.render.context_walk import Packer, find_source, left_out_warnings
from polymagic.render.copy_sources import (
    CopySource,
    context_sources,
    copy_sources,
)
from polymagic.render.dockerignore import (
    DockerIgnore,
    load_dockerignore,
    parse_dockerignore,
)
from polymagic.render.git_context import git_context
from polymagic.spec.models import DockerfileInit

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild

__all__ = [
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "SECRET_PATTERNS",
    "ArchiveEntry",
    "CopySource",
    "DockerIgnore",
    "PackedContext",
    "context_sources",
    "copy_sources",
    "default_archive_limit",
    "find_source",
    "load_dockerignore",
    "pack_build_context",
    "pack_context",
    "parse_dockerignore",
]


# -- the archive ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveEntry:
    """A top-level entry of the archive, as the views list it (never its content)."""

    name: str
    kind: str
    """``file``, ``folder`` or ``link``."""
    size: int = 0
    """Bytes: the file's, or those of the files below a folder."""
    count: int = 0
    """For a folder, how many files, folders and links are below it."""

    def summary(self) -> str:
        """``12 entries, 3.4 KB`` for a folder, ``210 B`` for a file, ``link`` for a link."""
        if self.kind == "folder":
            return f"{self.count} entr{'y' if self.count == 1 else 'ies'}, {human_size(self.size)}"
        return "link" if self.kind == "link" else human_size(self.size)

    def describe(self) -> str:
        """``src/  (12 entries, 3.4 KB)``, ``Dockerfile  (210 B)``."""
        return f"{self.name}{'/' if self.kind == 'folder' else ''}  ({self.summary()})"


@dataclass(frozen=True)
class PackedContext:
    """A packed build context: the ``.tar.gz`` bytes and the names of its members."""

    data: bytes = field(repr=False)
    files: tuple[str, ...]
    """Member names in archive order (sorted; directories included, without a trailing ``/``)."""
    top_level: tuple[ArchiveEntry, ...] = ()
    """The archive's top-level entries, sorted by name."""
    warnings: tuple[str, ...] = ()
    """What the pack left out by default and how to bring it back."""
    left_out: tuple[str, ...] = ()
    """Paths left out because they may hold secrets (a folder stands for what is below it)."""

    @functools.cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of ``data``: equal for equal contexts."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        """The archive's size in bytes."""
        return len(self.data)

    def listing(self) -> list[str]:
        """One line per top-level entry (name, size or count), for text views."""
        return [entry.describe() for entry in self.top_level]

    def __repr__(self) -> str:
        return (
            f"PackedContext(files={len(self.files)}, size={self.size}, sha256={self.sha256[:12]})"
        )


def _top_level(entries: Mapping[str, Entry], sizes: Mapping[str, int]) -> list[ArchiveEntry]:
    tops: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        top, _, below = name.partition("/")
        current = tops.setdefault(top, {"kind": "file", "size": 0, "count": 0})
        if not below:
            kinds = {EntryKind.DIR: "folder", EntryKind.LINK: "link", EntryKind.FILE: "file"}
            current["kind"] = kinds[entry.kind]
            current["size"] += sizes.get(name, 0)
        else:
            current["count"] += 1
            current["size"] += sizes.get(name, 0)
    return [ArchiveEntry(name, **tops[name]) for name in sorted(tops)]


def pack_context(
    base: Path,
    sources: Sequence[str],
    extra_files: Mapping[str, str | bytes],
    *,
    limit: int | None = None,
    dockerignore: DockerIgnore | None = None,
) -> PackedContext:
    """The ``.tar.gz`` of ``sources`` (files, folders or COPY wildcards under ``base``) plus the
    generated ``extra_files``, honouring ``.dockerignore``; reproducible byte for byte.

    ``extra_files`` (e.g. ``{"Dockerfile": text}``) are always included and replace a file of
    the same name. Files that may hold secrets (:data:`SECRET_PATTERNS`) are left out unless a
    ``!`` line of the ``.dockerignore`` brings them back; the result's ``warnings`` name them.
    ``limit`` defaults to what a ConfigMap's ``binaryData`` holds
    (:func:`default_archive_limit`); ``dockerignore`` to :func:`load_dockerignore` of ``base``.
    Raises :class:`SpecError` for a missing, excluded or escaping source, a symbolic link out of
    the context, a file changed while packing, a walk over its bounds, or an archive over the
    limit.
    """
    base = Path(base)
    if not base.is_dir():
        raise SpecError(
            f"the build context folder {base} does not exist: pass an existing folder as"
            " --context DIR"
        )
    ignore = load_dockerignore(base) if dockerignore is None else dockerignore
    limit = default_archive_limit() if limit is None else limit
    packer = Packer(base, ignore, limit)
    for source in sources:
        packer.add_source(source)
    for name, content in extra_files.items():
        packer.add_generated(name, content)
    entries = packer.with_parents()
    packer.left_out.settle(entries)

    sink = BoundedBuffer(limit)
    names = sorted(entries)
    sizes: dict[str, int] = {}
    try:
        # No file name and mtime 0 in the gzip header; PAX is explicit so Python's default
        # cannot change the bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0) as gz:
            chunked = Chunked(gz)
            with tarfile.open(fileobj=chunked, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name in names:
                    sizes[name] = write_entry(tar, name, entries[name], packer.context)
            chunked.close()
    except TooLarge:
        raise too_large(None, limit, entries) from None
    data = sink.getvalue()
    if len(data) > limit:  # pragma: no cover - the sink refuses to grow past the limit
        raise too_large(len(data), limit, entries)
    return PackedContext(
        data=data,
        files=tuple(names),
        top_level=tuple(_top_level(entries, sizes)),
        warnings=tuple(left_out_warnings(packer)),
        left_out=tuple(sorted(packer.left_out.paths + packer.copied_secrets)),
    )


def pack_build_context(build: CompiledBuild, base: Path) -> PackedContext | None:
    """The local files the build's first Dockerfile copies, packed with the Dockerfile itself;
    None when it copies nothing or builds from a git repository."""

    inits = build.run.init if isinstance(build.run.init, list) else []
    if not build.dockerfiles or git_context(build) is not None:
        return None
    rendered = build.dockerfiles[0]
    spec = inits[rendered.init_index].dockerfile
    if not isinstance(spec, DockerfileInit):
        return None
    sources = context_sources(spec)
    if not sources:
        return None
    return pack_context(base, sources, {rendered.filename: rendered.text})
