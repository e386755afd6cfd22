"""What a build's pod says, read from its JSON: whether it runs or ended, why it is stuck,
its events, an eviction, its memory limit, the executor's error line in the termination
message, and the fix for each (``pod_fix``, ``executor_fix``); and a build read back from its
objects (``build_status``, ``manifests_of``), for ``status`` and ``list``.

Pure: no I/O and no clock. ``outcome.pod_state``'s machine decides with these readings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from polymagic.errors import BuildFailed, PodEvent
from polymagic.outcome.fixes import (
    fix_container_config,
    fix_container_error,
    fix_executor_image,
    fix_immutable_tag,
    fix_manifest_unknown,
    fix_missing_secret,
    fix_rate_limited,
    fix_registry_refused,
    fix_registry_wants_credentials,
    fix_see_events,
    fix_unmountable_volume,
    fix_unschedulable,
)
from polymagic.outcome.kaniko_log import (
    startup_error,
)
from polymagic.outcome.result import BuildStatus
from polymagic.printable import printable
from polymagic.render.build_objects import CONTAINER_NAME, BuildManifests
from polymagic.render.dockerfile import dockerfile_instructions
from polymagic.render.quantities import quantity_value

__all__ = [
    "DIGEST",
    "JsonDict",
    "build_status",
    "container_state",
    "container_status",
    "eviction_of",
    "executor_fix",
    "is_running",
    "is_terminated",
    "last_error_line",
    "manifests_of",
    "memory_limit",
    "more_memory",
    "pod_condition",
    "pod_events",
    "pod_fix",
    "resource_version",
    "stuck_problem",
]

JsonDict = dict[str, Any]

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_IMAGE_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
# Waiting reasons that will not fix themselves; the build fails after the grace period.
_STUCK_REASONS = {*_IMAGE_REASONS, "CreateContainerConfigError", "CreateContainerError"}
_STUCK_EVENTS = {"FailedMount", "FailedAttachVolume", "FailedScheduling", "FailedCreatePodSandBox"}
_EVENTS_SHOWN = 8
_REGISTRY_URL = re.compile(r"https?://(?P<host>[^/\s]+)/v2/")
# Anchored, applied to one token: a RUN step can print a line that looks like Kaniko's error.
_MANIFEST_URL = re.compile(r"https?://(?P<host>[^/]+)/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)")
_ERROR_LINE_MAX = 8192
"""Kaniko's own error lines are far shorter; a forged one is only read this far."""


# -- reading a pod ----------------------------------------------------------------------------


def container_status(pod: JsonDict) -> JsonDict:
    """The executor container's status (empty while there is none)."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER_NAME:
            return dict(status)
    return {}


def pod_condition(pod: JsonDict, kind: str) -> JsonDict:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def container_state(pod: JsonDict, which: str) -> JsonDict:
    return dict(container_status(pod).get("state", {}).get(which) or {})


def is_running(pod: JsonDict) -> bool:
    return bool(container_state(pod, "running"))


def is_terminated(pod: JsonDict) -> bool:
    if container_state(pod, "terminated"):
        return True
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed") and bool(
        container_status(pod)
    )


def resource_version(pod: JsonDict) -> str | None:
    version = pod.get("metadata", {}).get("resourceVersion")
    return str(version) if version else None


def stuck_problem(pod: JsonDict, events: Sequence[JsonDict]) -> tuple[str, str] | None:
    """``(reason, message)`` when the pending pod waits for something that will not fix
    itself (its container's waiting reason, unschedulable, or its latest warning event)."""
    waiting = container_state(pod, "waiting")
    scheduled = pod_condition(pod, "PodScheduled")
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return "Unschedulable", str(scheduled.get("message") or "")
    reason = str(waiting.get("reason") or "")
    if reason in _STUCK_REASONS:
        return reason, str(waiting.get("message") or "")
    for event in reversed(events):
        if event.get("reason") in _STUCK_EVENTS and event.get("type") == "Warning":
            return str(event.get("reason")), str(event.get("message") or "")
    return None


def pod_events(events: Sequence[JsonDict]) -> tuple[PodEvent, ...]:
    return tuple(
        PodEvent(str(e.get("type")), str(e.get("reason")), str(e.get("message")))
        for e in events[-_EVENTS_SHOWN:]
    )


# -- fixes ------------------------------------------------------------------------------------


def pod_fix(reason: str, message: str, manifests: BuildManifests) -> str:
    """What to do about a pod stuck for ``reason`` (the wording is in ``polymagic.errors``)."""
    if reason in _IMAGE_REASONS:
        return fix_executor_image(manifests.pod["spec"]["containers"][0]["image"])
    if reason in ("FailedMount", "FailedAttachVolume"):
        missing = re.search(r'secret "([^"]+)" not found', message)
        if missing:
            return fix_missing_secret(manifests.namespace, missing.group(1))
        return fix_unmountable_volume()
    if reason in ("FailedScheduling", "Unschedulable"):
        return fix_unschedulable()
    if reason == "CreateContainerConfigError":
        return fix_container_config(message)
    if reason == "CreateContainerError":
        return fix_container_error(message)
    return fix_see_events()


_IMMUTABLE_TAG = (
    # What registries say when a tag may not be overwritten, in the executor's own list (which
    # --push-ignore-immutable-tag-errors acts on): Artifact Registry's, ECR's.
    "The repository has enabled tag immutability",
    "cannot be overwritten because the tag is immutable",
)
_IMMUTABLE_TAG_UNKNOWN_TO_THE_EXECUTOR = (
    # Harbor's (412 PRECONDITION; Harbor 1.10 said DENIED) and ECR's older wording: the
    # executor v1.28.3 does not know them, so its option would not help.
    "configured as immutable",
    "cannot be overwritten because the repository is immutable",
)


def executor_fix(error_line: str, manifests: BuildManifests) -> str:
    """What to do about an executor error that is a registry's answer ("" for other errors)."""
    error_line = error_line[:_ERROR_LINE_MAX]
    known = any(words in error_line for words in _IMMUTABLE_TAG)
    if known or any(words in error_line for words in _IMMUTABLE_TAG_UNKNOWN_TO_THE_EXECUTOR):
        # Before DENIED: Harbor refused immutable tags with that code.
        destinations = manifests.destinations
        return fix_immutable_tag(destinations[0] if destinations else None, option_helps=known)
    if "UNAUTHORIZED" in error_line or "DENIED" in error_line:
        url = _REGISTRY_URL.search(error_line)
        host = url.group("host") if url else None
        if not manifests.secrets:
            return fix_registry_wants_credentials(host)
        return fix_registry_refused(host, manifests.secrets[0], manifests.namespace)
    if "TOOMANYREQUESTS" in error_line or "429 Too Many Requests" in error_line:
        url = _REGISTRY_URL.search(error_line)
        return fix_rate_limited(url.group("host") if url else None)
    before, found, _ = error_line.partition(": MANIFEST_UNKNOWN")
    # `GET https://host/v2/<repo>/manifests/<tag or digest>: MANIFEST_UNKNOWN: ...`
    missing = _MANIFEST_URL.fullmatch(before.rsplit(maxsplit=1)[-1]) if found and before else None
    if missing:
        ref = missing.group("ref")
        image = f"{missing.group('host')}/{missing.group('repo')}" + (
            f"@{ref}" if ref.startswith("sha256:") else f":{ref}"
        )
        return fix_manifest_unknown(image)
    return ""


# `The node was low on resource: ephemeral-storage. Threshold quantity: ...` (the kubelet's).
_LOW_ON = re.compile(r"low on resource: (?P<resource>[\w/-]{1,64}(?:\.[\w/-]{1,64}){0,3})")
_EVICTION_MESSAGE_MAX = 400
_MI, _GI = 1 << 20, 1 << 30


def eviction_of(pod: JsonDict) -> tuple[str, str | None] | None:
    """``(the node's message, the resource it was low on)`` when the pod was evicted; the
    message on one line, printable, at most ``_EVICTION_MESSAGE_MAX`` characters."""
    status = pod.get("status", {})
    if status.get("reason") != BuildFailed.EVICTED:
        return None
    message = str(status.get("message") or "")[: _EVICTION_MESSAGE_MAX * 4]
    said = printable(" ".join(message.split()))
    if len(said) > _EVICTION_MESSAGE_MAX:
        said = said[: _EVICTION_MESSAGE_MAX - 1] + "…"
    low_on = _LOW_ON.search(said)
    return said, low_on.group("resource") if low_on else None


def memory_limit(pod: JsonDict) -> str | None:
    """The executor's memory limit as the live pod states it (a LimitRange may have set it)."""
    for container in pod.get("spec", {}).get("containers") or []:
        if isinstance(container, dict) and container.get("name") == CONTAINER_NAME:
            limits = (container.get("resources") or {}).get("limits") or {}
            limit = limits.get("memory") if isinstance(limits, dict) else None
            return printable(str(limit)[:64])[:64] if limit is not None else None
    return None


def more_memory(limit: str) -> str | None:
    """Twice ``limit`` (a Kubernetes quantity such as ``192Mi``, ``2G`` or ``1e9``), in ``Mi``
    or ``Gi``; None when it is not a quantity of at least a byte."""
    value = quantity_value(limit.strip())
    if value is None or value < 1:
        return None
    twice = int(value * 2)
    if twice % _GI == 0:
        return f"{twice // _GI}Gi"
    return f"{-(-twice // _MI)}Mi"


def last_error_line(message: str) -> str | None:
    lines = [line.strip() for line in message.splitlines()]
    # The executor's own startup error comes before its usage text, whose flag lines
    # (`-v, --verbosity string  Log level (..., error, ...)`) must not pass for it.
    for clean in reversed(lines):
        started = startup_error(clean)
        if started is not None:
            return started
    for clean in reversed(lines):
        if "error" in clean.lower() and not clean.startswith("-"):
            return clean
    return None


# -- reading a build back from its objects ----------------------------------------------------


def build_status(pod: JsonDict) -> BuildStatus:
    """What a build's pod says about it, for ``status`` and ``list``."""
    meta = pod.get("metadata", {})
    detail = ""
    digest = None
    if waiting := container_state(pod, "waiting"):
        detail = str(waiting.get("reason") or "")
    elif is_running(pod):
        detail = "building"
    elif terminated := container_state(pod, "terminated"):
        found = DIGEST.search(str(terminated.get("message") or ""))
        digest = found.group(0) if found and terminated.get("exitCode") == 0 else None
        detail = f"exit code {terminated.get('exitCode')}"
        if terminated.get("reason") == BuildFailed.OUT_OF_MEMORY:
            detail = f"out of memory (OOMKilled), {detail}"
    if (eviction := eviction_of(pod)) is not None:
        low_on = eviction[1]
        detail = f"evicted: its node was low on {low_on}" if low_on else "evicted"
    annotations = meta.get("annotations") or {}
    try:
        destinations = tuple(json.loads(annotations.get("polymagic/destinations", "[]")))
    except ValueError:
        destinations = ()
    return BuildStatus(
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace")),
        phase=str(pod.get("status", {}).get("phase") or "Unknown"),
        detail=detail,
        created=str(meta.get("creationTimestamp") or ""),
        destinations=destinations,
        digest=digest,
    )


def manifests_of(pod: JsonDict, config_map_data: dict[str, str]) -> BuildManifests:
    """The manifests of a build started elsewhere, read back from its pod and ConfigMap data
    (enough to follow it: name, steps, destinations, spec hash)."""
    meta = pod.get("metadata", {})
    args = pod["spec"]["containers"][0].get("args") or []
    dockerfile_name = next(
        (a.split("=", 1)[1] for a in args if a.startswith("--dockerfile=")), "Dockerfile"
    )
    annotations = meta.get("annotations") or {}
    return BuildManifests(
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace")),
        spec_hash=str(annotations.get("polymagic/spec-hash", "")),
        config_map={},
        pod=pod,
        secrets=(),
        steps=tuple(dockerfile_instructions(str(config_map_data.get(dockerfile_name, "")))),
        destinations=build_status(pod).destinations,
    )
