"""Reading the running interpreter for ``freeze``: its Python version, its installed
distributions (``importlib.metadata``), which of them the loaded modules came from, what the
user's code imports, and the local code it loaded.

Which distribution a module came from is decided by its file (``polymagic.app.freeze_owners``);
what the user's code imports, by reading that code (``polymagic.app.freeze_user_code``): the
cells' history and the local modules, so an import inside a function or in a helper next to the
notebook counts, and a package the tooling loads too is still the user's when their code imports
it. A module that no distribution installed and that is not the interpreter's own is local code:
inside the build context it is copied into the image, outside it is named as needing attention.

Reads files of the local Python installation and the local modules' sources only (each bounded in
size); writes nothing; runs no code but the import system's finders for a top-level name that is
not loaded. The decisions (what to pin, what to leave out) belong to ``polymagic.render.freeze``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from polymagic.app.freeze_asked import asked_for
from polymagic.app.freeze_owners import (
    ModuleOrigin,
    Owners,
    environment_folders,
    loaded_origins,
    read_text_bounded,
    under,
)
from polymagic.app.freeze_user_code import cells, resolve_module, run_targets, user_code
from polymagic.app.source_info import GIT_TIMEOUT, read_checkout
from polymagic.render.freeze import (
    Distribution,
    Environment,
    LocalModule,
    editable_folder,
    is_tooling,
)
from polymagic.render.freeze_lines import Checkout

__all__ = ["read_environment"]

MAX_CHECKOUTS = 32
"""Editable installs whose git checkout ``freeze`` reads, at most."""
CHECKOUT_SECONDS = 10.0
"""What reading all of them may take (a hung ``git``: a slow network filesystem, a FIFO)."""
_IGNORED_MODULES = ("__editable__", "_distutils_hack", "__main__", "__mp_main__")
_COPYABLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")


def _read_metadata(
    dist: importlib.metadata.Distribution,
) -> tuple[str, str, tuple[str, ...]] | str:
    """Name, version and requirements, read once; or why they cannot be read."""
    try:
        metadata = dist.metadata
        name = metadata["Name"] or ""
        version = metadata["Version"] or ""
        requires = metadata.get_all("Requires-Dist") or dist.requires or ()
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable: {exc}"
    return str(name), str(version), tuple(str(line) for line in requires)


def _distribution(
    dist: importlib.metadata.Distribution,
    read: tuple[str, str, tuple[str, ...]] | str,
    owners: Owners,
    checkouts: _Checkouts,
) -> Distribution:
    location = str(getattr(dist, "_path", "") or "") or None
    if isinstance(read, str):
        return Distribution("", "", location=location, problem=read)
    name, version, requires = read
    if not name or not version:
        missing = "no name" if not name else "no version"
        return Distribution(name, version, location=location, problem=missing)
    direct_url: Mapping[str, Any] | None = None
    problem = None
    raw = read_text_bounded(dist, "direct_url.json")
    if raw is not None:
        try:
            loaded = json.loads(raw)
        except (ValueError, RecursionError):
            problem = "its direct_url.json is not JSON"
        else:
            if isinstance(loaded, dict):
                direct_url = loaded
            else:
                problem = "its direct_url.json is not an object"
    vendored_by = owners.note_vendored(location, canonicalize_name(name)) if location else None
    return Distribution(
        name=name,
        version=version,
        requires=requires,
        direct_url=direct_url,
        requested=read_text_bounded(dist, "REQUESTED") is not None,
        location=location,
        problem=problem,
        vendored_by=vendored_by,
        compiled=_compiled(read_text_bounded(dist, "WHEEL")),
        checkout=checkouts.of(direct_url),
    )


class _Checkouts:
    """The git state of editable installs' project folders: each folder read once, at most
    ``MAX_CHECKOUTS`` of them, all within ``CHECKOUT_SECONDS`` (each ``git`` question gets a
    share of what is left); beyond that, or for anything but a local editable install, none."""

    def __init__(self) -> None:
        self.read: dict[str, Checkout | None] = {}
        self.deadline = time.monotonic() + CHECKOUT_SECONDS

    def of(self, direct_url: Mapping[str, Any] | None) -> Checkout | None:
        folder = editable_folder(direct_url)
        if folder is None:
            return None
        if folder not in self.read and len(self.read) < MAX_CHECKOUTS:
            # read_checkout asks git at most ten questions.
            share = min(GIT_TIMEOUT, (self.deadline - time.monotonic()) / 10)
            self.read[folder] = read_checkout(Path(folder), timeout=share) if share > 0 else None
        return self.read.get(folder)


def _compiled(wheel: str | None) -> bool:
    """Whether a ``WHEEL`` file says the wheel was platform-specific (not purelib)."""
    for line in (wheel or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "root-is-purelib":
            return value.strip().lower() == "false"
    return False


def _local_module(origin: ModuleOrigin, context: Path | None) -> LocalModule:
    """The top-level file or folder holding a local module, and its place in the context."""
    file = Path(origin.file or "")
    parts = origin.name.split(".")
    is_package = file.name == "__init__.py"
    top = file
    levels = len(parts) - 1 + is_package
    if (len(parts) > 1 or is_package) and levels < len(file.parents):
        candidate = file.parents[levels] / parts[0]
        if candidate.is_dir():
            top = candidate
    inside = None
    if context is not None:
        try:
            relative = top.resolve().relative_to(context.resolve())
        except (ValueError, OSError):
            relative = None
        if relative is not None and relative.parts:
            posix = PurePosixPath(*relative.parts).as_posix()
            if not _COPYABLE.match(posix):
                return LocalModule(
                    parts[0], str(top), None, "its path holds characters a COPY line cannot carry"
                )
            inside = posix
    return LocalModule(parts[0], str(top), inside)


_WALK_LIMIT = 5000
"""At most this many folder entries are looked at per local package, for its ``.py`` files."""


def _sources(modules: Iterable[LocalModule]) -> set[str]:
    """The ``.py`` files of local modules (a package's files: a bounded walk, no symlinks)."""
    found: set[str] = set()
    for module in modules:
        top = Path(module.path)
        if top.is_file():
            found.add(str(top))
            continue
        seen = 0
        for folder, folders, files in os.walk(top):
            seen += len(folders) + len(files)
            found.update(os.path.join(folder, name) for name in files if name.endswith(".py"))
            if seen > _WALK_LIMIT:
                break
    return found


def _installed(path: Sequence[str] | None) -> tuple[tuple[Distribution, ...], Owners]:
    """The distributions on ``path`` (default ``sys.path``) and the index of their files."""
    found = list(
        importlib.metadata.distributions(path=list(path) if path is not None else sys.path)
    )
    metadata = [_read_metadata(dist) for dist in found]
    named = [
        (dist, canonicalize_name(read[0]))
        for dist, read in zip(found, metadata, strict=True)
        if not isinstance(read, str) and read[0]
    ]
    owners = Owners.read(named)
    checkouts = _Checkouts()
    distributions = tuple(
        _distribution(dist, read, owners, checkouts)
        for dist, read in zip(found, metadata, strict=True)
    )
    return distributions, owners


class _Placer:
    """Places modules: the distribution that installed each, or local code noted on the way."""

    def __init__(self, owners: Owners, context: Path | None) -> None:
        self.owners = owners
        self.context = context
        self.folders = environment_folders()
        self.local: dict[str, LocalModule] = {}

    def place(self, origin: ModuleOrigin | None) -> str | None:
        """The distribution key of a module, noting it as local code when nobody installed it."""
        if origin is None or origin.name.startswith(_IGNORED_MODULES):
            return None
        key = self.owners.owner(origin)
        if key is not None or origin.file is None:
            return key
        if under(origin.file, self.folders):
            return None  # the standard library, or a stray file of the installation
        self.note_local(origin)
        return None

    def note_local(self, origin: ModuleOrigin) -> None:
        """Local code: copied into the image when inside the context, else named."""
        module = _local_module(origin, self.context)
        if not is_tooling(module.name):  # e.g. a polymagic checkout on PYTHONPATH
            self.local.setdefault(module.path, module)

    def places(self, names: Iterable[str], loaded: Mapping[str, object]) -> set[str]:
        return {key for name in sorted(names) if (key := self.place(resolve_module(name, loaded)))}


def _user_distributions(
    placer: _Placer, namespace: Mapping[str, Any], loaded: Mapping[str, object]
) -> tuple[set[str], set[str]]:
    """What the user's code imports (cells, then local modules, each read once) and what the
    namespace's values were defined in."""
    cells = code = user_code(namespace, [])
    files, modules = run_targets(namespace)
    for name in files:
        path = Path(name) if os.path.isabs(name) else (placer.context or Path.cwd()) / name
        if path.suffix == ".py" and path.is_file():
            placer.note_local(ModuleOrigin(path.stem, str(path)))
    used: set[str] = set(placer.places(modules, loaded))
    scanned: set[str] = set()
    for _ in range(8):  # helpers importing helpers
        used |= placer.places(code.imports, loaded)
        fresh = sorted(_sources(placer.local.values()) - scanned)
        if not fresh:
            break
        scanned.update(fresh)
        code = user_code({}, fresh)
    referenced = placer.places((name for name in cells.referenced if name in loaded), loaded)
    return used, referenced


def read_environment(
    *,
    user_namespace: Mapping[str, Any] | None = None,
    modules: Mapping[str, object] | None = None,
    path: Sequence[str] | None = None,
    context: Path | None = None,
) -> Environment:
    """The running interpreter as ``freeze`` reads it.

    ``modules`` defaults to ``sys.modules``; ``user_namespace`` (a kernel's ``user_ns``) holds the
    user's code (its cell history) and values. Without it (the command line), only the installed
    distributions are read.
    """
    distributions, owners = _installed(path)
    major, minor, micro = sys.version_info[:3]
    machine = platform.machine() or "x86_64"
    if user_namespace is None:
        return Environment((major, minor, micro), distributions, machine=machine)
    loaded = sys.modules if modules is None else modules
    placer = _Placer(owners, context)
    imported = {key for origin in loaded_origins(loaded) if (key := placer.place(origin))}
    used, referenced = _user_distributions(placer, user_namespace, loaded)
    asked = asked_for(cells(user_namespace), context)
    return Environment(
        python=(major, minor, micro),
        distributions=distributions,
        imported=frozenset(imported),
        used=frozenset(used),
        referenced=frozenset(referenced),
        local=tuple(sorted(placer.local.values(), key=lambda module: module.path)),
        machine=machine,
        asked=asked,
    )
