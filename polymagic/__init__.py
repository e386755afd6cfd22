"""polymagic: build container images on Kubernetes from a notebook, with Polyaxon's build
operation (a ``dockerfile`` init and the ``kaniko`` component) as the spec.

This module is the public Python API, and the only one: the names in ``__all__`` (listed with
a line each in docs/api.md) are what polymagic promises to keep; every other module is internal
and may change in any release. They are re-exported lazily so that ``%load_ext polymagic`` and
``import polymagic`` stay fast (no Kubernetes client, no widgets until they are used).

    operation = polymagic.load_operation(Path("build.yaml"))    # or compile straight away:
    build = polymagic.compile_operation(Path("build.yaml"), connections=catalog)
    cluster = polymagic.connect()                                # kubeconfig or in-cluster
    result = polymagic.build_image(cluster, build, polymagic.BuildOptions(namespace="ml"))
    print(result.image)                                          # registry/repo:tag@sha256:...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polymagic._version import __version__

__all__ = [
    "ApiError",
    "BuildCancelled",
    "BuildError",
    "BuildFailed",
    "BuildManifests",
    "BuildOptions",
    "BuildResult",
    "BuildSession",
    "BuildStatus",
    "BuildTimeout",
    "ClusterConfigError",
    "ClusterError",
    "CompiledBuild",
    "ConnectionsError",
    "KanikoOptions",
    "LimitError",
    "NotFoundError",
    "ParamError",
    "PolymagicError",
    "PreflightError",
    "SpecError",
    "UsageError",
    "__version__",
    "attach_build",
    "build_image",
    "build_manifests",
    "cancel_build",
    "compile_operation",
    "connect",
    "find_builds",
    "load_connections",
    "load_ipython_extension",
    "load_operation",
    "render_dockerfile",
    "start_build",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from polymagic.errors import (
        ApiError,
        BuildCancelled,
        BuildError,
        BuildFailed,
        BuildTimeout,
        ClusterConfigError,
        ClusterError,
        ConnectionsError,
        LimitError,
        NotFoundError,
        ParamError,
        PolymagicError,
        PreflightError,
        SpecError,
        UsageError,
    )
    from polymagic.kube.client import connect
    from polymagic.kube.session import (
        BuildSession,
        attach_build,
        build_image,
        cancel_build,
        find_builds,
        start_build,
    )
    from polymagic.outcome.result import BuildResult, BuildStatus
    from polymagic.render.build_objects import BuildManifests, KanikoOptions
    from polymagic.render.compiler import CompiledBuild, compile_operation
    from polymagic.render.dockerfile import render_dockerfile
    from polymagic.render.manifests import build_manifests
    from polymagic.render.options import BuildOptions
    from polymagic.spec.loader import load_connections, load_operation

_LAZY = {
    "ApiError": "polymagic.errors",
    "BuildCancelled": "polymagic.errors",
    "BuildError": "polymagic.errors",
    "BuildFailed": "polymagic.errors",
    "BuildManifests": "polymagic.render.build_objects",
    "BuildOptions": "polymagic.render.options",
    "BuildResult": "polymagic.outcome.result",
    "BuildSession": "polymagic.kube.session",
    "BuildStatus": "polymagic.outcome.result",
    "BuildTimeout": "polymagic.errors",
    "ClusterConfigError": "polymagic.errors",
    "ClusterError": "polymagic.errors",
    "CompiledBuild": "polymagic.render.compiler",
    "ConnectionsError": "polymagic.errors",
    "KanikoOptions": "polymagic.render.build_objects",
    "LimitError": "polymagic.errors",
    "NotFoundError": "polymagic.errors",
    "ParamError": "polymagic.errors",
    "PolymagicError": "polymagic.errors",
    "PreflightError": "polymagic.errors",
    "SpecError": "polymagic.errors",
    "UsageError": "polymagic.errors",
    "attach_build": "polymagic.kube.session",
    "build_image": "polymagic.kube.session",
    "build_manifests": "polymagic.render.manifests",
    "cancel_build": "polymagic.kube.session",
    "compile_operation": "polymagic.render.compiler",
    "connect": "polymagic.kube.client",
    "find_builds": "polymagic.kube.session",
    "load_connections": "polymagic.spec.loader",
    "load_operation": "polymagic.spec.loader",
    "render_dockerfile": "polymagic.render.dockerfile",
    "start_build": "polymagic.kube.session",
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
