"""The build pod's spec: what the operation's ``environment`` gives it (node selector,
tolerations, security context, ...), the executor's container (image, arguments, resources with
polymagic's scratch-space request, the RuntimeDefault seccomp profile, env and mounts) and the pod
around it (``activeDeadlineSeconds``, ``restartPolicy: Never``, no service account token). Pure.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from polymagic.errors import SpecError
from polymagic.render.build_objects import (
    CONTAINER_NAME,
    EPHEMERAL_STORAGE_REQUEST,
    KanikoOptions,
)
from polymagic.render.compiler import CompiledBuild
from polymagic.render.pod_wiring import Wiring
from polymagic.spec.models import Container, Environment

__all__ = ["PodEnvironment", "active_deadline", "executor_container", "pod_environment", "pod_spec"]


@dataclass(frozen=True)
class PodEnvironment:
    """What the operation's ``environment`` gives the pod."""

    spec: dict[str, Any]
    """Pod spec fields, in the order they are set."""
    labels: dict[str, str]
    annotations: dict[str, str]
    warnings: tuple[str, ...] = ()


def pod_environment(environment: Environment | None) -> PodEnvironment:
    if environment is None:
        return PodEnvironment({}, {}, {})
    spec: dict[str, Any] = {}
    if environment.node_selector:
        spec["nodeSelector"] = {k: str(v) for k, v in environment.node_selector.items()}
    simple: dict[str, Any] = {
        "affinity": environment.affinity,
        "tolerations": environment.tolerations,
        "nodeName": environment.node_name,
        "serviceAccountName": environment.service_account_name,
        "hostAliases": environment.host_aliases,
        "securityContext": environment.security_context,
        "hostNetwork": environment.host_network,
        "hostPID": environment.host_pid,
        "dnsPolicy": environment.dns_policy,
        "dnsConfig": environment.dns_config,
        "schedulerName": environment.scheduler_name,
        "priorityClassName": environment.priority_class_name,
        "priority": environment.priority,
    }
    spec.update((key, value) for key, value in simple.items() if value is not None)
    if environment.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in environment.image_pull_secrets]
    warnings: tuple[str, ...] = ()
    if environment.restart_policy not in (None, "Never"):
        warnings = (
            f"environment.restartPolicy `{environment.restart_policy}` is ignored: a build pod never restarts",
        )
    labels = {k: str(v) for k, v in (environment.labels or {}).items()}
    annotations = {k: str(v) for k, v in (environment.annotations or {}).items()}
    return PodEnvironment(spec, labels, annotations, warnings)


_CONTAINER_PASSTHROUGH = (
    "imagePullPolicy",
    "command",
    "workingDir",
    "envFrom",
    "env",
    "resources",
    "ports",
    "securityContext",
    "volumeDevices",
    "lifecycle",
)


def _env_var(item: Mapping[str, Any]) -> dict[str, Any]:
    value = item.get("value")
    if value is None or isinstance(value, str):
        return dict(item)
    return {**item, "value": str(value)}


def active_deadline(termination_timeout: int | None, timeout: float) -> int:
    if timeout <= 0:
        raise SpecError(f"the timeout must be more than 0 seconds, got {timeout:g}", path="timeout")
    overall = math.ceil(timeout)
    return min(termination_timeout, overall) if termination_timeout else overall


def _with_scratch_space(resources: Any) -> Any:
    """``resources`` (a copy) with a scratch-space request, unless it sets ephemeral storage:
    Kaniko unpacks the base image into the container's own filesystem."""
    # A copy: these dicts may be the operation's or the caller's options.
    resources = copy.deepcopy(resources or {})
    if isinstance(resources, dict):
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if isinstance(requests, dict) and isinstance(limits, dict):
            if "ephemeral-storage" not in requests and "ephemeral-storage" not in limits:
                requests["ephemeral-storage"] = EPHEMERAL_STORAGE_REQUEST
            resources["requests"] = requests
    return resources


def _with_seccomp_default(security_context: Any) -> Any:
    """The pod's ``securityContext`` (a copy) with the runtime's default seccomp profile, unless
    it names one: Kaniko needs no extra syscalls."""
    context = copy.deepcopy(security_context or {})
    if isinstance(context, dict):
        context.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    return context


def executor_container(
    container: Container, image: str, args: list[str], wiring: Wiring, options: KanikoOptions
) -> dict[str, Any]:
    """The pod's one container: the component's, with the executor's image and args, the
    files and connections wired in, and the options' resource amounts (which win)."""
    pod_container: dict[str, Any] = {"name": CONTAINER_NAME, "image": image, "args": args}
    source = container.to_polyaxon()
    for key in _CONTAINER_PASSTHROUGH:
        if key in source:
            pod_container[key] = source[key]
    if "command" in pod_container:
        pod_container["command"] = [c for c in pod_container["command"] if c]
    env = [*pod_container.get("env", []), *wiring.env]
    if env:
        # Polyaxon reads env values back as literals (1, True); Kubernetes only takes strings.
        pod_container["env"] = [_env_var(item) for item in env]
    if wiring.env_from:
        pod_container["envFrom"] = [*pod_container.get("envFrom", []), *wiring.env_from]
    pod_container["volumeMounts"] = [*source.get("volumeMounts", []), *wiring.mounts]
    # On failure the kubelet puts the log tail (Kaniko's error line) in the termination message.
    pod_container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    resources = _with_options(pod_container.get("resources"), options.resources)
    pod_container["resources"] = _with_scratch_space(resources)
    return pod_container


def _with_options(resources: Any, overrides: Mapping[str, Any] | None) -> Any:
    """The operation's container ``resources`` (a copy) with the options' amounts over them,
    amount by amount: ``--cpu 2`` keeps the operation's memory limit."""
    resources = copy.deepcopy(resources or {})
    if not overrides:
        return resources
    if not isinstance(resources, dict):
        return copy.deepcopy(dict(overrides))
    for kind, amounts in overrides.items():
        written = resources.get(kind)
        if isinstance(written, dict) and isinstance(amounts, Mapping):
            resources[kind] = {**written, **copy.deepcopy(dict(amounts))}
        else:
            resources[kind] = copy.deepcopy(amounts)
    return resources


def pod_spec(
    build: CompiledBuild,
    environment: PodEnvironment,
    container: dict[str, Any],
    volumes: tuple[dict[str, Any], ...],
    options: KanikoOptions,
    timeout: float,
) -> dict[str, Any]:
    """The pod's spec: the operation's environment, then what every build pod has; node
    selector, tolerations and service account given as options win over the environment's."""
    user_volumes = build.run.volumes if isinstance(build.run.volumes, list) else []
    spec: dict[str, Any] = {
        **environment.spec,
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [*user_volumes, *volumes],
        "activeDeadlineSeconds": active_deadline(build.timeout, timeout),
    }
    if options.node_selector:
        spec["nodeSelector"] = {**spec.get("nodeSelector", {}), **options.node_selector}
    if options.tolerations:
        spec["tolerations"] = [*spec.get("tolerations", []), *options.tolerations]
    if options.service_account:
        spec["serviceAccountName"] = options.service_account
    spec["securityContext"] = _with_seccomp_default(spec.get("securityContext"))
    return spec
