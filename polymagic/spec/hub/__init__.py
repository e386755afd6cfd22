"""The bundled hub components (``hubRef``), so builds resolve offline and reproducibly.

Polyaxon fetches hub components from its hub at run time; polymagic ships the ones a build
needs as versioned YAML files inside the package. Reads package data only.
"""

from __future__ import annotations

import functools
from importlib import resources

from polymagic.errors import SpecError
from polymagic.spec.documents import Component
from polymagic.spec.loader import Loaded, load_component

__all__ = ["hub_component", "hub_versions"]

# name -> {version or alias: file}; ``latest`` and the bare name point at the newest version.
_CATALOG: dict[str, dict[str, str]] = {
    "kaniko": {"1.2": "kaniko-1.2.yaml", "latest": "kaniko-1.2.yaml"},
}


def hub_versions() -> dict[str, list[str]]:
    """Every bundled component and the versions (and aliases) it can be asked for by."""
    return {name: sorted(versions) for name, versions in _CATALOG.items()}


@functools.lru_cache(maxsize=32)
def hub_component(ref: str) -> Loaded[Component]:
    """The component for a ``hubRef`` such as ``kaniko``, ``kaniko:latest`` or ``kaniko:1.2``.

    Cached: the result is immutable (frozen models), so every build can share it.
    """
    name, _, version = ref.partition(":")
    owner, slash, short = name.rpartition("/")
    if slash and owner in ("polyaxon", ""):
        name = short
    versions = _CATALOG.get(name)
    if versions is None:
        known = ", ".join(f"`{n}`" for n in _CATALOG)
        raise SpecError(
            f"hub component `{ref}` is not bundled with polymagic (available: {known});"
            " use `pathRef` to point at a component file instead",
            path="hubRef",
        )
    filename = versions.get(version or "latest")
    if filename is None:
        known = ", ".join(f"`{name}:{v}`" for v in sorted(versions))
        raise SpecError(f"`{ref}`: no such version (available: {known})", path="hubRef")
    text = resources.files("polymagic.spec.hub").joinpath(filename).read_text(encoding="utf-8")
    return load_component(text)
