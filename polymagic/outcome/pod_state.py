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

What a pod says (is it running, why is it stuck, what is the fix) is read by
``outcome.pod_reading``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from polymagic.errors import BuildCancelled, BuildError, BuildFailed, BuildTimeout, FailedStep
from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.outcome.fixes import fix_evicted, fix_out_of_memory
from polymagic.outcome.kaniko_log import KanikoLogParser
from polymagic.outcome.log_lines import MAX_LINE
from polymagic.outcome.pod_reading import (
    DIGEST,
    JsonDict,
    container_state,
    container_status,
    eviction_of,
    executor_fix,
    is_running,
    last_error_line,
    memory_limit,
    more_memory,
    pod_condition,
    pod_events,
    pod_fix,
    stuck_problem,
)
from polymagic.outcome.result import BuildResult
from polymagic.printable import printable
from polymagic.render.build_objects import EPHEMERAL_STORAGE_REQUEST, BuildManifests
from polymagic.render.options import BuildOptions

__all__ = ["PodStateMachine", "Pushed", "image_id_digest"]


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
        self.executor_image_id = ""
        """The executor container's ``imageID`` once the kubelet reports it."""

    # -- the pod ------------------------------------------------------------------------------

    def observe(self, pod: JsonDict) -> list[ProgressEvent]:
        """What the pod shows for the first time: scheduled, waiting, pulling, started."""
        events: list[ProgressEvent] = []
        if not pod:
            return events
        if self._first("scheduled", pod_condition(pod, "PodScheduled").get("status") == "True"):
            node = pod.get("spec", {}).get("nodeName") or "a node"
            events.append(ProgressEvent(EventKind.SCHEDULED, f"on {node}"))
        status = container_status(pod)
        if isinstance(status.get("imageID"), str) and status["imageID"]:
            self.executor_image_id = str(status["imageID"])
        waiting = container_state(pod, "waiting")
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
            events=pod_events(events),
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
        terminated = container_state(pod, "terminated")
        code = terminated.get("exitCode")
        message = str(terminated.get("message") or "")
        if code == 0:
            found = DIGEST.search(message)
            if not found:
                return BuildFailed(
                    name=self.name, reason=BuildFailed.NO_DIGEST, exit_code=0, log_tail=self.tail
                )
            destinations = self.manifests.destinations
            destination = destinations[0] if destinations else self.name
            return Pushed(f"{destination}@{found.group(0)}", found.group(0))
        eviction = eviction_of(pod)
        if eviction is not None:
            return self._evicted(*eviction, code)
        if terminated.get("reason") == BuildFailed.OUT_OF_MEMORY:
            return self._out_of_memory(pod, message, code)
        reason = pod.get("status", {}).get("reason") or terminated.get("reason") or "Error"
        error_line = self.parser.error_line or last_error_line(message) or ""
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
        limit = memory_limit(pod)
        return BuildFailed(
            name=self.name,
            reason=BuildFailed.OUT_OF_MEMORY,
            detail=self.parser.error_line or last_error_line(message) or "",
            exit_code=code if isinstance(code, int) else None,
            failed_step=self._running_step(),
            log_tail=self.tail,
            fix=fix_out_of_memory(
                limit,
                more_memory(limit) if limit else None,
                sum(1 for step in self.manifests.steps if step.upper().startswith("RUN")),
            ),
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
            notes=(*((size_note,) if size_note else ()), *immutable_tag_notes(self.parser.tail)),
            context_sha256=self.manifests.context.sha256 if self.manifests.context else None,
            executor_digest=image_id_digest(self.executor_image_id),
        )


def immutable_tag_notes(tail: Iterable[str]) -> tuple[str, ...]:
    """With ``--push-ignore-immutable-tag-errors`` the executor ends a refused push with
    success (``Immutable tag error ignored for <repo>@<digest>``): say that the tags did not
    move, so the digest is not mistaken for what they name."""
    if not any("Immutable tag error ignored for" in line for line in tail):
        return ()
    return (
        "the registry refused to move an immutable tag and the executor ignored it"
        " (--push-ignore-immutable-tag-errors): the tags still name the image they named"
        " before; the digest above is this build's, which the registry did not store under"
        " them",
    )


def image_id_digest(image_id: str) -> str | None:
    """The digest in a container's ``imageID`` (``repo@sha256:…``, ``docker-pullable://…``
    or a bare ``sha256:…``); None when there is none."""
    digest = image_id.rsplit("@", 1)[-1]
    if digest.startswith("sha256:") and len(digest) == 71:
        return digest
    return None
