"""Which installed distribution a module came from, for ``freeze``: by the module's file, never by
its top-level name.

An ``Owners`` index maps files to the distribution that installed them: the files its ``RECORD``
(or ``installed-files.txt``) lists, the folders its ``.pth`` files put on ``sys.path`` (editable
installs by hatchling, flit, pdm, setuptools' compat mode), the folders its editable finder maps
(setuptools' ``__editable___*_finder.py``, read as text, never run) and, last, the project folder
of an editable install (PEP 610's ``direct_url.json``). A module is then placed by
``__spec__.origin`` or ``__file__``; a namespace package by the folders on its ``__path__``, and
only when one distribution owns them all (``google`` belongs to nobody when protobuf and
googleapis-common-protos share it: the submodules decide).

Reads the local installation's metadata files only, each bounded in size; runs no code.
"""

from __future__ import annotations

import ast
import bisect
import csv
import importlib.metadata
import io
import os
import re
import stat
import sys
import sysconfig
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "METADATA_FILE_LIMIT",
    "ModuleOrigin",
    "Owners",
    "environment_folders",
    "loaded_origins",
    "module_origin",
    "read_regular_text",
    "read_text_bounded",
    "under",
]

METADATA_FILE_LIMIT = 4 * 1024 * 1024
"""A metadata file (``RECORD``, ``direct_url.json``, a ``.pth``) larger than this is unreadable."""
_PTH_LINES = 1000
"""At most this many lines of one ``.pth`` file are read as folders."""


def read_text_bounded(dist: importlib.metadata.Distribution, name: str) -> str | None:
    """A metadata file's text, or None when missing, unreadable or larger than the limit."""
    locate = getattr(dist, "_path", None)
    if isinstance(locate, Path):
        try:
            if (locate / name).stat().st_size > METADATA_FILE_LIMIT:
                return None
        except OSError:
            return None
    try:
        text = dist.read_text(name)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if text is not None and len(text) > METADATA_FILE_LIMIT:
        return None
    return text


def read_regular_text(path: str | os.PathLike[str], limit: int) -> str | None:
    """A regular file's text (UTF-8, undecodable bytes replaced), or None when it is not a
    regular file, cannot be read or holds more than ``limit`` bytes. Opened without blocking,
    so a FIFO or a device named there cannot hang the reader."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    if len(data) > limit:
        return None
    return data.decode("utf-8", "replace")


def _read_file(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read(METADATA_FILE_LIMIT + 1)
    except OSError:
        return None
    return None if len(text) > METADATA_FILE_LIMIT else text


def _norm(path: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


@dataclass(frozen=True)
class ModuleOrigin:
    """Where one loaded module came from: a file, or the folders of a namespace package."""

    name: str
    file: str | None
    namespace: tuple[str, ...] = ()


def module_origin(name: str, module: object) -> ModuleOrigin | None:
    """The file (or namespace folders) of a module, read without running its code (a lazy module
    is not loaded by asking); None for built-in and frozen modules and for non-modules."""
    if not isinstance(module, types.ModuleType):
        return None
    try:
        namespace = object.__getattribute__(module, "__dict__")
    except (AttributeError, TypeError):
        return None
    spec = namespace.get("__spec__")
    origin = getattr(spec, "origin", None) if spec is not None else None
    file = origin if isinstance(origin, str) and os.path.isabs(origin) else None
    if file is None:
        fallback = namespace.get("__file__")
        file = fallback if isinstance(fallback, str) and os.path.isabs(fallback) else None
    if file is not None:
        return ModuleOrigin(name, file)
    locations = getattr(spec, "submodule_search_locations", None) if spec is not None else None
    if locations is None:
        locations = namespace.get("__path__")
    try:
        folders = tuple(
            str(entry) for entry in list(locations or ())[:64] if isinstance(entry, str)
        )
    except TypeError:
        folders = ()
    return ModuleOrigin(name, None, folders) if folders else None


def _record_paths(dist: importlib.metadata.Distribution) -> Iterator[str]:
    """The absolute paths of the files a distribution installed."""
    record = read_text_bounded(dist, "RECORD")
    base = getattr(dist, "_path", None)
    if record is not None:
        # RECORD paths are relative to the folder holding the .dist-info (its site directory).
        site = os.fspath(base.parent) if isinstance(base, Path) else None
        for row in csv.reader(io.StringIO(record)):
            if row and row[0]:
                yield os.path.join(site, row[0]) if site else str(dist.locate_file(row[0]))
        return
    legacy = read_text_bounded(dist, "installed-files.txt")
    if legacy is not None and isinstance(base, Path):
        for line in legacy.splitlines():
            if line.strip():
                yield str(base / line.strip())


def _finder_mapping(path: str) -> list[str]:
    """The folders a setuptools editable finder maps its packages to (its ``MAPPING`` literal)."""
    text = _read_file(path)
    if text is None:
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    for node in tree.body:
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id == "MAPPING":
            try:
                mapping = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                return []
            if isinstance(mapping, dict):
                return [str(folder) for folder in mapping.values() if isinstance(folder, str)]
    return []


def _pth_folders(path: str) -> list[str]:
    """The folders a ``.pth`` file adds to ``sys.path`` (its ``import`` lines are not run)."""
    text = _read_file(path)
    if text is None:
        return []
    site_dir = os.path.dirname(path)
    folders = []
    for line in text.splitlines()[:_PTH_LINES]:
        line = line.strip()
        if not line or line.startswith(("#", "import ", "import\t")):
            continue
        folders.append(line if os.path.isabs(line) else os.path.join(site_dir, line))
    return folders


def _editable_folder(dist: importlib.metadata.Distribution) -> str | None:
    """The project folder of an editable install, from ``direct_url.json``."""
    import json

    raw = read_text_bounded(dist, "direct_url.json")
    if raw is None:
        return None
    try:
        info = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("dir_info"), dict):
        return None
    if not info["dir_info"].get("editable"):
        return None
    url = info.get("url")
    if not isinstance(url, str) or not url.startswith("file:"):
        return None
    path = url.removeprefix("file:").removeprefix("//")
    if not path.startswith("/"):  # file://host/path: the host part goes
        path = "/" + path.split("/", 1)[-1] if "/" in path else ""
    unquoted = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), path.encode())
    return unquoted.decode("utf-8", "replace").split("?", 1)[0].split("#", 1)[0] or None


@dataclass
class Owners:
    """Files and folders → the key (canonical name) of the distribution that installed them."""

    files: dict[str, str] = field(default_factory=dict)
    folders: list[tuple[str, str]] = field(default_factory=list)
    """(folder, key), most specific first: a module under the folder belongs to the key."""
    project_folders: list[tuple[str, str]] = field(default_factory=list)
    """Editable projects' folders: consulted last."""
    _sorted: list[str] | None = None

    @classmethod
    def read(cls, dists: Iterable[tuple[importlib.metadata.Distribution, str]]) -> Owners:
        """The index of ``(distribution, key)`` pairs, the first on the path winning."""
        owners = cls()
        folders: list[tuple[str, str]] = []
        for dist, key in dists:
            for path in _record_paths(dist):
                normal = _norm(path)
                owners.files.setdefault(normal, key)
                if normal.endswith(".pth"):
                    folders += [(_norm(folder), key) for folder in _pth_folders(path)]
                elif os.path.basename(normal).startswith("__editable__") and normal.endswith(".py"):
                    folders += [(_norm(folder), key) for folder in _finder_mapping(path)]
            project = _editable_folder(dist)
            if project:
                owners.project_folders.append((_norm(project), key))
        owners.folders = sorted(folders, key=lambda item: -len(item[0]))
        owners.project_folders.sort(key=lambda item: -len(item[0]))
        return owners

    def note_vendored(self, metadata_folder: str, key: str) -> str | None:
        """The key of the distribution that ships ``metadata_folder`` inside its own files: its
        ``RECORD`` lists them or, where no ``RECORD`` does (an installer that writes none, such
        as a system package's ``.egg-info``), the folder lies inside a Python package (a folder
        with ``__init__.py`` up to three levels above it; a site folder has none)."""
        for name in ("METADATA", "RECORD", "PKG-INFO"):
            owner = self.files.get(_norm(os.path.join(metadata_folder, name)))
            if owner is not None and owner != key:
                return owner
        folder = os.path.dirname(_norm(metadata_folder))
        for _ in range(3):
            init = os.path.join(folder, "__init__.py")
            if os.path.isfile(init):
                owner = self.owner_of_file(init)
                if owner != key:
                    return owner or os.path.basename(folder)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        return None

    def owner_of_file(self, path: str) -> str | None:
        normal = _norm(path)
        owner = self.files.get(normal)
        if owner is not None:
            return owner
        for folders in (self.folders, self.project_folders):
            for folder, key in folders:
                if normal.startswith(folder + os.sep):
                    return key
        return None

    def owner(self, origin: ModuleOrigin) -> str | None:
        """The distribution a module came from; a namespace package only when one owns it all."""
        if origin.file is not None:
            return self.owner_of_file(origin.file)
        if self._sorted is None:
            self._sorted = sorted(self.files)
        keys: set[str] = set()
        for folder in origin.namespace:
            prefix = _norm(folder) + os.sep
            keys |= {key for path, key in self.folders if path + os.sep == prefix}
            index = bisect.bisect_left(self._sorted, prefix)
            while index < len(self._sorted) and self._sorted[index].startswith(prefix):
                keys.add(self.files[self._sorted[index]])
                if len(keys) > 1:
                    return None
                index += 1
        return keys.pop() if len(keys) == 1 else None


def environment_folders() -> tuple[str, ...]:
    """The Python installation's library folders (the standard library, every site-packages or
    dist-packages folder): a module there that no distribution installed is the interpreter's,
    not the user's code. Prefixes are not used: a notebook folder may well lie under one."""
    found: set[str] = set()
    paths = sysconfig.get_paths()
    for scheme_key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = paths.get(scheme_key)
        if value:
            found.add(_norm(value))
    found.update(
        _norm(entry)
        for entry in sys.path
        if isinstance(entry, str) and os.path.basename(entry) in ("site-packages", "dist-packages")
    )
    try:
        import site

        found.update(_norm(path) for path in site.getsitepackages())
        found.add(_norm(site.getusersitepackages()))
    except AttributeError:
        pass  # a virtualenv's old site.py lacks these
    return tuple(sorted(found))


def under(path: str, folders: Iterable[str]) -> bool:
    normal = _norm(path)
    return any(normal == folder or normal.startswith(folder + os.sep) for folder in folders)


def loaded_origins(modules: Mapping[str, object]) -> list[ModuleOrigin]:
    """The origin of every loaded module (a snapshot: the dict may change while we read)."""
    found = []
    for name, module in list(modules.items()):
        if not isinstance(name, str) or name in ("__main__", "__mp_main__"):
            continue
        origin = module_origin(name, module)
        if origin is not None:
            found.append(origin)
    return found
