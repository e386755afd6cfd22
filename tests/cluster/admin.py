"""The tests' own hands on the test cluster: secrets, service accounts, roles, reading pods.

polymagic's ``Cluster`` offers only the calls a build needs, as plain REST; tests set the stage
(and look behind it) with the generated client (``CoreV1Api``, ``RbacAuthorizationV1Api``),
under the same kubeconfig as the cluster they were given, on a connection of their own.
One ``ApiClient`` per kubeconfig serves the whole test process.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from polymagic.kube.client import Cluster
from polymagic.render.permissions import permission_checks

__all__ = ["core", "kubeconfig_of", "rbac", "wait_for_authorizer", "wait_until_builds_allowed"]

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


def wait_for_authorizer(
    user: Cluster,
    checks: Iterable[tuple[str, str, str]],
    *,
    allowed: bool,
    timeout: float,
) -> None:
    """Wait until the authorizer answers ``allowed`` for every ``(verb, resource,
    subresource)`` of ``checks`` in ``user``'s namespace.

    RBAC changes reach the apiserver's authorizer through an informer, a moment after the
    write returns: a build started at once can still be refused, or still be let through.
    """
    wanted = list(checks)
    deadline = time.monotonic() + timeout
    while True:
        wrong = [
            f"{verb} {resource}{'/' + sub if sub else ''}"
            for verb, resource, sub in wanted
            if user.can_i(verb, resource, user.namespace, sub) is not allowed
        ]
        if not wrong:
            return
        if time.monotonic() > deadline:
            still = "refuses" if allowed else "allows"
            raise AssertionError(f"after {timeout:g} s the authorizer still {still} {wrong}")
        time.sleep(0.1)


def wait_until_builds_allowed(user: Cluster, timeout: float = 15.0) -> None:
    """Wait until the authorizer lets ``user`` do everything a build needs in its namespace."""
    wait_for_authorizer(user, permission_checks(), allowed=True, timeout=timeout)
