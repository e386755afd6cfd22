"""What an image's layers say is installed: Python distributions (``*.dist-info/METADATA``,
``*.egg-info/PKG-INFO``) and Debian packages (``/var/lib/dpkg/status``), read from each layer's
tar stream as the registry serves it (gzip or plain), later layers over earlier ones, whiteouts
applied. Pure: bytes streams in, an :class:`Inventory` out.

A layer is input polymagic does not control, so the reading is bounded: the bytes decompressed
from one layer, the entries read, the size of one metadata file and of the dpkg status are
capped (:class:`LayerBounds`); past a bound the layer's reading stops with a warning and what
was found so far is kept. Entries whose path climbs out (``..``) are ignored. Nothing is
written to disk.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import re
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = ["Inventory", "LayerBounds", "Package", "scan_layer"]


@dataclass(frozen=True)
class LayerBounds:
    """How much of one layer is read."""

    max_bytes: int = 4 * 1024 * 1024 * 1024
    """Decompressed bytes read from one layer."""
    max_entries: int = 500_000
    max_metadata: int = 1024 * 1024
    """Bytes of one METADATA / PKG-INFO file (larger ones are skipped, with a warning)."""
    max_dpkg_status: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class Package:
    """One installed package."""

    kind: str
    """``pypi`` or ``deb``."""
    name: str
    version: str
    licence: str = ""
    arch: str = ""
    path: str = ""
    """Where it was found in the image."""

    @property
    def purl(self) -> str:
        """Its package URL (``pkg:pypi/numpy@1.26.4``, ``pkg:deb/debian/bash@5.2?arch=amd64``)."""
        if self.kind == "pypi":
            name = re.sub(r"[-_.]+", "-", self.name).lower()
            return f"pkg:pypi/{_quote(name)}@{_quote(self.version)}"
        query = f"?arch={_quote(self.arch)}" if self.arch else ""
        return f"pkg:deb/debian/{_quote(self.name)}@{_quote(self.version)}{query}"


def _quote(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_~+:" else f"%{ord(c):02X}" for c in text)


@dataclass
class Inventory:
    """What the layers read so far hold: Python distributions by their metadata file's
    folder, Debian packages from the last dpkg status seen."""

    python: dict[str, Package] = field(default_factory=dict)
    debian: list[Package] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def packages(self) -> list[Package]:
        """Every package, sorted by kind, name and version."""
        every = [*self.python.values(), *self.debian]
        return sorted(every, key=lambda p: (p.kind, p.name.lower(), p.version))


class _Counted(io.RawIOBase):
    """A stream that refuses to give more than ``limit`` bytes in total."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        self.inner, self.limit, self.count = inner, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.count >= self.limit:
            raise _TooMuch(f"more than {self.limit:,} bytes decompressed")
        data = self.inner.read(min(len(buffer), self.limit - self.count + 1))
        self.count += len(data)
        buffer[: len(data)] = data
        return len(data)


class _TooMuch(Exception):
    """A bound was reached; ``str()`` says which."""


_DIST_INFO = re.compile(r"(?:^|/)([^/]+\.(?:dist-info|egg-info))/(?:METADATA|PKG-INFO)$")
_DPKG_STATUS = "var/lib/dpkg/status"


def _clean_path(name: str) -> str | None:
    """The entry's path inside the image (no leading ``./`` or ``/``); None when it climbs out."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


def scan_layer(
    stream: BinaryIO, inventory: Inventory, *, name: str, bounds: LayerBounds = LayerBounds()
) -> None:
    """Read one layer's tar (gzip-compressed or not) from ``stream`` into ``inventory``."""
    head = stream.read(2)
    raw: BinaryIO = _Prefixed(head, stream)  # type: ignore[assignment]
    source: BinaryIO = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw  # type: ignore[assignment]
    counted = io.BufferedReader(_Counted(source, bounds.max_bytes), 64 * 1024)
    entries = 0
    try:
        with tarfile.open(fileobj=counted, mode="r|") as archive:
            for member in archive:
                entries += 1
                if entries > bounds.max_entries:
                    raise _TooMuch(f"more than {bounds.max_entries:,} entries")
                _entry(archive, member, inventory, name, bounds)
    except _TooMuch as why:
        inventory.warnings.append(f"layer {name}: stopped reading: {why}")
    except (tarfile.TarError, OSError, EOFError, ValueError, gzip.BadGzipFile) as error:
        inventory.warnings.append(f"layer {name}: not a readable tar ({type(error).__name__})")


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``inner``."""

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self.head, self.inner = head, inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size] = self.head[:size]
            self.head = self.head[size:]
            return size
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _entry(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    inventory: Inventory,
    layer: str,
    bounds: LayerBounds,
) -> None:
    path = _clean_path(member.name)
    if path is None:
        inventory.warnings.append(f"layer {layer}: ignored an entry whose path climbs out")
        return
    folder, base = posixpath.split(path)
    if base.startswith(".wh."):
        _whiteout(inventory, posixpath.join(folder, base[4:]), opaque=base == ".wh..wh..opq")
        return
    if not member.isfile():
        return
    found = _DIST_INFO.search(path)
    if found is not None:
        text = _read(archive, member, bounds.max_metadata, inventory, layer, path)
        if text is not None:
            package = _python_package(text, path)
            if package is not None:
                inventory.python[posixpath.dirname(path)] = package
        return
    if path == _DPKG_STATUS:
        text = _read(archive, member, bounds.max_dpkg_status, inventory, layer, path)
        if text is not None:
            inventory.debian = _debian_packages(text)


def _whiteout(inventory: Inventory, removed: str, *, opaque: bool) -> None:
    folder = posixpath.dirname(removed) if opaque else removed
    for key in [k for k in inventory.python if k == folder or k.startswith(folder + "/")]:
        del inventory.python[key]
    if removed == _DPKG_STATUS or _DPKG_STATUS.startswith(folder + "/"):
        inventory.debian = []


def _read(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    limit: int,
    inventory: Inventory,
    layer: str,
    path: str,
) -> str | None:
    if member.size > limit:
        inventory.warnings.append(
            f"layer {layer}: skipped /{path[:200]}: {member.size:,} bytes (at most {limit:,} read)"
        )
        return None
    handle = archive.extractfile(member)
    if handle is None:
        return None
    return handle.read(limit).decode("utf-8", "replace")


def _headers(text: str) -> dict[str, str]:
    """The first value of each header of an email-style METADATA (up to the first blank line)."""
    found: dict[str, str] = {}
    for line in text.split("\n", 2000)[:2000]:
        if not line.strip():
            break
        if line[:1] in " \t":
            continue
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() not in found:
            found[key.strip().lower()] = value.strip()
    return found


def _python_package(text: str, path: str) -> Package | None:
    headers = _headers(text)
    name, version = headers.get("name", ""), headers.get("version", "")
    if not name or not version:
        return None
    licence = headers.get("license-expression") or headers.get("license", "")
    return Package("pypi", name[:200], version[:100], licence[:200], path="/" + path[:300])


def _debian_packages(text: str) -> list[Package]:
    packages: list[Package] = []
    for stanza in text.split("\n\n"):
        fields = _headers(stanza.strip("\n") + "\n")
        if "install ok installed" not in fields.get("status", ""):
            continue
        name, version = fields.get("package", ""), fields.get("version", "")
        if name and version:
            packages.append(
                Package(
                    "deb", name[:200], version[:100], arch=fields.get("architecture", "")[:32],
                    path="/" + _DPKG_STATUS,
                )
            )  # fmt: skip
    return packages
