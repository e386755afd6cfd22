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
    "load_operation",
    "render_dockerfile",
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polymagic' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
