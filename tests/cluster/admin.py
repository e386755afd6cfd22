"""The tests' own hands on the test cluster: secrets, service accounts, roles, reading pods.

polymagic's ``Cluster`` offers only the calls a build needs, as plain REST; tests set the stage
(and look behind it) with the generated client (``CoreV1Api``, ``RbacAuthorizationV1Api``),
under the same kubeconfig as the cluster they were given, on a connection of their own.
One ``ApiClient`` per kubeconfig serves the whole test process.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from polymagic.kube.client import Cluster

__all__ = ["core", "kubeconfig_of", "rbac"]

KUBECONFIG_SOURCE = "kubeconfig "


def kubeconfig_of(cluster: Cluster) -> Path:
    """The kubeconfig ``cluster`` logged in with (its ``source`` names it)."""
    if not cluster.source.startswith(KUBECONFIG_SOURCE):
        raise ValueError(f"{cluster.source!r} was not logged in with a kubeconfig")
    return Path(cluster.source.removeprefix(KUBECONFIG_SOURCE))


@functools.cache
def _api_client(kubeconfig: Path) -> Any:
    from kubernetes import config

    new_client: Any = config.new_client_from_config  # untyped
    return new_client(config_file=str(kubeconfig))


def _client_of(target: Cluster | Path) -> Any:
    return _api_client(kubeconfig_of(target) if isinstance(target, Cluster) else Path(target))


def core(target: Cluster | Path) -> Any:
    """A ``CoreV1Api`` with the credentials of ``target`` (a cluster, or a kubeconfig path)."""
    from kubernetes import client

    return client.CoreV1Api(_client_of(target))


def rbac(target: Cluster | Path) -> Any:
    """An ``RbacAuthorizationV1Api`` with the credentials of ``target``."""
    from kubernetes import client

    return client.RbacAuthorizationV1Api(_client_of(target))
