"""Reading the running interpreter for ``freeze``: its Python version, its installed
distributions (``importlib.metadata``) and what the session has imported.

Reads files of the local Python installation only (each metadata file bounded in size); writes
nothing. The decisions (what to pin, what to leave out) belong to ``polymagic.render.freeze``.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from polymagic.render.freeze import Distribution, Environment

__all__ = ["read_environment"]

METADATA_FILE_LIMIT = 1024 * 1024
"""A ``direct_url.json`` or ``top_level.txt`` larger than this is treated as unreadable."""
_IGNORED_MODULES = ("__editable__", "_distutils_hack", "__main__", "__mp_main__")


def _read(dist: importlib.metadata.Distribution, name: str) -> str | None:
    try:
        text = dist.read_text(name)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if text is not None and len(text) > METADATA_FILE_LIMIT:
        return None
    return text


def _top_level(dist: importlib.metadata.Distribution) -> tuple[str, ...]:
    """The top-level modules a distribution provides, from ``top_level.txt`` or its RECORD."""
    text = _read(dist, "top_level.txt")
    if text is not None:
        return tuple(sorted({line.strip() for line in text.splitlines() if line.strip()}))
    names: set[str] = set()
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")):
            continue
        if parts[0] in ("..", "__pycache__") or parts[0].endswith(".pth"):
            continue
        top = parts[0]
        if len(parts) == 1:
            if not top.endswith((".py", ".so", ".pyd")):
                continue
            top = top.split(".", 1)[0]
        names.add(top)
    return tuple(sorted(names))


def _distribution(dist: importlib.metadata.Distribution) -> Distribution:
    location = str(getattr(dist, "_path", "") or "") or None
    try:
        name = dist.metadata["Name"] or ""
        version = dist.version or ""
        requires = tuple(dist.requires or ())
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return Distribution("", "", location=location, problem=f"unreadable: {exc}")
    if not name or not version:
        missing = "no name" if not name else "no version"
        return Distribution(name, version, location=location, problem=missing)
    direct_url: Mapping[str, Any] | None = None
    problem = None
    raw = _read(dist, "direct_url.json")
    if raw is not None:
        try:
            loaded = json.loads(raw)
        except ValueError:
            problem = "its direct_url.json is not JSON"
        else:
            if isinstance(loaded, dict):
                direct_url = loaded
            else:
                problem = "its direct_url.json is not an object"
    return Distribution(
        name=name,
        version=version,
        requires=requires,
        top_level=_top_level(dist),
        direct_url=direct_url,
        requested=_read(dist, "REQUESTED") is not None,
        location=location,
        problem=problem,
    )


def _top_names(modules: Iterable[str]) -> frozenset[str]:
    return frozenset(
        name.split(".", 1)[0] for name in modules if not name.startswith(_IGNORED_MODULES)
    )


def _used_modules(namespace: Mapping[str, Any]) -> set[str]:
    """The modules the user's own names come from: ``import numpy as np``, ``from pandas
    import DataFrame``, ``df = pandas.DataFrame()``."""
    found: set[str] = set()
    for key, value in list(namespace.items()):
        if key.startswith("_"):
            continue  # IPython's own history and the builtins
        if isinstance(value, types.ModuleType):
            found.add(value.__name__)
            continue
        module = getattr(value, "__module__", None)
        if not isinstance(module, str):
            module = type(value).__module__
        if isinstance(module, str):
            found.add(module)
    return found


def read_environment(
    *,
    user_namespace: Mapping[str, Any] | None = None,
    modules: Iterable[str] | None = None,
    path: Sequence[str] | None = None,
) -> Environment:
    """The running interpreter as ``freeze`` reads it.

    ``modules`` defaults to ``sys.modules``; ``user_namespace`` (a kernel's ``user_ns``) tells
    which of them the user's own code refers to.
    """
    found = importlib.metadata.distributions(path=list(path) if path is not None else sys.path)
    distributions = tuple(_distribution(dist) for dist in found)
    imported = _top_names(sys.modules if modules is None else modules)
    used = _top_names(_used_modules(user_namespace or {}))
    major, minor, micro = sys.version_info[:3]
    return Environment(
        python=(major, minor, micro),
        distributions=distributions,
        imported=imported,
        used=used,
        machine=platform.machine() or "x86_64",
    )
