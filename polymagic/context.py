"""Packing a local build context into a reproducible ``.tar.gz`` for Kaniko's ``tar://`` context.

This module owns three things: which context paths a ``dockerfile`` init names
(``context_sources``), Docker's ``.dockerignore`` semantics (``DockerIgnore``, a faithful port of
moby's ``patternmatcher``), and the archive itself (``pack_context``): the files under those
sources, honouring ``.dockerignore``, plus generated files such as the rendered Dockerfile.

The archive is byte-for-byte reproducible: the same files give the same bytes whatever their
mtimes, owners or the umask. It reads files and writes nothing: no temporary files, no network,
no Kubernetes objects (putting the archive into a ConfigMap belongs to ``manifests``).
"""

from __future__ import annotations

import enum
import functools
import gzip
import hashlib
import io
import os
import posixpath
import re
import stat
import tarfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from polymagic.errors import SpecError
from polymagic.models import DockerfileInit

if TYPE_CHECKING:
    from polymagic.compiler import CompiledBuild

__all__ = [
    "DockerIgnore",
    "PackedContext",
    "context_sources",
    "default_archive_limit",
    "load_dockerignore",
    "pack_context",
    "parse_dockerignore",
]

DOCKERIGNORE = ".dockerignore"
_GLOB_MAGIC = re.compile(r"[*?\[]")


# -- which paths a dockerfile init takes from the context ----------------------------------


def _copy_arguments(text: str) -> list[str]:
    """The sources of one ``COPY <text>`` line, split as Docker does (shell form)."""
    words = text.split()
    if any(w.startswith("--from") for w in words):
        return []  # copies from another stage or image, not from the context
    words = [w for w in words if not w.startswith("--")]  # --chown, --chmod, --link
    return words[:-1] if len(words) > 1 else words


def context_sources(spec: DockerfileInit) -> list[str]:
    """The context paths that ``copy``, ``postRunCopy`` and ``workdirPath`` copy, in order.

    Polyaxon renders ``COPY <src> <dst>`` unquoted, so a source holding spaces is several
    sources to Docker (``copy: ["a.txt b.txt"]`` copies both): they are split the same way.
    """
    sources: list[str] = []
    for entries in (spec.copy_, spec.post_run_copy):
        if not isinstance(entries, list):
            continue  # unset, or a ``{{ ... }}`` reference resolved elsewhere
        for entry in entries:
            if isinstance(entry, str):
                sources += _copy_arguments(f"{entry} {spec.workdir}")
            elif len(entry) == 1:
                sources += _copy_arguments(entry[0])
            elif entry:
                sources += _copy_arguments(f"{entry[0]} {entry[1]}")
    if spec.workdir_path:
        sources += _copy_arguments(f"{spec.workdir_path} {spec.workdir}")
    return list(dict.fromkeys(sources))


# -- .dockerignore -------------------------------------------------------------------------


def _go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash path (``posixpath.normpath`` keeps a leading ``//``)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


class _Match(enum.Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEXP = "regexp"


@dataclass(frozen=True)
class _Pattern:
    """One compiled pattern, as moby's ``patternmatcher.Pattern``."""

    text: str
    exclusion: bool
    kind: _Match
    regex: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind is _Match.EXACT:
            return path == self.text
        if self.kind is _Match.PREFIX:
            return path.startswith(self.text[:-2])  # the pattern ends with ``**``
        if self.kind is _Match.SUFFIX:
            suffix = self.text[2:]  # the pattern starts with ``**``
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        return self.regex is not None and self.regex.match(path) is not None


def _compile(text: str, exclusion: bool) -> _Pattern:
    """Translate like moby's ``Pattern.compile``; raises ValueError for a bad pattern."""
    regex, kind, pos, first = "^", _Match.EXACT, 0, True
    while pos < len(text):
        char = text[pos]
        pos += 1
        if char == "*" and text[pos : pos + 1] == "*":
            pos += 1
            if text[pos : pos + 1] == "/":
                pos += 1  # ``**/`` is ``**``
            if pos == len(text):
                if kind is _Match.EXACT:
                    kind = _Match.PREFIX
                else:
                    regex, kind = regex + ".*", _Match.REGEXP
            else:
                regex, kind = regex + "(.*/)?", _Match.REGEXP
            if first:
                kind = _Match.SUFFIX
        elif char == "*":
            regex, kind = regex + "[^/]*", _Match.REGEXP
        elif char == "?":
            regex, kind = regex + "[^/]", _Match.REGEXP
        elif char in ".+()|{}$":
            regex += "\\" + char
        elif char == "\\":
            if pos == len(text):
                raise ValueError("a trailing backslash escapes nothing")
            regex, kind = regex + re.escape(text[pos]), _Match.REGEXP
            pos += 1
        elif char in "[]":
            regex, kind = regex + char, _Match.REGEXP
        else:
            regex += char
        first = False
    if kind is not _Match.REGEXP:
        return _Pattern(text, exclusion, kind, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "possible nested set" for ``[[``
        try:
            compiled = re.compile(regex + r"\Z")
        except re.error as error:
            raise ValueError(str(error)) from error
    return _Pattern(text, exclusion, kind, compiled)


class DockerIgnore:
    """Docker's ``.dockerignore`` matcher: ``ignore("a/b.txt")`` is True when the path is excluded.

    Paths are slash-separated and relative to the context root. The last matching pattern
    wins; ``!`` patterns re-include; a pattern that matches a parent directory excludes
    everything below it unless a later ``!`` pattern re-includes it. ``patterns`` are the lines
    as Docker reads them (see :func:`parse_dockerignore`).
    """

    def __init__(self, patterns: Iterable[str] = (), *, source: str = DOCKERIGNORE) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        self.source = source
        compiled: list[_Pattern] = []
        for raw in self.patterns:
            text = raw.strip()
            if not text:
                continue
            text = _go_clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                text = text[1:]
                if not text:
                    raise SpecError(f'{source}: illegal exclusion pattern: "!"')
            try:
                compiled.append(_compile(text, exclusion))
            except ValueError as error:
                raise SpecError(f"{source}: invalid pattern `{raw}`: {error}") from error
        self._compiled = tuple(compiled)
        self.has_exceptions = any(p.exclusion for p in compiled)

    def excludes(self, path: str) -> bool:
        """True when ``path`` (or a directory above it) is excluded and not re-included."""
        path = _go_clean(path)
        if path == ".":
            return False  # Docker never excludes the context root itself
        parent = posixpath.dirname(path) or "."
        parents = parent.split("/")
        matched = False
        for pattern in self._compiled:
            if pattern.exclusion != matched:
                continue  # only an exception can change an exclusion, and vice versa
            hit = pattern.match(path)
            if not hit and parent != ".":
                hit = any(pattern.match("/".join(parents[: i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exclusion
        return matched

    __call__ = excludes

    def __repr__(self) -> str:
        return f"DockerIgnore({list(self.patterns)!r})"


def parse_dockerignore(text: str, *, source: str = DOCKERIGNORE) -> DockerIgnore:
    """A matcher from ``.dockerignore`` text, read as Docker reads it.

    A line starting with ``#`` is a comment (only in the first column); lines are trimmed,
    blank ones skipped; each pattern is cleaned like a path and a leading ``/`` dropped.
    """
    patterns: list[str] = []
    for index, line in enumerate(text.split("\n")):
        if index == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append(f"!{pattern}" if invert else pattern)
    return DockerIgnore(patterns, source=source)


def load_dockerignore(base: Path, dockerfile: str = "Dockerfile") -> DockerIgnore:
    """The ignore rules of the context folder ``base``: ``<dockerfile>.dockerignore`` when it
    exists (as BuildKit and Kaniko prefer), else ``.dockerignore``, else nothing ignored."""
    for name in (f"{dockerfile}.dockerignore", DOCKERIGNORE):
        path = Path(base) / name
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise SpecError(f"cannot read {path}: {error}") from error
            return parse_dockerignore(text, source=str(path))
    return DockerIgnore()


# -- the archive ---------------------------------------------------------------------------


def default_archive_limit() -> int:
    """The largest archive a ConfigMap's ``binaryData`` holds: base64 makes 3 bytes into 4."""
    from polymagic.manifests import CONFIGMAP_LIMIT  # here: manifests may import this module

    return CONFIGMAP_LIMIT // 4 * 3


@dataclass(frozen=True)
class PackedContext:
    """A packed build context: the ``.tar.gz`` bytes and the names of its members."""

    data: bytes = field(repr=False)
    files: tuple[str, ...]
    """Member names in archive order (sorted; directories included, without a trailing ``/``)."""

    @functools.cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of ``data``: equal for equal contexts."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        """The archive's size in bytes."""
        return len(self.data)

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


def _segment_regex(segment: str) -> re.Pattern[str]:
    """A path segment of a COPY wildcard, matched like Go's ``filepath.Match``."""
    out, pos = [], 0
    while pos < len(segment):
        char = segment[pos]
        pos += 1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and pos < len(segment):
            out.append(re.escape(segment[pos]))
            pos += 1
        elif char == "[":
            end = segment.find("]", pos + 1)
            if end < 0:
                raise ValueError("unclosed `[`")
            body = segment[pos:end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            escaped = "".join("\\" + c if c in "\\[]" else c for c in body)
            out.append(f"[{'^' if negate else ''}{escaped}]")
            pos = end + 1
        else:
            out.append(re.escape(char))
    return re.compile("".join(out) + r"\Z")


def _human(size: int) -> str:
    """``1234567`` → ``1.2 MB``."""
    amount, unit = float(size), 0
    while amount >= 1000 and unit < 3:
        amount, unit = amount / 1000, unit + 1
    return f"{size} B" if unit == 0 else f"{amount:.1f} {('KB', 'MB', 'GB')[unit - 1]}"


class _Packer:
    """Collects the entries of one archive (one call of :func:`pack_context`)."""

    def __init__(self, base: Path, ignore: DockerIgnore) -> None:
        self.shown = str(base)
        self.root = os.path.realpath(base)
        self.ignore = ignore
        # Without `!` exceptions nothing below an excluded directory can come back: skip it.
        self.walk_excluded = ignore.has_exceptions
        self.entries: dict[str, _Entry] = {}
        self.visited: set[str] = set()

    # -- paths

    def _full(self, rel: str) -> str:
        return self.root if rel == "." else os.path.join(self.root, rel)

    def _inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root.rstrip("/") + "/")

    def _rel(self, path: str) -> str:
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def _not_found(self, source: str) -> SpecError:
        return SpecError(
            f"COPY source `{source}` not found in {self.shown}: it must be inside the build"
            " context folder (the notebook's folder, or --context DIR)"
        )

    def _outside(self, source: str) -> SpecError:
        return SpecError(
            f"COPY source `{source}` is outside the build context {self.shown}: Docker and Kaniko"
            " only see files inside it; move it into the folder, or choose a wider --context DIR"
        )

    # -- sources

    def add_source(self, source: str) -> None:
        cleaned = posixpath.normpath(source.strip().lstrip("/") or ".")
        if cleaned == ".." or cleaned.startswith("../"):
            raise self._outside(source)
        before = set(self.entries)
        matches = self._expand(source, cleaned)
        if not matches:
            raise self._not_found(source)
        for rel in matches:
            self._add_tree(rel)
        if cleaned != "." and not set(self.entries) - before and all(map(self.ignore, matches)):
            raise SpecError(
                f"COPY source `{source}` is excluded by {self.ignore.source}: Docker would not"
                " find it either; remove the pattern or add a `!` exception"
            )

    def _expand(self, source: str, cleaned: str) -> list[str]:
        """The existing paths a source names (a wildcard may name several), canonical."""
        if cleaned == ".":
            return ["."]
        candidates = [""]
        for segment in cleaned.split("/"):
            if not _GLOB_MAGIC.search(segment):
                candidates = [posixpath.join(c, segment) for c in candidates]
                continue
            try:
                pattern = _segment_regex(segment)
            except ValueError as error:
                raise SpecError(f"COPY source `{source}`: bad wildcard: {error}") from error
            found = []
            for prefix in candidates:
                directory = self._full(prefix or ".")
                if not os.path.isdir(directory):
                    continue
                names = sorted(os.listdir(directory))
                found += [posixpath.join(prefix, n) for n in names if pattern.match(n)]
            candidates = found
        return [self._canonical(c) for c in candidates if os.path.lexists(self._full(c))]

    def _canonical(self, rel: str) -> str:
        """``rel`` with the links among its parent directories resolved; the links themselves
        are archived, so the path still works through them once unpacked."""
        *parents, last = rel.split("/")
        canonical = ""
        for part in parents:
            candidate = posixpath.join(canonical, part)
            if os.path.islink(self._full(candidate)):
                self._add_link(candidate, follow=False)  # refuses a link out of the context
                canonical = self._rel(os.path.realpath(self._full(candidate)))
                canonical = "" if canonical == "." else canonical
            else:
                canonical = candidate
        return posixpath.join(canonical, last)

    # -- the walk

    def _add_tree(self, rel: str) -> None:
        pending = [rel]
        while pending:
            rel = pending.pop()
            if rel in self.visited:
                continue
            self.visited.add(rel)
            full = self._full(rel)
            try:
                info = os.lstat(full)
            except OSError as error:
                raise SpecError(f"cannot read `{rel}` in {self.shown}: {error.strerror}") from error
            excluded = self.ignore(rel)
            if stat.S_ISLNK(info.st_mode):
                if not excluded:
                    pending += self._add_link(rel, follow=True)
            elif stat.S_ISDIR(info.st_mode):
                if rel != "." and not excluded:
                    self.entries[rel] = _Entry(_Kind.DIR)
                if excluded and not self.walk_excluded:
                    continue
                try:
                    names = os.listdir(full)
                except OSError as error:
                    raise SpecError(
                        f"cannot list `{rel}` in {self.shown}: {error.strerror}"
                    ) from error
                pending += [n if rel == "." else f"{rel}/{n}" for n in names]
            elif stat.S_ISREG(info.st_mode) and not excluded:
                executable = bool(info.st_mode & 0o111)
                self.entries[rel] = _Entry(_Kind.FILE, info.st_size, executable, path=full)
            # sockets, FIFOs and devices are left out, as Docker does

    def _add_link(self, rel: str, *, follow: bool) -> list[str]:
        """Archive the link at ``rel``; return its target to pack too (when ``follow``)."""
        full = self._full(rel)
        target = os.readlink(full)
        lexical = os.path.normpath(os.path.join(os.path.dirname(full), target))
        if not (self._inside(lexical) and self._inside(os.path.realpath(full))):
            raise SpecError(
                f"`{rel}` in {self.shown} is a symbolic link to `{target}`, outside the build"
                " context: copy the file into the folder instead, or leave the link out with"
                " .dockerignore"
            )
        if os.path.isabs(target):  # keep it working once unpacked somewhere else
            target = os.path.relpath(lexical, os.path.dirname(full)).replace(os.sep, "/")
        self.entries[rel] = _Entry(_Kind.LINK, link=target)
        if not follow or not os.path.lexists(lexical) or lexical == self.root:
            return []
        return [self._canonical(self._rel(lexical))]

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
        self.entries[cleaned] = _Entry(_Kind.FILE, len(data), content=data)

    def with_parents(self) -> dict[str, _Entry]:
        entries = dict(self.entries)
        for name in self.entries:
            parent = posixpath.dirname(name)
            while parent:
                existing = entries.setdefault(parent, _Entry(_Kind.DIR))
                if existing.kind is not _Kind.DIR:
                    raise SpecError(
                        f"`{parent}` in {self.shown} is not a directory, so `{name}` cannot be"
                        " put below it in the build context"
                    )
                parent = posixpath.dirname(parent)
        return entries


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


def _write(tar: tarfile.TarFile, name: str, entry: _Entry, shown: str) -> None:
    if entry.kind is not _Kind.FILE:
        tar.addfile(_tarinfo(name, entry))
    elif entry.path is None:
        tar.addfile(_tarinfo(name, entry), io.BytesIO(entry.content or b""))
    else:
        try:
            with open(entry.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                info = _tarinfo(name, _Entry(_Kind.FILE, size, entry.executable))
                tar.addfile(info, handle)
        except OSError as error:
            raise SpecError(f"cannot read `{name}` in {shown}: {error}") from error


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
    the same name. ``limit`` defaults to what a ConfigMap's ``binaryData`` holds
    (:func:`default_archive_limit`); ``dockerignore`` to :func:`load_dockerignore` of ``base``.
    Raises :class:`SpecError` for a missing, excluded or escaping source, a symbolic link out of
    the context, or an archive over the limit.
    """
    base = Path(base)
    if not base.is_dir():
        raise SpecError(
            f"the build context folder {base} does not exist: pass an existing folder as"
            " --context DIR"
        )
    ignore = load_dockerignore(base) if dockerignore is None else dockerignore
    packer = _Packer(base, ignore)
    for source in sources:
        packer.add_source(source)
    for name, content in extra_files.items():
        packer.add_generated(name, content)
    entries = packer.with_parents()
    limit = default_archive_limit() if limit is None else limit

    sink = _BoundedBuffer(limit)
    names = sorted(entries)
    try:
        # No file name and mtime 0 in the gzip header; PAX is explicit so Python's default
        # cannot change the bytes.
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name in names:
                _write(tar, name, entries[name], packer.shown)
    except _TooLarge:
        raise _too_large(None, limit, entries) from None
    data = sink.getvalue()
    if len(data) > limit:  # pragma: no cover - the sink refuses to grow past the limit
        raise _too_large(len(data), limit, entries)
    return PackedContext(data=data, files=tuple(names))


def pack_build_context(build: CompiledBuild, base: Path) -> PackedContext | None:
    """The local files the build's first Dockerfile copies, packed with the Dockerfile itself;
    None when it copies nothing or builds from a git repository."""
    from polymagic.manifests import git_context

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
