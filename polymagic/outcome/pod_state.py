"""The build pod's state machine: pod JSON, the pod's events and the executor's log lines in;
progress events, a verdict and the outcome out.

Pure: no I/O, no clock read (every time is given, in seconds of the caller's monotonic clock),
so recorded API traffic replays through it exactly (``tests/replay/``). The rules it owns:

- **announcements**: scheduled (on which node), waiting (the reason), pulling the executor,
  started — each once;
- **the stuck rule**: a pending pod whose container waits for a reason that does not fix
  itself (``ImagePullBackOff``, ``InvalidImageName``, ``CreateContainerConfigError``, ...),
  which cannot be scheduled, or whose latest warning event is one of ``FailedMount``,
  ``FailedScheduling``, ... fails after ``stuck_grace`` (``InvalidImageName`` at once), with a
  fix and the last events; one clock per problem (``ErrImagePull`` and ``ImagePullBackOff``
  alternate: one problem);
- **the deadlines**: overall and pod start from the submission, log idle from the last line;
- **the outcome**: exit 0 with a digest in the termination message is the pushed image;
  anything else a ``BuildFailed`` carrying exit code, reason, Kaniko's error line, the failed
  step, the log tail and a fix.

Reading a build back from its pod (``build_status``, ``manifests_of``) is here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from polymagic.errors import (
    BuildCancelled,
    BuildError,
    BuildFailed,
    BuildTimeout,
    FailedStep,
    PodEvent,
    fix_container_config,
    fix_container_error,
    fix_evicted,
    fix_executor_image,
    fix_manifest_unknown,
    fix_missing_secret,
    fix_out_of_memory,
    fix_registry_refused,
    fix_registry_wants_credentials,
    fix_see_events,
    fix_unmountable_volume,
    fix_unschedulable,
)
from polymagic.outcome.kaniko_log import (
    MAX_LINE,
    EventKind,
    KanikoLogParser,
    ProgressEvent,
    startup_error,
)
from polymagic.outcome.result import BuildResult, BuildStatus
from polymagic.printable import printable
from polymagic.render.build_objects import CONTAINER_NAME, EPHEMERAL_STORAGE_REQUEST, BuildManifests
from polymagic.render.dockerfile import dockerfile_instructions
from polymagic.render.options import BuildOptions
from polymagic.render.quantities import quantity_value

__all__ = [
    "PodStateMachine",
    "Pushed",
    "build_status",
    "container_status",
    "executor_fix",
    "is_running",
    "is_terminated",
    "manifests_of",
    "more_memory",
    "pod_fix",
    "resource_version",
    "stuck_problem",
]

JsonDict = dict[str, Any]
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
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


def _condition(pod: JsonDict, kind: str) -> JsonDict:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _state(pod: JsonDict, which: str) -> JsonDict:
    return dict(container_status(pod).get("state", {}).get(which) or {})


def is_running(pod: JsonDict) -> bool:
    return bool(_state(pod, "running"))


def is_terminated(pod: JsonDict) -> bool:
    if _state(pod, "terminated"):
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
    waiting = _state(pod, "waiting")
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return "Unschedulable", str(scheduled.get("message") or "")
    reason = str(waiting.get("reason") or "")
    if reason in _STUCK_REASONS:
        return reason, str(waiting.get("message") or "")
    for event in reversed(events):
        if event.get("reason") in _STUCK_EVENTS and event.get("type") == "Warning":
            return str(event.get("reason")), str(event.get("message") or "")
    return None


def _pod_events(events: Sequence[JsonDict]) -> tuple[PodEvent, ...]:
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


def executor_fix(error_line: str, manifests: BuildManifests) -> str:
    """What to do about an executor error that is a registry's answer ("" for other errors)."""
    error_line = error_line[:_ERROR_LINE_MAX]
    if "UNAUTHORIZED" in error_line or "DENIED" in error_line:
        url = _REGISTRY_URL.search(error_line)
        host = url.group("host") if url else None
        if not manifests.secrets:
            return fix_registry_wants_credentials(host)
        return fix_registry_refused(host, manifests.secrets[0], manifests.namespace)
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


def _eviction(pod: JsonDict) -> tuple[str, str | None] | None:
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


def _memory_limit(pod: JsonDict) -> str | None:
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


def _last_error_line(message: str) -> str | None:
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


# -- the machine ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    """The executor's successful ending: the pushed reference and its digest."""

    image: str
    digest: str


class PodStateMachine:
    """One build pod followed from submission to its outcome; feed it what the cluster says.

    ``observe(pod)`` gives the pod's new announcements; ``pending(pod, events, now)`` the
    verdict on a pod that has not started (None: keep waiting); ``log_lines`` and
    ``log_ended`` read the executor's log; ``outcome(pod)`` reads the terminated pod, and
    ``result`` makes the ``BuildResult`` of a pushed image.
    """

    def __init__(
        self,
        manifests: BuildManifests,
        options: BuildOptions,
        *,
        started: float,
        parser: KanikoLogParser | None = None,
    ) -> None:
        self.manifests = manifests
        self.options = options
        self.name = manifests.name
        self.started = started
        self.parser = parser or KanikoLogParser(
            manifests.steps, tail=options.log_tail, destinations=manifests.destinations
        )
        self._announced: set[str] = set()
        self._stuck_since: float | None = None
        self._stuck_problem: str | None = None

    # -- the pod ------------------------------------------------------------------------------

    def observe(self, pod: JsonDict) -> list[ProgressEvent]:
        """What the pod shows for the first time: scheduled, waiting, pulling, started."""
        events: list[ProgressEvent] = []
        if not pod:
            return events
        if self._first("scheduled", _condition(pod, "PodScheduled").get("status") == "True"):
            node = pod.get("spec", {}).get("nodeName") or "a node"
            events.append(ProgressEvent(EventKind.SCHEDULED, f"on {node}"))
        status = container_status(pod)
        waiting = _state(pod, "waiting")
        reason = waiting.get("reason")
        if reason and self._first(f"waiting:{reason}", True):
            kind = (
                EventKind.PULLING_EXECUTOR if reason == "ContainerCreating" else EventKind.WAITING
            )
            text = reason if kind is EventKind.WAITING else f"{status.get('image', '')}"
            if waiting.get("message"):
                text += f": {waiting['message']}"
            events.append(ProgressEvent(kind, text))
        if self._first("started", is_running(pod)):
            events.append(ProgressEvent(EventKind.STARTED, status.get("image", "")))
        return events

    def _first(self, what: str, seen: bool) -> bool:
        if not seen or what in self._announced:
            return False
        self._announced.add(what)
        return True

    def pending(self, pod: JsonDict, events: Sequence[JsonDict], now: float) -> BuildError | None:
        """The verdict on a pod that has not started at ``now``: the pod-start deadline, or
        the stuck rule; None while it may still start."""
        late = self._deadline("pod start", self.options.start_timeout, self.started, now)
        if late is not None:
            return late
        problem = stuck_problem(pod, events)
        if problem is None:
            self._stuck_since = None
            return None
        reason, message = problem
        group = "image pull" if "Image" in reason else reason
        if self._stuck_since is None or self._stuck_problem != group:
            self._stuck_since, self._stuck_problem = now, group
        grace = 0.0 if reason == "InvalidImageName" else self.options.stuck_grace
        if now - self._stuck_since < grace:
            return None
        return BuildFailed(
            name=self.name,
            reason=reason,
            detail=message.strip(),
            started=False,
            events=_pod_events(events),
            fix=pod_fix(reason, message, self.manifests),
        )

    def overall(self, now: float) -> BuildTimeout | None:
        """The overall deadline's verdict at ``now``."""
        return self._deadline("overall", self.options.timeout, self.started, now)

    def log_idle(self, now: float, last_line: float) -> BuildTimeout | None:
        """The log-idle deadline's verdict at ``now`` (None when there is no such deadline)."""
        if self.options.log_idle_timeout is None:
            return None
        return self._deadline("log idle", self.options.log_idle_timeout, last_line, now)

    def _deadline(self, what: str, limit: float, since: float, now: float) -> BuildTimeout | None:
        if now - since <= limit:
            return None
        return BuildTimeout(name=self.name, deadline=what, limit=limit, log_tail=self.tail)

    def deleted(self) -> BuildFailed:
        """The verdict when someone else deleted the pod before it finished."""
        return BuildFailed(name=self.name, reason=BuildFailed.POD_DELETED, log_tail=self.tail)

    def vanished(self) -> BuildFailed:
        """The verdict when the pod is not found any more."""
        return BuildFailed(name=self.name, reason=BuildFailed.POD_NOT_FOUND, log_tail=self.tail)

    def cancelled(self) -> BuildCancelled:
        return BuildCancelled(name=self.name, log_tail=self.tail)

    @property
    def tail(self) -> tuple[str, ...]:
        return tuple(self.parser.tail)

    # -- the log ------------------------------------------------------------------------------

    def log_lines(self, lines: Sequence[str], arrivals: Sequence[float]) -> list[ProgressEvent]:
        """The events of lines that arrived together. A RUN step prints what it likes:
        whatever goes wrong reading a line ends as that line shown raw, never as the end of
        the build."""
        if not lines:
            return []
        try:
            return self.parser.feed_lines(lines, arrivals)
        except Exception:  # any line, any failure: read them one by one
            events: list[ProgressEvent] = []
            for line, arrived in zip(lines, arrivals, strict=True):
                try:
                    events += self.parser.feed(line, arrived)
                except Exception:  # this line, then: shown as it is
                    events.append(ProgressEvent(EventKind.LOG, printable(line[:MAX_LINE])))
            return events

    def log_ended(self, at: float, unreadable: str | None = None) -> list[ProgressEvent]:
        """The log ended at ``at`` (``unreadable``: why it could not be read to its end; the
        pod's final state decides the outcome then)."""
        self.parser.finish(at)
        if unreadable is None:
            return []
        return [ProgressEvent(EventKind.WARNING, f"the build log could not be read: {unreadable}")]

    # -- the outcome --------------------------------------------------------------------------

    def outcome(self, pod: JsonDict) -> Pushed | BuildFailed:
        """What the terminated pod says: the pushed image, or why there is none."""
        terminated = _state(pod, "terminated")
        code = terminated.get("exitCode")
        message = str(terminated.get("message") or "")
        if code == 0:
            found = _DIGEST.search(message)
            if not found:
                return BuildFailed(
                    name=self.name, reason=BuildFailed.NO_DIGEST, exit_code=0, log_tail=self.tail
                )
            destinations = self.manifests.destinations
            destination = destinations[0] if destinations else self.name
            return Pushed(f"{destination}@{found.group(0)}", found.group(0))
        eviction = _eviction(pod)
        if eviction is not None:
            return self._evicted(*eviction, code)
        if terminated.get("reason") == BuildFailed.OUT_OF_MEMORY:
            return self._out_of_memory(pod, message, code)
        reason = pod.get("status", {}).get("reason") or terminated.get("reason") or "Error"
        error_line = self.parser.error_line or _last_error_line(message) or ""
        return BuildFailed(
            name=self.name,
            reason=str(reason),
            detail=error_line,
            exit_code=code if isinstance(code, int) else None,
            failed_step=self._failed_step(error_line),
            log_tail=self.tail,
            fix=executor_fix(error_line, self.manifests),
        )

    def _out_of_memory(self, pod: JsonDict, message: str, code: Any) -> BuildFailed:
        # The kubelet says OOMKilled whenever the kernel killed a process of the container at
        # its memory limit: Kaniko itself (exit 137), or a RUN step's command (Kaniko then
        # fails the step and exits 1): either way the step that was running is the one.
        limit = _memory_limit(pod)
        return BuildFailed(
            name=self.name,
            reason=BuildFailed.OUT_OF_MEMORY,
            detail=self.parser.error_line or _last_error_line(message) or "",
            exit_code=code if isinstance(code, int) else None,
            failed_step=self._running_step(),
            log_tail=self.tail,
            fix=fix_out_of_memory(limit, more_memory(limit) if limit else None),
        )

    def _evicted(self, said: str, low_on: str | None, code: Any) -> BuildFailed:
        return BuildFailed(
            name=self.name,
            reason=BuildFailed.EVICTED,
            detail=said,
            exit_code=code if isinstance(code, int) else None,
            failed_step=self._running_step(),
            log_tail=self.tail,
            fix=fix_evicted(low_on, EPHEMERAL_STORAGE_REQUEST),
        )

    def _running_step(self) -> FailedStep | None:
        """The step that was running when the container was stopped from outside."""
        return self._step(self.parser.running_step)

    def _step(self, step: int) -> FailedStep | None:
        steps = self.parser.steps
        return FailedStep(step, len(steps), steps[step - 1]) if 0 < step <= len(steps) else None

    def _failed_step(self, error_line: str) -> FailedStep | None:
        """The step Kaniko failed in, when it failed inside one."""
        # Kaniko's marker for an error in a stage's commands; not for pulls, pushes or auth.
        if "error building stage" not in error_line:
            return None
        return self._step(self.parser.step)

    def pushed_events(self, pushed: Pushed) -> list[ProgressEvent]:
        """PUSHED, when the log did not already announce the digest."""
        if self.parser.digest is not None:
            return []
        return [ProgressEvent(EventKind.PUSHED, pushed.image, digest=pushed.digest)]

    def result(self, pushed: Pushed, now: float, size: int | None, size_note: str) -> BuildResult:
        """The ``BuildResult`` of the pushed image (``size`` from its registry)."""
        return BuildResult(
            name=self.name,
            namespace=self.manifests.namespace,
            image=pushed.image,
            digest=pushed.digest,
            tags=self.manifests.destinations,
            duration=now - self.started,
            pod_name=self.name,
            spec_hash=self.manifests.spec_hash,
            executor_image=self.manifests.pod["spec"]["containers"][0]["image"],
            log_tail=self.tail,
            steps=self.parser.summary(),
            size=size,
            notes=(size_note,) if size_note else (),
        )


# -- reading a build back from its objects ----------------------------------------------------


def build_status(pod: JsonDict) -> BuildStatus:
    """What a build's pod says about it, for ``status`` and ``list``."""
    meta = pod.get("metadata", {})
    detail = ""
    digest = None
    if waiting := _state(pod, "waiting"):
        detail = str(waiting.get("reason") or "")
    elif is_running(pod):
        detail = "building"
    elif terminated := _state(pod, "terminated"):
        found = _DIGEST.search(str(terminated.get("message") or ""))
        digest = found.group(0) if found and terminated.get("exitCode") == 0 else None
        detail = f"exit code {terminated.get('exitCode')}"
        if terminated.get("reason") == BuildFailed.OUT_OF_MEMORY:
            detail = f"out of memory (OOMKilled), {detail}"
    if (eviction := _eviction(pod)) is not None:
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
