"""polymagic: build container images on Kubernetes from a notebook, with Polyaxon's build
operation (a ``dockerfile`` init and the ``kaniko`` component) as the spec.

The public API is re-exported here lazily so that ``%load_ext polymagic`` and ``import
polymagic`` stay fast (no Kubernetes client, no widgets until they are used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BuildManifests",
    "CompiledBuild",
    "PolymagicError",
    "__version__",
    "build_manifests",
    "compile_operation",
    "load_connections",
    "load_ipython_extension",
    "load_operation",
    "render_dockerfile",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from polymagic.compiler import CompiledBuild, compile_operation
    from polymagic.dockerfile import render_dockerfile
    from polymagic.errors import PolymagicError
    from polymagic.loader import load_connections, load_operation
    from polymagic.manifests import BuildManifests, build_manifests

_LAZY = {
    "CompiledBuild": "polymagic.compiler",
    "compile_operation": "polymagic.compiler",
    "render_dockerfile": "polymagic.dockerfile",
    "PolymagicError": "polymagic.errors",
    "load_connections": "polymagic.loader",
    "load_operation": "polymagic.loader",
    "BuildManifests": "polymagic.manifests",
    "build_manifests": "polymagic.manifests",
}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext polymagic``: register ``%%polybuild`` and ``%polybuild`` (no cluster client
    is imported until a build runs)."""
    from polymagic.notebook.magics import PolyBuildMagics

    ipython.register_magics(PolyBuildMagics(shell=ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext polymagic``: remove the magics again."""
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("polybuild", None)
    ipython.configurables[:] = [
        c for c in ipython.configurables if type(c).__name__ != "PolyBuildMagics"
    ]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polymagic' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
