"""What polymagic may do on a cluster: the one list of API permissions it uses.

The preflight checks exactly these before it creates anything, and ``polymagic rbac`` prints them
as a Role and RoleBinding, so an administrator can grant a notebook's service account what a build
needs and nothing more. What ``pods: create`` implies (any Secret of the namespace can be
mounted), and reading the API server's Pod Security refusal, live here too. Pure: plain dicts,
no client.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from polymagic.render.kube_names import check_namespace, check_object_name

__all__ = [
    "PERMISSIONS",
    "PODS_CREATE_IMPLIES",
    "POD_SECURITY_LABEL",
    "Permission",
    "PodSecurityRefusal",
    "permission_checks",
    "pod_security_refusal",
    "rbac_objects",
]

RBAC_API = "rbac.authorization.k8s.io/v1"
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"
"""The namespace label Pod Security admission enforces; the executor needs ``baseline``."""

PODS_CREATE_IMPLIES = (
    "`pods: create` lets the account start a pod that mounts any Secret in the namespace, so"
    " `secrets: get` by name limits what it reads through the API, not what it can reach: run"
    " builds in a dedicated namespace that holds only the registry Secret, labelled"
    f" `{POD_SECURITY_LABEL}=baseline` (Kaniko's executor runs as root, which `restricted`"
    " refuses)"
)
"""The one paragraph ``polymagic rbac --help`` and the README give about ``pods: create``."""


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
    """The Role with exactly polymagic's permissions, and its binding to ``service_account``.

    Every name is checked as the API server checks the object it names (``*`` and the empty
    name are not names: a Role's ``resourceNames`` would take them and grant nothing useful).
    """
    check_namespace(namespace)
    check_object_name(service_account, "service account", "--service-account")
    for secret in secrets:
        check_object_name(secret, "secret", "--secret")
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


# -- Pod Security admission ----------------------------------------------------------------------

# The API server's words (k8s.io/pod-security-admission): `pods "x" is forbidden: violates
# PodSecurity "restricted:latest": allowPrivilegeEscalation != false (...), ...`.
_VIOLATES = re.compile(
    r'violates PodSecurity "(?P<level>[a-z]+)(?::[^"]*)?"(?::\s*(?P<what>.*))?', re.S
)


@dataclass(frozen=True)
class PodSecurityRefusal:
    """A pod refused by Pod Security admission: the namespace's level and what it named."""

    level: str
    violations: str


def pod_security_refusal(message: str) -> PodSecurityRefusal | None:
    """What a 403's message says when Pod Security admission refused a pod, else None."""
    found = _VIOLATES.search(message)
    if found is None:
        return None
    return PodSecurityRefusal(found.group("level"), (found.group("what") or "").strip())
