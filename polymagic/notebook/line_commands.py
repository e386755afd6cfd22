"""``%polybuild list|status|logs|cancel``: builds on the cluster, found by name from any
kernel, as views.

Connects when called (the Kubernetes client is imported then, not when the extension loads) and
closes the connection before returning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from polymagic.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from polymagic.kube.client import Cluster
    from polymagic.notebook.runner import NotebookBuild

__all__ = ["CLUSTER_COMMANDS", "run_cluster_command"]

CLUSTER_COMMANDS = ("status", "logs", "cancel", "list")


def run_cluster_command(
    command: str,
    rest: Sequence[str],
    namespace: str | None,
    running: Mapping[str, NotebookBuild],
) -> Any:
    """Run one of ``CLUSTER_COMMANDS`` in ``namespace`` (None: the kubeconfig context's): a
    view, or for ``cancel`` the sentence to print; a build this kernel follows (in
    ``running``) is stopped too by ``cancel``."""
    from polymagic.kube.client import connect

    cluster = connect(namespace=namespace)
    try:
        if command == "list":
            from polymagic.kube.session import find_builds
            from polymagic.notebook.status_views import BuildList

            return BuildList(find_builds(cluster, cluster.namespace), cluster.namespace)
        if not rest:
            raise UsageError(f"usage: %polybuild {command} NAME")
        if command == "status":
            return _status(cluster, rest[0])
        if command == "logs":
            return _logs(cluster, rest[0])
        return _cancel(cluster, rest[0], running)
    finally:
        cluster.close()


def _status(cluster: Cluster, name: str) -> Any:
    from polymagic.kube.session import find_builds
    from polymagic.notebook.status_views import BuildList

    found = find_builds(cluster, cluster.namespace, name)
    if not found:
        raise NotFoundError(name, cluster.namespace)
    return BuildList(found, cluster.namespace)


def _logs(cluster: Cluster, name: str) -> Any:
    from polymagic.notebook.status_views import LogView
    from polymagic.outcome.kaniko_log import strip_ansi
    from polymagic.render.build_objects import CONTAINER_NAME

    lines = cluster.pod_log(cluster.namespace, name, CONTAINER_NAME, follow=False)
    return LogView(name, [strip_ansi(line) for line in lines])


def _cancel(cluster: Cluster, name: str, running: Mapping[str, NotebookBuild]) -> str:
    from polymagic.kube.session import cancel_build

    if not cancel_build(cluster, name, cluster.namespace):
        raise NotFoundError(name, cluster.namespace)
    followed = running.get(name)
    if followed is not None:
        followed.session.cancel()
    return f"cancelled build `{name}` (pod and ConfigMap deleted)"
