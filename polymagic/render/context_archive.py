"""The pieces a reproducible context archive is made of: the entries the walk found (files,
folders, links) with what identifies them, the bounded buffer and chunked gzip writer, the tar
headers that make the bytes the same whatever the mtimes, owners or umask, and the one way an
entry's content is read (opened without following links or blocking, and only while it is still
the file the walk saw)."""

from __future__ import annotations

import enum
import errno
import gzip
import io
import os
import stat
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from polymagic.errors import SpecError
from polymagic.render.context_limits import (
    MAX_DEPTH,
)
from polymagic.render.dockerignore import (
    MatcherState,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "OPEN_DIR",
    "OPEN_FILE",
    "BoundedBuffer",
    "Chunked",
    "ContextRoot",
    "Entry",
    "EntryKind",
    "Folder",
    "TooLarge",
    "human_size",
    "tar_blocks",
    "tar_info",
    "too_large",
    "write_entry",
]


class EntryKind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    LINK = "link"


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    size: int = 0
    executable: bool = False
    path: str | None = None
    """Absolute path to read a FILE from; None for generated content."""
    content: bytes | None = None
    link: str = ""
    identity: tuple[int, int] = (0, 0)
    """Device and inode the walk saw, checked again when the file is opened."""


@dataclass(frozen=True)
class Folder:
    """A folder the walk will list: what it saw of it, and the matcher's state after it."""

    rel: str
    info: os.stat_result
    state: MatcherState
    mask: int


class TooLarge(Exception):
    """The compressed output passed the limit while packing."""


class BoundedBuffer:
    """An in-memory sink that refuses to grow past ``limit`` bytes, so a huge folder cannot
    exhaust memory before the size check."""

    def __init__(self, limit: int) -> None:
        self._buffer = io.BytesIO()
        self._limit = limit

    def write(self, data: bytes) -> int:
        if self._buffer.tell() + len(data) > self._limit:
            raise TooLarge
        return self._buffer.write(data)

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return self._buffer.getvalue()


class Chunked:
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


def human_size(size: int) -> str:
    """``1234567`` → ``1.2 MB``."""
    amount, unit = float(size), 0
    while amount >= 1000 and unit < 3:
        amount, unit = amount / 1000, unit + 1
    return f"{size} B" if unit == 0 else f"{amount:.1f} {('KB', 'MB', 'GB')[unit - 1]}"


def tar_blocks(size: int) -> int:
    """Bytes an entry takes in the uncompressed tar: a header and its data in 512-byte blocks."""
    return 512 + -(-size // 512) * 512


OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class ContextRoot:
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
        fd = os.open(self.root, OPEN_DIR)
        try:
            for part in parents:
                inner = os.open(part, OPEN_DIR, dir_fd=fd)
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


def tar_info(name: str, entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if entry.kind is EntryKind.DIR:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif entry.kind is EntryKind.LINK:
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.link
    else:
        info.type, info.size = tarfile.REGTYPE, entry.size
        info.mode = 0o755 if entry.executable else 0o644
    return info


def write_entry(tar: tarfile.TarFile, name: str, entry: Entry, context: ContextRoot) -> int:
    """Add one entry; returns the size written for a file."""
    if entry.kind is not EntryKind.FILE:
        tar.addfile(tar_info(name, entry))
        return 0
    if entry.path is None:
        tar.addfile(tar_info(name, entry), io.BytesIO(entry.content or b""))
        return entry.size
    # Not following a link, not blocking on a FIFO, and only the regular file the walk saw:
    # anything swapped in since then would be archived from outside the context, or hang.
    try:
        fd = os.open(entry.path, OPEN_FILE)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOENT):
            raise context.changed(name) from None
        raise SpecError(f"cannot read `{name}` in {context.shown}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        seen = os.fstat(fd)
        if not stat.S_ISREG(seen.st_mode) or (seen.st_dev, seen.st_ino) != entry.identity:
            raise context.changed(name)
        info = tar_info(name, Entry(EntryKind.FILE, seen.st_size, entry.executable))
        try:
            tar.addfile(info, handle)
        except OSError as error:  # shrank while being read, or an I/O error
            raise SpecError(f"cannot read `{name}` in {context.shown}: {error}") from None
        return seen.st_size


def too_large(size: int | None, limit: int, entries: Mapping[str, Entry]) -> SpecError:
    largest = sorted(
        ((e.size, n) for n, e in entries.items() if e.kind is EntryKind.FILE), reverse=True
    )[:3]
    listed = ", ".join(f"{n} ({human_size(s)})" for s, n in largest)
    amount = f"is {size} bytes" if size is not None else "is larger than that"
    return SpecError(
        f"the packed build context {amount} compressed, more than fits in a ConfigMap"
        f" ({limit} bytes once base64-encoded into ~1 MiB): leave large files out with"
        " .dockerignore, or build from a git context (a `git` init with a connection) or an"
        f" object-store context (s3://, gs://); largest files: {listed or 'none'}"
    )
