"""The one build workflow both front ends run: resolve the settings, load and compile the
operation, decide where it goes, then (for a real build) log in and submit.

``plan_build`` does everything up to the submission and returns a :class:`BuildPlan`: the
compiled build, the options it runs with, the namespace and executor image it will use and where
each came from, and the catalog. The command line prints the plan, the notebook shows it as
views, and both submit from it, so a dry run shows exactly where the real build goes (the same
namespace: the option, else the setting, else the kubeconfig context's). Submitting and following
are ``kube.session``'s; ``connect_for`` logs in to the cluster the plan names.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymagic.app.arguments import build_options, with_options
from polymagic.app.base_digest import BaseDigest, base_line
from polymagic.app.provenance_options import with_base
from polymagic.app.settings import Settings, Source, wanted_views
from polymagic.errors import ClusterConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from polymagic.config import ConnectionsSource
    from polymagic.kube.client import Cluster
    from polymagic.kube.kubeconfig import ClusterTarget
    from polymagic.registry import RegistryAuth
    from polymagic.render.compiler import CompiledBuild
    from polymagic.render.options import BuildOptions

__all__ = ["BuildPlan", "connect_for", "plan_build"]


@dataclass(frozen=True)
class BuildPlan:
    """What a build will be, before anything is submitted."""

    build: CompiledBuild
    options: BuildOptions
    """The options it runs with; ``namespace`` is always resolved."""
    settings: Settings
    """Every setting, with the command line's or the magic's options over them and the
    namespace's origin (the kubeconfig context, when no one set it)."""
    connections: ConnectionsSource
    target: ClusterTarget | None
    """The cluster configuration a real build logs in with; None when there is none."""
    no_cluster: ClusterConfigError | None
    """Why there is no cluster configuration (None when there is one)."""
    views: tuple[str, ...]
    """The views to show before the build, from ``show``; the manifests view is always among
    them when the executor image or the catalog came from a project file."""
    executor_image: str
    """The executor image the pod runs."""
    base: BaseDigest | None = None
    """The base image and its digest, resolved before submitting (``app.base_digest``)."""

    @property
    def namespace(self) -> str:
        return self.options.namespace or "default"

    def settings_lines(self) -> list[str]:
        """Where the build goes and with what, one line each, naming where each setting that
        is not at its built-in default came from."""
        lines = [
            f"namespace: {self.namespace} (from {self.settings.origin('namespace')})",
            f"cluster: {self.target.source if self.target else 'none configured'}",
            f"executor image: {self.executor_image} ({self._executor_origin()})",
            f"connections: {self.connections.origin}"
            + (
                f" (from {self.settings.origin('connections_file')})"
                if self.settings.source("connections_file") is not Source.DEFAULT
                else ""
            ),
        ]
        if self.base is not None:
            lines.append(base_line(self.base))
        lines.append(self._attest_line())
        for name, found in self.settings.non_default():
            if name in ("namespace", "executor_image", "connections_file", "attest", "sign_key"):
                continue
            lines.append(f"{name}: {_shown(found.value)} (from {found.origin})")
        return lines

    def _attest_line(self) -> str:
        """What is attached after the push, and the setting that says so."""
        origin = self.settings.origin("attest")
        if not self.options.attest:
            return f"attest: no SBOM or provenance attached (from {origin})"
        signed = ""
        if self.options.sign_key:
            signed = f", signed with cosign (key from {self.settings.origin('sign_key')})"
        return (
            "attest: after the push, the image's SBOM and provenance are attached to it"
            f"{signed} (from {origin}; --no-attest to skip)"
        )

    def _executor_origin(self) -> str:
        if self.settings["executor_image"]:
            return f"from {self.settings.origin('executor_image')}"
        return "polymagic's executor for the component's image"


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _namespace(settings: Settings, target: ClusterTarget | None) -> tuple[Settings, str]:
    """The namespace: an option or setting, else the kubeconfig context's, else ``default``."""
    given = settings["namespace"]
    if given:
        return settings, str(given)
    if target is None:
        origin = "polymagic's default: no cluster is configured"
        return settings.given("namespace", "default", Source.DEFAULT, origin), "default"
    context = f" `{target.context}`" if target.context else ""
    origin = f"the context{context} of {target.source}"
    return settings.given("namespace", target.namespace, Source.KUBECONFIG, origin), (
        target.namespace
    )


def plan_build(
    source: str | Path | Mapping[str, Any],
    args: argparse.Namespace,
    settings: Settings,
    *,
    context_dir: Path,
    params: Sequence[str] | Mapping[str, Any] = (),
    show: str | None = None,
) -> BuildPlan:
    """Everything a build does before it submits: settings with ``args`` over them, the
    cluster configuration's namespace (read, not logged in), the catalog, the compile.

    ``show`` is the views the line asked for (None: the ``show`` setting's).
    """
    from polymagic.config import compile_with_connections, find_connections
    from polymagic.kube.kubeconfig import find_cluster_target
    from polymagic.render.manifests import executor_image_for

    settings = with_options(settings, args)
    # A bad option is the only thing said: checked before the catalog and the compile.
    options = build_options(args, context_dir=context_dir, settings=settings)
    target: ClusterTarget | None = None
    no_cluster: ClusterConfigError | None = None
    try:
        target = find_cluster_target()
    except ClusterConfigError as exc:
        no_cluster = exc
    settings, namespace = _namespace(settings, target)
    options = replace(options, namespace=namespace)
    connections = find_connections(settings["connections_file"])
    build = compile_with_connections(source, connections, params=params, namespace=namespace)
    if options.sign_key:
        from polymagic.app.signing import check_cosign

        check_cosign()
    reader = _secret_reader(target, namespace, build)
    build, kaniko, base = with_base(build, options.kaniko, args, reader)
    options = replace(options, kaniko=kaniko)
    views = wanted_views(show if show is not None else str(settings["show"]))
    steered = [
        name
        for name in ("executor_image", "connections_file")
        if settings.source(name) is Source.PROJECT
    ]
    if steered and "manifests" not in views:
        views.append("manifests")
    return BuildPlan(
        build=build,
        options=options,
        settings=settings,
        connections=connections,
        target=target,
        no_cluster=no_cluster,
        views=tuple(views),
        executor_image=executor_image_for(build, options.executor_image),
        base=base,
    )


def _secret_reader(
    target: ClusterTarget | None, namespace: str, build: CompiledBuild
) -> Callable[[str], RegistryAuth | None] | None:
    """What reads the destination connection's Secret for a registry host (the base image's,
    when it is the destination's registry: the build pulls it with these); None without a
    cluster or a Secret. The cluster is logged in to only when asked."""
    from polymagic.kube.reuse import destination_secret

    secret = destination_secret(build)
    if target is None or secret is None:
        return None

    def read(host: str) -> RegistryAuth | None:
        from polymagic.errors import ClusterError
        from polymagic.kube.client import connect
        from polymagic.kube.reuse import secret_auth

        try:
            cluster = connect(namespace=namespace)
        except (ClusterConfigError, ClusterError):
            return None
        try:
            return secret_auth(cluster, namespace, secret, host)
        finally:
            cluster.close()

    return read


def connect_for(plan: BuildPlan) -> Cluster:
    """Log in to the cluster ``plan`` names, in its namespace (a ``ClusterConfigError`` when
    there is none)."""
    from polymagic.kube.client import connect

    if plan.no_cluster is not None:
        raise plan.no_cluster
    return connect(namespace=plan.namespace)
