"""polymagic: build container images on Kubernetes from a notebook, with Polyaxon's build
operation (a ``dockerfile`` init and the ``kaniko`` component) as the spec.

The public API is re-exported here lazily so that ``%load_ext polymagic`` and ``import
polymagic`` stay fast (no Kubernetes client, no widgets until they are used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polymagic._version import __version__

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
    from polymagic.errors import PolymagicError
    from polymagic.render.build_objects import BuildManifests
    from polymagic.render.compiler import CompiledBuild, compile_operation
    from polymagic.render.dockerfile import render_dockerfile
    from polymagic.render.manifests import build_manifests
    from polymagic.spec.loader import load_connections, load_operation

_LAZY = {
    "CompiledBuild": "polymagic.render.compiler",
    "compile_operation": "polymagic.render.compiler",
    "render_dockerfile": "polymagic.render.dockerfile",
    "PolymagicError": "polymagic.errors",
    "load_connections": "polymagic.spec.loader",
    "load_operation": "polymagic.spec.loader",
    "BuildManifests": "polymagic.render.build_objects",
    "build_manifests": "polymagic.render.manifests",
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
