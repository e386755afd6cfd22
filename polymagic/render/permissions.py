"""What polymagic may do on a cluster: the one list of API permissions it uses.

The preflight checks exactly these before it creates anything, and ``polymagic rbac`` prints them
as a Role and RoleBinding, so an administrator can grant a notebook's service account what a build
needs and nothing more. Pure: plain dicts, no client.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PERMISSIONS", "Permission", "permission_checks", "rbac_objects"]

RBAC_API = "rbac.authorization.k8s.io/v1"


@dataclass(frozen=True)
class Permission:
    """Verbs on one resource (``pods``) or subresource (``pods/log``) in the build's namespace."""

    resource: str
    verbs: tuple[str, ...]
    subresource: str = ""
    why: str = ""

    @property
    def rule_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "pods",
        ("create", "get", "list", "watch", "delete"),
        why="run the executor pod, follow it, find builds by label, cancel and clean up",
    ),
    Permission("pods", ("get",), "log", why="read the executor's log"),
    Permission(
        "configmaps",
        ("create", "get", "patch", "delete"),
        why="the build context; patched to be owned by the pod, so the cluster collects it",
    ),
    Permission("events", ("list",), why="say why a pod is stuck (pull errors, mounts, scheduling)"),
)
"""Everything polymagic does in a namespace, except reading the registry secret (below)."""


def permission_checks() -> Iterator[tuple[str, str, str]]:
    """``(verb, resource, subresource)`` for every permission, in order, for the preflight."""
    for permission in PERMISSIONS:
        for verb in permission.verbs:
            yield verb, permission.resource, permission.subresource


def _role_rules(secrets: Sequence[str]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for permission in PERMISSIONS:
        rules.append(
            {
                "apiGroups": [""],
                "resources": [permission.rule_resource],
                "verbs": list(permission.verbs),
            }
        )
    if secrets:
        # Only the named registry secrets, only `get`: the preflight reads a secret's type to
        # mount it right, and the reuse check its credentials to ask the registry one question.
        rules.append(
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": sorted(set(secrets)),
                "verbs": ["get"],
            }
        )
    return rules


def rbac_objects(
    namespace: str, service_account: str, secrets: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The Role with exactly polymagic's permissions, and its binding to ``service_account``."""
    name = "polymagic-builder"
    role = {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": _role_rules(secrets),
    }
    binding = {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }
    return [role, binding]
