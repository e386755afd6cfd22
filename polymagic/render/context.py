"""Packing a local build context into a reproducible ``.tar.gz`` for Kaniko's ``tar://`` context.

This module owns which context paths a ``dockerfile`` init names (``copy_sources``, used by the
packer and by ``lint`` alike), the files left out by default because they may hold secrets
(``SECRET_PATTERNS``), and the archive itself (``pack_context``): the files under those
sources, honouring ``.dockerignore`` (``polymagic.render.dockerignore``), plus generated files such
as the rendered Dockerfile, with a listing of its top-level entries for the views.

The archive is byte-for-byte reproducible: the same files give the same bytes whatever their
mtimes, owners or the umask. The walk is bounded (``MAX_ENTRIES`` names looked at,
``MAX_DEPTH`` folders deep) and stops as soon as the archive cannot fit its limit; a file is
read only if it is shipped, opened without following links or blocking, and only when it is
still the regular file the walk saw. Symbolic links are archived as links, never followed out
of the context. It reads files and writes nothing: no temporary files, no network, no
Kubernetes objects (putting the archive into a ConfigMap belongs to ``manifests``).
"""

from __future__ import annotations

import enum
import errno
import functools
import gzip
import hashlib
import io
import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymagic.errors import SpecError, one_line
from polymagic.render.dockerignore import (
    DOCKERIGNORE,
    DockerIgnore,
    MatcherState,
    PathMatcher,
    compile_rule,
    glob_segment,
    load_dockerignore,
    parse_dockerignore,
)
from polymagic.render.git_context import git_context
from polymagic.render.kube_names import CONFIGMAP_LIMIT
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

_GLOB_MAGIC = re.compile(r"[*?\[]")

MAX_ENTRIES = 100_000
"""The most files and folders a pack looks at (excluded ones included) before it stops."""
MAX_DEPTH = 100
"""The deepest path a pack follows, in folders."""
_DEFLATE_RATIO = 1032
"""Deflate's largest compression ratio: an archive of N bytes never compresses below N/1032."""
_SHOWN = 10
"""How many left-out files a warning names before "and K more"."""


# -- which paths a dockerfile init takes from the context ----------------------------------


@dataclass(frozen=True)
class CopySource:
    """One path a ``COPY`` line of the rendered Dockerfile reads from the context."""

    path: str
    """The source as Docker reads it (a file, a folder or a wildcard)."""
    line: str
    """The whole ``COPY ...`` line it comes from, to find it in the rendered text."""


def _copy_arguments(text: str) -> list[str]:
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
    return [CopySource(path, f"COPY {text}") for text in texts for path in _copy_arguments(text)]


def context_sources(spec: DockerfileInit) -> list[str]:
    """The context paths that ``copy``, ``postRunCopy`` and ``workdirPath`` copy, in order,
    each once."""
    return list(dict.fromkeys(source.path for source in copy_sources(spec)))


# -- files left out by default -------------------------------------------------------------

SECRET_PATTERNS: tuple[str, ...] = (
    "**/.git",
    "**/.env*",
    "**/.ssh",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/id_rsa*",
    "**/id_ed25519*",
    "**/id_ecdsa*",
    "**/id_dsa*",
    "**/.docker/config.json",
    "**/.kube",
    "**/.aws",
    "**/.config/gcloud",
    "**/credentials.db",
    "**/credentials.json",
    "**/service-account.json",
    "**/.git-credentials",
    "**/.vault-token",
    "**/*.tfstate",
    "**/*.tfstate.backup",
    "**/.*_history",
    "**/.netrc",
    "**/.npmrc",
    "**/.pypirc",
)
"""Left out of every archive, as if they opened the ``.dockerignore``: a ``!`` line there
brings one back. A ConfigMap is readable by far more people than a Secret."""

_SECRET_RULES = tuple(compile_rule(p, source="polymagic's defaults") for p in SECRET_PATTERNS)


# -- the archive ---------------------------------------------------------------------------


def default_archive_limit() -> int:
    """The largest archive a ConfigMap's ``binaryData`` holds: base64 makes 3 bytes into 4."""

    return CONFIGMAP_LIMIT // 4 * 3


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
            return f"{self.count} entr{'y' if self.count == 1 else 'ies'}, {_human(self.size)}"
        return "link" if self.kind == "link" else _human(self.size)

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


class _Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    LINK = "link"


@dataclass(frozen=True)
class _Entry:
    kind: _Kind
    size: int = 0
    executable: bool = False
    path: str | None = None
    """Absolute path to read a FILE from; None for generated content."""
    content: bytes | None = None
    link: str = ""
    identity: tuple[int, int] = (0, 0)
    """Device and inode the walk saw, checked again when the file is opened."""


@dataclass(frozen=True)
class _Folder:
    """A folder the walk will list: what it saw of it, and the matcher's state after it."""

    rel: str
    info: os.stat_result
    state: MatcherState
    mask: int


class _TooLarge(Exception):
    """The compressed output passed the limit while packing."""


class _BoundedBuffer:
    """An in-memory sink that refuses to grow past ``limit`` bytes, so a huge folder cannot
    exhaust memory before the size check."""

    def __init__(self, limit: int) -> None:
        self._buffer = io.BytesIO()
        self._limit = limit

    def write(self, data: bytes) -> int:
        if self._buffer.tell() + len(data) > self._limit:
            raise _TooLarge
        return self._buffer.write(data)

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return self._buffer.getvalue()


class _Chunked:
    """Hands the compressor large pieces instead of tarfile's 512-byte writes (zlib's output
    does not depend on how its input is split, so the bytes stay the same)."""

    def __init__(self, sink: gzip.GzipFile, size: int = 1 << 18) -> None:
        self._sink = sink
        self._size = size
        self._buffer = bytearray()
        self._written = 0

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._written += len(data)
        if len(self._buffer) >= self._size:
            self.flush()
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        self._sink.write(bytes(self._buffer))
        self._buffer.clear()

    def close(self) -> None:
        self.flush()

    def read(self, size: int, /) -> bytes:
        raise io.UnsupportedOperation("write only")

    def seek(self, pos: int, /) -> int:
        raise io.UnsupportedOperation("write only")


def _human(size: int) -> str:
    """``1234567`` → ``1.2 MB``."""
    amount, unit = float(size), 0
    while amount >= 1000 and unit < 3:
        amount, unit = amount / 1000, unit + 1
    return f"{size} B" if unit == 0 else f"{amount:.1f} {('KB', 'MB', 'GB')[unit - 1]}"


def _tar_blocks(size: int) -> int:
    """Bytes an entry takes in the uncompressed tar: a header and its data in 512-byte blocks."""
    return 512 + -(-size // 512) * 512


_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class _ContextRoot:
    """The context folder of one pack: its paths, reached without following links, and the
    errors that name a path in it."""

    def __init__(self, base: Path) -> None:
        self.shown = str(base)
        self.root = os.path.realpath(base)

    def full(self, rel: str) -> str:
        return self.root if rel == "." else os.path.join(self.root, rel)

    def inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root.rstrip("/") + "/")

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def stat_source(self, rel: str) -> os.stat_result:
        """``lstat`` of ``rel``, reached from the root without following any link on the way."""
        if rel == ".":
            return os.stat(self.root)
        *parents, last = rel.split("/")
        fd = os.open(self.root, _OPEN_DIR)
        try:
            for part in parents:
                inner = os.open(part, _OPEN_DIR, dir_fd=fd)
                os.close(fd)
                fd = inner
            return os.stat(last, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)

    def not_found(self, source: str) -> SpecError:
        return SpecError(
            f"COPY source `{source}` not found in {self.shown}: it must be inside the build"
            " context folder (the notebook's folder, or --context DIR)"
        )

    def outside(self, source: str) -> SpecError:
        return SpecError(
            f"COPY source `{source}` is outside the build context {self.shown}: Docker and Kaniko"
            " only see files inside it; move it into the folder, or choose a wider --context DIR"
        )

    def changed(self, rel: str) -> SpecError:
        return SpecError(
            f"`{rel}` in {self.shown} changed while the build context was being packed (it is"
            " no longer the file or folder seen a moment before): pack again once it is stable"
        )

    def too_deep(self, rel: str) -> SpecError:
        shown = "/".join(rel.split("/")[:3])
        return SpecError(
            f"`{shown}/...` in {self.shown} is more than {MAX_DEPTH} folders deep: leave it out"
            " with .dockerignore or copy only what the image needs"
        )


class _Rules:
    """Which paths the ``.dockerignore`` (after :data:`SECRET_PATTERNS`) leaves out, path by
    path as the walk meets them, remembering each folder's state for its children."""

    def __init__(self, ignore: DockerIgnore) -> None:
        self.matcher = PathMatcher((*_SECRET_RULES, *ignore.rules), source=ignore.source)
        self.defaults_mask = (1 << len(_SECRET_RULES)) - 1
        # Per folder: the matcher's state after "folder/", and the rules matching it or a parent.
        self.folders: dict[str, tuple[MatcherState, int]] = {".": (self.matcher.start, 0)}

    def verdict(self, rel: str) -> tuple[MatcherState, int]:
        """The matcher's state after ``rel`` and the rules matching it or a parent folder."""
        parent, _, name = rel.rpartition("/")
        state, mask = self.folder(parent or ".")
        after = self.matcher.step(state, name)
        return after, mask | after.accepts

    def folder(self, rel: str) -> tuple[MatcherState, int]:
        found = self.folders.get(rel)
        if found is None:
            state, mask = self.verdict(rel)
            found = self.folders[rel] = (self.matcher.step(state, "/"), mask)
        return found

    def by_default(self, mask: int) -> bool:
        """Left out only by :data:`SECRET_PATTERNS` (no rule of the user's matched)."""
        return mask != 0 and mask & ~self.defaults_mask == 0


class _Members:
    """The archive's members so far, and a running bound on its size: an archive whose tar
    would exceed what the limit can hold at deflate's best ratio is refused at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: dict[str, _Entry] = {}
        self.tar_bytes = 1024  # the two zero blocks that end a tar

    def add(self, rel: str, entry: _Entry) -> None:
        replaced = self.entries.get(rel)
        if replaced is not None:
            self.tar_bytes -= _tar_blocks(replaced.size)
        self.entries[rel] = entry
        self.tar_bytes += _tar_blocks(entry.size)
        if self.tar_bytes > self.limit * _DEFLATE_RATIO:
            raise _too_large(None, self.limit, self.entries)

    def with_parents(self, shown: str) -> dict[str, _Entry]:
        """The members with every parent folder of each (a generated ``a/b`` needs ``a``)."""
        entries = dict(self.entries)
        for name in self.entries:
            parent = posixpath.dirname(name)
            while parent:
                existing = entries.setdefault(parent, _Entry(_Kind.DIR))
                if existing.kind is not _Kind.DIR:
                    raise SpecError(
                        f"`{parent}` in {shown} is not a directory, so `{name}` cannot be"
                        " put below it in the build context"
                    )
                parent = posixpath.dirname(parent)
        return entries


class _LeftOut:
    """What :data:`SECRET_PATTERNS` alone leave out of one archive, for the warning and the
    summary (a folder stands for what is below it)."""

    def __init__(self, rules: _Rules) -> None:
        self.rules = rules
        self.paths: list[str] = []
        # Folders left out by default that the walk still opens: a `!` rule may bring back
        # something below them, so what stays out inside is noted too (see settle).
        self.opened: set[str] = set()

    def note(self, rel: str, mask: int) -> None:
        """Remember ``rel`` when only the defaults leave it out and its folder is in the
        archive, or is one of those opened."""
        if self.rules.by_default(mask):
            parent = rel.rpartition("/")[0] or "."
            if parent in self.opened or not self.rules.matcher.excluded(
                self.rules.folder(parent)[1]
            ):
                self.paths.append(rel)

    def open(self, rel: str, mask: int) -> None:
        """The walk goes into ``rel``, a folder it leaves out, looking for `!` exceptions."""
        if self.rules.by_default(mask):
            self.opened.add(rel)

    def settle(self, members: Iterable[str]) -> None:
        """Once the walk is done: a folder left out by default of which a `!` rule brought
        something back is not named as a whole; what stays out inside it is. A folder of which
        nothing came back is named alone."""
        # ``members`` holds the parents of every member: a folder has something below it
        # exactly when it is some member's parent.
        parents = {m.rpartition("/")[0] for m in members}
        brought_back = self.opened & parents
        kept = []
        for rel in self.paths:
            if rel in brought_back:
                continue
            outer = rel.rpartition("/")[0]
            while outer and outer not in self.opened:
                outer = outer.rpartition("/")[0]
            if outer and outer not in brought_back:
                continue  # named by a folder of which nothing came back
            kept.append(rel)
        self.paths = sorted(kept)


class _Packer:
    """Collects the entries of one archive (one call of :func:`pack_context`): walks each COPY
    source under the context folder, bounded, deciding path by path what goes in."""

    def __init__(self, base: Path, ignore: DockerIgnore, limit: int) -> None:
        self.context = _ContextRoot(base)
        self.shown = self.context.shown
        self.ignore = ignore
        self.rules = _Rules(ignore)
        self.matcher = self.rules.matcher
        self.members = _Members(limit)
        self.entries = self.members.entries
        self.visited: set[str] = set()
        self.looked_at = 0
        self.left_out = _LeftOut(self.rules)
        self.copied_secrets: list[str] = []

    # -- sources

    def add_source(self, source: str) -> None:
        cleaned = posixpath.normpath(source.strip().lstrip("/") or ".")
        if cleaned == ".." or cleaned.startswith("../"):
            raise self.context.outside(source)
        if cleaned.count("/") >= MAX_DEPTH:
            raise self.context.too_deep(cleaned)
        matches = self.expand(source, cleaned)
        if not matches:
            raise self.context.not_found(source)
        before = len(self.entries)
        for rel in matches:
            self._walk(rel)
        if cleaned == "." or len(self.entries) > before:
            return
        masks = [self.rules.verdict(rel)[1] for rel in matches if rel != "."]
        if not all(map(self.matcher.excluded, masks)):
            return
        if all(map(self.rules.by_default, masks)):
            for rel in matches:
                if rel in self.left_out.paths:
                    self.left_out.paths.remove(rel)
                self.copied_secrets.append(rel)
            return
        raise SpecError(
            f"COPY source `{source}` is excluded by {self.ignore.source}: Docker would not"
            " find it either; remove the pattern or add a `!` exception"
        )

    def expand(self, source: str, cleaned: str) -> list[str]:
        """The existing paths a source names (a wildcard may name several), canonical."""
        if cleaned == ".":
            return ["."]
        candidates = [""]
        for segment in cleaned.split("/"):
            if not _GLOB_MAGIC.search(segment):
                candidates = [posixpath.join(c, segment) for c in candidates]
                continue
            try:
                matcher = glob_segment(segment)
            except ValueError as error:
                raise SpecError(f"COPY source `{source}`: bad wildcard: {error}") from None
            found = []
            for prefix in candidates:
                directory = self.context.full(prefix or ".")
                if not os.path.isdir(directory):
                    continue
                names = []
                with os.scandir(directory) as listing:
                    for item in listing:
                        self._count(posixpath.join(prefix, item.name))
                        if matcher.step(matcher.start, item.name).accepts:
                            names.append(item.name)
                found += [posixpath.join(prefix, name) for name in sorted(names)]
            candidates = found
        return [self._canonical(c) for c in candidates if os.path.lexists(self.context.full(c))]

    def _canonical(self, rel: str) -> str:
        """``rel`` with the links among its parent directories resolved; the links themselves
        are archived, so the path still works through them once unpacked."""
        *parents, last = rel.split("/")
        canonical = ""
        for part in parents:
            candidate = posixpath.join(canonical, part)
            if os.path.islink(self.context.full(candidate)):
                self._add_link(candidate)  # refuses a link out of the context
                canonical = self.context.rel(os.path.realpath(self.context.full(candidate)))
                canonical = "" if canonical == "." else canonical
            else:
                canonical = candidate
        return posixpath.join(canonical, last)

    # -- the walk

    def _count(self, rel: str) -> None:
        self.looked_at += 1
        if self.looked_at > MAX_ENTRIES:
            raise SpecError(
                f"the build context {self.shown} has more than {MAX_ENTRIES:,} files and folders"
                f" under the COPY sources (stopped at `{rel}`): leave big folders out with"
                " .dockerignore (e.g. `node_modules`, `.cache`, `data`), copy only what the"
                " image needs, or choose a smaller --context DIR"
            )
        if rel.count("/") >= MAX_DEPTH:
            raise self.context.too_deep(rel)

    def _walk(self, top: str) -> None:
        pending: list[str | _Folder] = [top]
        while pending:
            item = pending.pop()
            if not isinstance(item, str):
                pending += self._list(item)
                continue
            if item in self.visited:
                continue
            self.visited.add(item)
            if item != ".":
                self._count(item)
            try:
                info = self.context.stat_source(item)
            except OSError as error:
                raise SpecError(f"cannot read `{item}` in {self.shown}: {error.strerror}") from None
            state, mask = (self.matcher.start, 0) if item == "." else self.rules.verdict(item)
            pending += self._visit(item, info, state, mask)

    def _visit(
        self, rel: str, info: os.stat_result, state: MatcherState, mask: int
    ) -> list[str | _Folder]:
        """Record one path the walk met; return link targets and folders to visit next."""
        excluded = self.matcher.excluded(mask)
        if excluded:
            self.left_out.note(rel, mask)
        if stat.S_ISLNK(info.st_mode):
            return [] if excluded else list(self._add_link(rel, follow=True))
        if stat.S_ISDIR(info.st_mode):
            if rel != ".":
                state = self.matcher.step(state, "/")
                self.rules.folders[rel] = (state, mask)
                if not excluded:
                    self.members.add(rel, _Entry(_Kind.DIR))
            # Below an excluded folder only a `!` rule can bring something back.
            if not excluded or self.matcher.exceptions_possible(state):
                if excluded:
                    self.left_out.open(rel, mask)
                return [_Folder(rel, info, state, mask)]
        elif stat.S_ISREG(info.st_mode) and not excluded:
            executable = bool(info.st_mode & 0o111)
            identity = (info.st_dev, info.st_ino)
            full = self.context.full(rel)
            entry = _Entry(_Kind.FILE, info.st_size, executable, full, identity=identity)
            self.members.add(rel, entry)
        # sockets, FIFOs and devices are left out, as Docker does
        return []

    def _list(self, folder: _Folder) -> list[str | _Folder]:
        """Visit the entries of a folder, opened without following links and only if it is
        still the folder the walk saw."""
        rel = folder.rel
        try:
            fd = os.open(self.context.full(rel), _OPEN_DIR)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self.context.changed(rel) from None
            raise SpecError(f"cannot list `{rel}` in {self.shown}: {error.strerror}") from None
        pending: list[str | _Folder] = []
        try:
            seen = os.fstat(fd)
            if (seen.st_dev, seen.st_ino) != (folder.info.st_dev, folder.info.st_ino):
                raise self.context.changed(rel)
            with os.scandir(fd) as listing:
                for item in listing:
                    child = item.name if rel == "." else f"{rel}/{item.name}"
                    if child in self.visited:
                        continue
                    self.visited.add(child)
                    self._count(child)
                    state = self.matcher.step(folder.state, item.name)
                    mask = folder.mask | state.accepts
                    if self.matcher.excluded(mask) and not item.is_dir(follow_symlinks=False):
                        self.left_out.note(child, mask)  # no need to look further
                        continue
                    # Stat here, while the folder is open: the entry is the one listed.
                    pending += self._visit(child, item.stat(follow_symlinks=False), state, mask)
        except OSError as error:
            raise SpecError(f"cannot list `{rel}` in {self.shown}: {error.strerror}") from None
        finally:
            os.close(fd)
        return pending

    def _add_link(self, rel: str, *, follow: bool = False) -> list[str]:
        """Archive the link at ``rel``; return its target to pack too (when ``follow``)."""
        full = self.context.full(rel)
        try:
            target = os.readlink(full)
        except OSError:
            raise self.context.changed(rel) from None
        lexical = os.path.normpath(os.path.join(os.path.dirname(full), target))
        if not (self.context.inside(lexical) and self.context.inside(os.path.realpath(full))):
            raise SpecError(
                f"`{rel}` in {self.shown} is a symbolic link to `{target}`, outside the build"
                " context: copy the file into the folder instead, or leave the link out with"
                " .dockerignore"
            )
        if os.path.isabs(target):  # keep it working once unpacked somewhere else
            target = os.path.relpath(lexical, os.path.dirname(full)).replace(os.sep, "/")
        if rel not in self.entries:
            self.members.add(rel, _Entry(_Kind.LINK, link=target))
        if not follow or not os.path.lexists(lexical) or lexical == self.context.root:
            return []
        return [self._canonical(self.context.rel(lexical))]

    # -- generated files

    def add_generated(self, name: str, content: str | bytes) -> None:
        cleaned = posixpath.normpath(name)
        if name != cleaned or cleaned in (".", "..") or cleaned.startswith(("/", "../")):
            raise SpecError(
                f"generated file `{name}` must be a plain relative path inside the build context"
            )
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        if self.entries.get(cleaned, _Entry(_Kind.FILE)).kind is not _Kind.FILE:
            raise SpecError(
                f"`{cleaned}` in {self.shown} is a directory or link, so the generated file of"
                " that name cannot be added: rename one of them"
            )
        self.members.add(cleaned, _Entry(_Kind.FILE, len(data), content=data))

    def with_parents(self) -> dict[str, _Entry]:
        """Every member to archive, parent folders included (the walk is over)."""
        return self.members.with_parents(self.shown)


def _left_out_warnings(packer: _Packer) -> list[str]:
    """What the pack left out by default, and the ``!`` line that would bring it back."""

    def reinclude_hint(rel: str) -> str:
        where = (
            packer.ignore.source
            if packer.ignore.source != DOCKERIGNORE
            else f"a {DOCKERIGNORE} file in {packer.shown}"
        )
        return f"add the line `!{one_line(rel)}` to {where}"

    out = []
    for rel in packer.copied_secrets:
        out.append(
            f"COPY source `{one_line(rel)}` is left out of the build context because it may hold"
            f" secrets (a ConfigMap is readable by many), so the build cannot copy it: to"
            f" send it on purpose, {reinclude_hint(rel)}"
        )
    left_out = packer.left_out.paths
    if left_out:
        names = ", ".join(f"`{one_line(rel)}`" for rel in left_out[:_SHOWN])
        more = len(left_out) - _SHOWN
        if more > 0:
            names += f" and {more} more"
        out.append(
            f"left out of the build context because they may hold secrets (a ConfigMap is"
            f" readable by many): {names}; to send one on purpose,"
            f" {reinclude_hint(left_out[0])}"
        )
    return out


def _tarinfo(name: str, entry: _Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if entry.kind is _Kind.DIR:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif entry.kind is _Kind.LINK:
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.link
    else:
        info.type, info.size = tarfile.REGTYPE, entry.size
        info.mode = 0o755 if entry.executable else 0o644
    return info


def _write(tar: tarfile.TarFile, name: str, entry: _Entry, context: _ContextRoot) -> int:
    """Add one entry; returns the size written for a file."""
    if entry.kind is not _Kind.FILE:
        tar.addfile(_tarinfo(name, entry))
        return 0
    if entry.path is None:
        tar.addfile(_tarinfo(name, entry), io.BytesIO(entry.content or b""))
        return entry.size
    # Not following a link, not blocking on a FIFO, and only the regular file the walk saw:
    # anything swapped in since then would be archived from outside the context, or hang.
    try:
        fd = os.open(entry.path, _OPEN_FILE)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOENT):
            raise context.changed(name) from None
        raise SpecError(f"cannot read `{name}` in {context.shown}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        seen = os.fstat(fd)
        if not stat.S_ISREG(seen.st_mode) or (seen.st_dev, seen.st_ino) != entry.identity:
            raise context.changed(name)
        info = _tarinfo(name, _Entry(_Kind.FILE, seen.st_size, entry.executable))
        try:
            tar.addfile(info, handle)
        except OSError as error:  # shrank while being read, or an I/O error
            raise SpecError(f"cannot read `{name}` in {context.shown}: {error}") from None
        return seen.st_size


def _too_large(size: int | None, limit: int, entries: Mapping[str, _Entry]) -> SpecError:
    largest = sorted(
        ((e.size, n) for n, e in entries.items() if e.kind is _Kind.FILE), reverse=True
    )[:3]
    listed = ", ".join(f"{n} ({_human(s)})" for s, n in largest)
    amount = f"is {size} bytes" if size is not None else "is larger than that"
    return SpecError(
        f"the packed build context {amount} compressed, more than fits in a ConfigMap"
        f" ({limit} bytes once base64-encoded into ~1 MiB): leave large files out with"
        " .dockerignore, or build from a git context (a `git` init with a connection) or an"
        f" object-store context (s3://, gs://); largest files: {listed or 'none'}"
    )


def _top_level(entries: Mapping[str, _Entry], sizes: Mapping[str, int]) -> list[ArchiveEntry]:
    tops: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        top, _, below = name.partition("/")
        current = tops.setdefault(top, {"kind": "file", "size": 0, "count": 0})
        if not below:
            kinds = {_Kind.DIR: "folder", _Kind.LINK: "link", _Kind.FILE: "file"}
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
    packer = _Packer(base, ignore, limit)
    for source in sources:
        packer.add_source(source)
    for name, content in extra_files.items():
        packer.add_generated(name, content)
    entries = packer.with_parents()
    packer.left_out.settle(entries)

    sink = _BoundedBuffer(limit)
    names = sorted(entries)
    sizes: dict[str, int] = {}
    try:
        # No file name and mtime 0 in the gzip header; PAX is explicit so Python's default
        # cannot change the bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0) as gz:
            chunked = _Chunked(gz)
            with tarfile.open(fileobj=chunked, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name in names:
                    sizes[name] = _write(tar, name, entries[name], packer.context)
            chunked.close()
    except _TooLarge:
        raise _too_large(None, limit, entries) from None
    data = sink.getvalue()
    if len(data) > limit:  # pragma: no cover - the sink refuses to grow past the limit
        raise _too_large(len(data), limit, entries)
    return PackedContext(
        data=data,
        files=tuple(names),
        top_level=tuple(_top_level(entries, sizes)),
        warnings=tuple(_left_out_warnings(packer)),
        left_out=tuple(sorted(packer.left_out.paths + packer.copied_secrets)),
    )


def find_source(base: Path, source: str) -> list[str]:
    """The paths in the context folder ``base`` that the COPY source ``source`` names (a
    wildcard may name several; none when it names nothing), found as the packer finds them.
    Raises :class:`SpecError` for a source outside the folder or a malformed wildcard."""
    packer = _Packer(Path(base), DockerIgnore(), default_archive_limit())
    cleaned = posixpath.normpath(source.strip().lstrip("/") or ".")
    if cleaned == ".." or cleaned.startswith("../"):
        raise packer.context.outside(source)
    return packer.expand(source, cleaned)


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
