"""Pod fields that widen what a build can reach, found in the pod polymagic would submit.

An operation's ``runPatch.container``, ``environment`` and ``volumes`` reach the build pod as
they are written, so a shared or copied operation can make the executor privileged, put it on
the node's network or process namespace, mount the node's filesystem or run it as another
service account. This module names those fields (:data:`WIDENING`), finds them in a pod
(:func:`widening_fields`) and refuses the ones the user did not allow (:func:`check_pod_fields`;
``--allow-pod-field NAME``). A service account given as the user's own option
(``--service-account``) is the user's choice, not the operation's, and is not refused.

Pure: reads a pod dict, raises :class:`PodFieldRefused`; no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from polymagic.errors import SpecError

__all__ = [
    "WIDENING",
    "PodFieldRefused",
    "WideningField",
    "check_pod_fields",
    "pod_field_lines",
    "widening_fields",
]

WIDENING: dict[str, str] = {
    "privileged": "runs the executor with every capability and the node's devices",
    "allowPrivilegeEscalation": "lets a process in the build gain more privileges than its parent",
    "capabilities": "adds Linux capabilities to the executor",
    "hostPID": "shares the node's process namespace: the build sees and can signal its processes",
    "hostIPC": "shares the node's IPC namespace",
    "hostNetwork": "puts the build on the node's network: it reaches what the node reaches",
    "hostPath": "mounts a folder of the node into the build",
    "serviceAccountName": "runs the build as that service account, with its permissions",
    "automountServiceAccountToken": "mounts the service account's API token into the build",
}
"""The fields refused unless allowed (``--allow-pod-field NAME``), and what each gives a build."""


@dataclass(frozen=True)
class WideningField:
    """One widening field in a pod."""

    name: str
    """Its name in :data:`WIDENING` (what ``--allow-pod-field`` takes)."""
    source: str
    """Where the operation sets it (``run.container.securityContext.privileged``)."""
    value: str
    """Its value, as written in the pod (``true``, ``/``, ``["SYS_ADMIN"]``)."""

    def describe(self) -> str:
        """``hostNetwork (environment.hostNetwork: true): puts the build on ...``."""
        return f"{self.name} ({self.source}: {self.value}): {WIDENING[self.name]}"


class PodFieldRefused(SpecError):
    """Raised when the pod would carry a widening field the user did not allow."""


def _shown(value: Any) -> str:
    if value is True:
        return "true"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _container_fields(container: Mapping[str, Any], source: str) -> Iterator[WideningField]:
    context = container.get("securityContext")
    if not isinstance(context, Mapping):
        return
    where = f"{source}.securityContext"
    if context.get("privileged") is True:
        yield WideningField("privileged", f"{where}.privileged", "true")
    if context.get("allowPrivilegeEscalation") is True:
        yield WideningField("allowPrivilegeEscalation", f"{where}.allowPrivilegeEscalation", "true")
    capabilities = context.get("capabilities")
    added = capabilities.get("add") if isinstance(capabilities, Mapping) else None
    if added:
        yield WideningField("capabilities", f"{where}.capabilities.add", _shown(added))


def widening_fields(
    pod: Mapping[str, Any], *, service_account: str | None = None
) -> list[WideningField]:
    """The widening fields in ``pod`` (a Pod object or its spec), in the order above; a
    ``serviceAccountName`` equal to ``service_account`` (the user's own option) is left out."""
    spec = pod.get("spec", pod)
    if not isinstance(spec, Mapping):
        return []
    found: list[WideningField] = []
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        containers = spec.get(kind)
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if isinstance(container, Mapping):
                # The build pod's one container is the operation's run.container.
                source = "run.container" if kind == "containers" else f"spec.{kind}[{index}]"
                found += _container_fields(container, source)
    for name in ("hostPID", "hostIPC", "hostNetwork"):
        if spec.get(name) is True:
            found.append(WideningField(name, f"environment.{name}", "true"))
    volumes = spec.get("volumes")
    for index, volume in enumerate(volumes if isinstance(volumes, list) else []):
        if isinstance(volume, Mapping) and "hostPath" in volume:
            host_path = volume["hostPath"]
            path = host_path.get("path") if isinstance(host_path, Mapping) else host_path
            # The operation's volumes come first in the pod (polymagic's own follow).
            found.append(WideningField("hostPath", f"run.volumes[{index}].hostPath", _shown(path)))
    account = spec.get("serviceAccountName")
    if account and account != service_account:
        found.append(
            WideningField("serviceAccountName", "environment.serviceAccountName", _shown(account))
        )
    if spec.get("automountServiceAccountToken") is True:
        found.append(
            WideningField("automountServiceAccountToken", "automountServiceAccountToken", "true")
        )
    order = list(WIDENING)
    return sorted(found, key=lambda f: order.index(f.name))


def check_pod_fields(
    pod: Mapping[str, Any], allowed: Collection[str], *, service_account: str | None = None
) -> list[WideningField]:
    """The widening fields of ``pod``, all in ``allowed``; :class:`PodFieldRefused` naming the
    first that is not (and how to allow it). An unknown name in ``allowed`` is refused too."""
    unknown = [name for name in allowed if name not in WIDENING]
    if unknown:
        raise PodFieldRefused(
            f"`{unknown[0]}` is not a pod field polymagic refuses; --allow-pod-field takes one"
            f" of {', '.join(WIDENING)}",
            path="--allow-pod-field",
        )
    found = widening_fields(pod, service_account=service_account)
    for field in found:
        if field.name not in allowed:
            raise PodFieldRefused(
                f"`{field.value}` {WIDENING[field.name]}; refused: if this build needs it, pass"
                f" --allow-pod-field {field.name}",
                path=field.source,
            )
    return found


def pod_field_lines(
    pod: Mapping[str, Any], allowed: Collection[str] = (), *, service_account: str | None = None
) -> list[str]:
    """What a view of the manifests says about ``pod``'s widening fields: one line each,
    allowed or to be refused at submission."""
    lines = []
    for field in widening_fields(pod, service_account=service_account):
        verdict = (
            "allowed (--allow-pod-field)"
            if field.name in allowed
            else f"refused at submission unless --allow-pod-field {field.name}"
        )
        lines.append(f"{field.describe()}; {verdict}")
    return lines
