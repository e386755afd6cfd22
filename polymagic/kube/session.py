"""Running a build on a cluster: preflight, submit, follow, outcome, cancel and cleanup.

``start_build`` checks and submits; ``BuildSession.events()`` follows the pod with one watch
(resumed after a dropped connection or a 410) and its log, yielding ``ProgressEvent``s;
``build_image`` does both and returns a ``BuildResult``. Whatever happens — success, failure,
a deadline, an interrupt — what polymagic created is deleted unless ``keep`` was asked for.
Talks to Kubernetes only through the ``Cluster`` it is given.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from polymagic.errors import (
    ApiError,
    BuildCancelled,
    BuildFailed,
    BuildTimeout,
    ClusterError,
    PreflightError,
)
from polymagic.kube.client import Cluster, WatchExpired
from polymagic.printable import printable
from polymagic.render.compiler import CompiledBuild
from polymagic.render.connection_checks import check_destination_connections_known
from polymagic.render.context import pack_build_context
from polymagic.render.dockerfile import dockerfile_instructions
from polymagic.render.kaniko_log import MAX_LINE, EventKind, KanikoLogParser, ProgressEvent
from polymagic.render.manifests import (
    CONTAINER_NAME,
    LABEL_BUILD,
    LABEL_MANAGED_BY,
    BuildManifests,
    SecretShape,
    build_manifests,
)
from polymagic.render.options import BuildOptions, BuildResult, BuildStatus
from polymagic.render.permissions import permission_checks

if TYPE_CHECKING:
    from polymagic.kube.registry import RegistryAnswer

__all__ = [
    "BuildOptions",
    "BuildResult",
    "BuildSession",
    "BuildStatus",
    "attach_build",
    "build_image",
    "cancel_build",
    "find_builds",
    "start_build",
]

JsonDict = dict[str, Any]
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Waiting reasons that will not fix themselves; the build fails after the grace period.
_STUCK_REASONS = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "ErrImageNeverPull",
}
_STUCK_EVENTS = {"FailedMount", "FailedAttachVolume", "FailedScheduling", "FailedCreatePodSandBox"}


def _destination_reference(destination: str, digest: str) -> str:
    return f"{destination}@{digest}"


def _container_status(pod: JsonDict) -> JsonDict:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER_NAME:
            return dict(status)
    return {}


def _condition(pod: JsonDict, kind: str) -> JsonDict:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _fix_for(reason: str, message: str, manifests: BuildManifests) -> str:
    if reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"):
        image = manifests.pod["spec"]["containers"][0]["image"]
        return (
            f"the executor image `{image}` cannot be pulled: check its name, or choose another"
            " with --executor-image / the executor_image setting (a private image also needs"
            " environment.imagePullSecrets)"
        )
    if reason in ("FailedMount", "FailedAttachVolume"):
        missing = re.search(r'secret "([^"]+)" not found', message)
        if missing:
            return (
                f"secret `{missing.group(1)}` not found in namespace `{manifests.namespace}`: create it"
                f" with `kubectl -n {manifests.namespace} create secret docker-registry {missing.group(1)}"
                " --docker-server=... --docker-username=... --docker-password=...`, or fix the"
                " connection's secret name"
            )
        return "a volume of the build pod cannot be mounted: check the connection's secret and configMap"
    if reason in ("FailedScheduling", "Unschedulable"):
        return (
            "no node can run the build pod: check environment.nodeSelector, tolerations and the"
            " container's resources against the cluster's nodes"
        )
    if reason == "CreateContainerConfigError":
        return (
            "the container's configuration refers to something missing (a secret or config map key)"
        )
    return "see the events below"


class _LinePipe:
    """Log lines handed from the reader thread to the follower: the reader puts one line at a
    time with its arrival time (waiting while ``limit`` lines are queued: memory stays flat),
    the follower takes every queued line at once, so a flood costs one hand-over per batch."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: list[tuple[str | BaseException | None, float]] = []
        self._ready = threading.Condition()

    def put(self, item: str | BaseException | None, stop: threading.Event) -> bool:
        """Queue ``item``; False when ``stop`` was set (the follower has gone away)."""
        with self._ready:
            while len(self._items) >= self._limit:
                if stop.is_set():
                    return False
                self._ready.wait(0.5)
            if stop.is_set():
                return False
            self._items.append((item, time.monotonic()))
            self._ready.notify_all()
        return True

    def take(self, timeout: float) -> list[tuple[str | BaseException | None, float]]:
        """Everything queued (waiting up to ``timeout`` for something)."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            items, self._items = self._items, []
            self._ready.notify_all()
        return items


class BuildSession:
    """One submitted build: follow it with ``events()``, stop it with ``cancel()``."""

    def __init__(
        self,
        cluster: Cluster,
        manifests: BuildManifests,
        options: BuildOptions,
        *,
        created: bool = True,
        resource_version: str | None = None,
        started: float | None = None,
    ) -> None:
        self.cluster = cluster
        self.manifests = manifests
        self.options = options
        self.name = manifests.name
        self.namespace = manifests.namespace
        self.started = started or time.monotonic()
        self.result: BuildResult | None = None
        self.error: Exception | None = None
        self.parser = KanikoLogParser(
            manifests.steps, tail=options.log_tail, destinations=manifests.destinations
        )
        self.registry_secret: str | None = None
        """The destination connection's secret: the pushed image's size is read with it."""
        self.registry_unreachable: str | None = None
        """Why the registry could not be reached before the build (its size is not asked)."""
        self._created = created
        self.reused = False
        """True when the registry already held this spec's image: no pod was created."""
        self.reused_from = ""
        """The spec tag the reused image was found under."""
        self.notes: list[str] = []
        self.attached_to_existing = False
        """True when this build found an identical one running and follows that one."""
        self._resource_version = resource_version
        self._cancelled = threading.Event()
        self._cleaned = False
        self._lock = threading.Lock()

    # -- control -------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the build: delete what it created (with a fresh connection) and mark it cancelled."""
        self._cancelled.set()
        self.cleanup(force=True)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cleanup(self, force: bool = False) -> None:
        """Delete the pod and ConfigMap unless ``keep`` (``force`` deletes anyway).

        Safe from any thread; a second caller waits until the first one has finished, so
        "cancelled" is only ever reported once nothing is left behind.
        """
        with self._lock:
            if self._cleaned or (self.options.keep and not force):
                return
            fresh = self.cluster.fresh()
            try:
                fresh.delete_pod(self.namespace, self.name)
                fresh.delete_config_map(self.namespace, self.name)
            finally:
                fresh.close()
            self._cleaned = True

    # -- following ---------------------------------------------------------------------------

    def events(self) -> Iterator[ProgressEvent]:
        """Progress until the build ends; the last event is SUCCEEDED, FAILED or CANCELLED.

        On failure the matching exception is stored in ``error`` and raised after the FAILED
        event; ``result`` holds the BuildResult after SUCCEEDED.
        """
        if self.reused and self.result is not None:
            yield ProgressEvent(
                EventKind.SUBMITTED,
                f"the registry already holds an image built from this spec ({self.reused_from}):"
                f" not building it again; {', '.join(self.result.tags)} now point at it"
                " (use --force to rebuild)",
            )
            yield ProgressEvent(EventKind.SUCCEEDED, self.result.image, digest=self.result.digest)
            return
        for note in self.notes:
            yield ProgressEvent(EventKind.WARNING, note)
        try:
            if self.attached_to_existing:
                yield ProgressEvent(
                    EventKind.SUBMITTED,
                    f"an identical build `{self.name}` is already running: following it instead of starting another",
                )
            yield from self._follow()
        except KeyboardInterrupt:
            self.cancel()
            self.error = BuildCancelled(
                f"build `{self.name}` cancelled; its pod and ConfigMap were deleted"
            )
            yield ProgressEvent(EventKind.CANCELLED, str(self.error))
            raise self.error from None
        except (BuildFailed, BuildTimeout, ClusterError) as exc:
            if self.cancelled:
                self.cleanup(force=True)
                self.error = BuildCancelled(
                    f"build `{self.name}` cancelled; its pod and ConfigMap were deleted"
                )
                yield ProgressEvent(EventKind.CANCELLED, str(self.error))
                raise self.error from exc
            self.error = exc
            with contextlib.suppress(ClusterError):
                self.cleanup()
            yield ProgressEvent(EventKind.FAILED, str(exc))
            raise
        finally:
            if self.result is None and self.error is None:
                # The consumer stopped listening (closed generator): leave nothing behind.
                with contextlib.suppress(ClusterError):
                    self.cleanup()
        with contextlib.suppress(ClusterError):
            self.cleanup()
        if self.result is not None:  # _follow returns only after setting it, or raises
            yield ProgressEvent(EventKind.SUCCEEDED, self.result.image, digest=self.result.digest)

    def _deadline(self, what: str, limit: float, since: float) -> None:
        if time.monotonic() - since > limit:
            raise BuildTimeout(f"build `{self.name}` hit the {what} deadline ({limit:.0f}s)")

    def _check_overall(self) -> None:
        if self.cancelled:
            raise BuildFailed("cancelled")
        self._deadline("overall", self.options.timeout, self.started)

    def _follow(self) -> Iterator[ProgressEvent]:
        state = _PodState()
        pod = yield from self._until_running(state)
        if not _is_terminated(pod):
            yield from self._stream_logs(follow=True)
            pod = yield from self._until_terminated(state)
        else:
            yield from self._stream_logs(follow=False)
        yield from self._finish(pod)

    def _watch(self) -> Iterator[JsonDict]:
        """Pod states from one watch, resumed after drops and 410s; yields after each timeout too."""
        while True:
            self._check_overall()
            try:
                for kind, pod in self.cluster.watch_pod(
                    self.namespace, self.name, self._resource_version, self.options.watch_timeout
                ):
                    version = pod.get("metadata", {}).get("resourceVersion")
                    if version:
                        self._resource_version = version
                    if kind == "DELETED" and _is_terminated(pod):
                        yield pod  # finished, then removed (e.g. by the build we attached to)
                        continue
                    if kind == "DELETED":
                        raise BuildFailed(
                            f"the build pod `{self.name}` was deleted by someone else before it finished"
                        )
                    yield pod
            except WatchExpired:
                # Too old to resume: read the pod as it is now and watch from its version.
                pod = self._read_pod_retrying()
                self._resource_version = pod.get("metadata", {}).get("resourceVersion")
                yield pod
                continue
            except ApiError as exc:
                if exc.status is not None and exc.status < 500 and exc.status != 429:
                    raise
                self._pause()
                continue
            except ClusterError:
                self._pause()  # connection dropped or API server restarting: resume the watch
                continue
            yield {}  # the watch timed out server-side: a chance to check deadlines and events

    def _pause(self) -> None:
        if self._cancelled.wait(1.0):
            raise BuildFailed("cancelled")

    def _read_pod_retrying(self) -> JsonDict:
        while True:
            self._check_overall()
            try:
                return self.cluster.read_pod(self.namespace, self.name)
            except ApiError as exc:
                if exc.status == 404:
                    raise BuildFailed(f"the build pod `{self.name}` disappeared") from exc
                if exc.status is not None and exc.status < 500:
                    raise
            except ClusterError:
                pass
            self._pause()

    def _until_running(self, state: _PodState) -> Generator[ProgressEvent, None, JsonDict]:
        pod = self._read_pod_retrying()
        if not self._resource_version:
            self._resource_version = pod.get("metadata", {}).get("resourceVersion")
        yield from state.progress(pod)
        if _is_running(pod) or _is_terminated(pod):
            return pod
        self._check_pending(pod, state)
        for update in self._watch():
            pod = update or pod
            yield from state.progress(pod)
            if _is_running(pod) or _is_terminated(pod):
                return pod
            self._check_pending(pod, state)
        return pod

    def _until_terminated(self, state: _PodState) -> Generator[ProgressEvent, None, JsonDict]:
        pod = self._read_pod_retrying()
        if _is_terminated(pod):
            return pod
        for update in self._watch():
            pod = update or pod
            yield from state.progress(pod)
            if _is_terminated(pod):
                return pod
        return pod

    def _check_pending(self, pod: JsonDict, state: _PodState) -> None:
        self._deadline("pod start", self.options.start_timeout, self.started)
        waiting = _container_status(pod).get("state", {}).get("waiting") or {}
        reason = waiting.get("reason") or ""
        message = waiting.get("message") or ""
        scheduled = _condition(pod, "PodScheduled")
        if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
            reason, message = "Unschedulable", scheduled.get("message") or ""
        if reason not in _STUCK_REASONS and reason != "Unschedulable":
            events = self._pod_events()
            warning = next(
                (
                    e
                    for e in reversed(events)
                    if e.get("reason") in _STUCK_EVENTS and e.get("type") == "Warning"
                ),
                None,
            )
            if warning is None:
                state.stuck_since = None
                return
            reason, message = str(warning.get("reason")), str(warning.get("message") or "")
        # ErrImagePull and ImagePullBackOff alternate: one problem, one clock.
        group = "image pull" if "Image" in reason else reason
        if state.stuck_since is None or state.stuck_reason != group:
            state.stuck_since, state.stuck_reason = time.monotonic(), group
        grace = 0.0 if reason == "InvalidImageName" else self.options.stuck_grace
        if time.monotonic() - state.stuck_since >= grace:
            events = self._pod_events()
            lines = [f"{e.get('type')} {e.get('reason')}: {e.get('message')}" for e in events[-8:]]
            detail = "; ".join(lines) if lines else "no events"
            raise BuildFailed(
                f"build `{self.name}` could not start: the pod is stuck in {reason}"
                f" ({message.strip() or 'no message'}). {_fix_for(reason, message, self.manifests)}."
                f" Events: {detail}"
            )

    def _pod_events(self) -> list[JsonDict]:
        try:
            return self.cluster.pod_events(self.namespace, self.name)
        except ClusterError:
            return []

    def _stream_logs(self, follow: bool) -> Iterator[ProgressEvent]:
        """The executor's log through a bounded pipe filled by a reader thread, so deadlines
        and cancel are noticed even while the log is silent. Lines that arrived together are
        parsed together, each with its arrival time (for the steps' durations)."""
        pipe = _LinePipe(limit=1000)
        done = threading.Event()
        reader = threading.Thread(
            target=self._read_log,
            args=(pipe, follow, done),
            name=f"polymagic-log-{self.name}",
            daemon=True,
        )
        reader.start()
        last_line = time.monotonic()
        try:
            while True:
                self._check_overall()
                batch = pipe.take(timeout=0.5)
                if not batch:
                    if self.options.log_idle_timeout is not None:
                        self._deadline("log idle", self.options.log_idle_timeout, last_line)
                    continue
                last_line = time.monotonic()
                lines: list[str] = []
                arrivals: list[float] = []
                for item, arrived in batch:
                    if isinstance(item, str):
                        lines.append(item)
                        arrivals.append(arrived)
                        continue
                    yield from self._interpret(lines, arrivals)
                    self.parser.finish(arrived)
                    if isinstance(item, BaseException):
                        # The log could not be read; the pod's final state decides the outcome.
                        yield ProgressEvent(
                            EventKind.WARNING,
                            f"the build log could not be read: {_describe_failure(item)}",
                        )
                    return
                yield from self._interpret(lines, arrivals)
        finally:
            done.set()

    def _interpret(self, lines: list[str], arrivals: list[float]) -> list[ProgressEvent]:
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

    def _read_log(self, pipe: _LinePipe, follow: bool, done: threading.Event) -> None:
        seen = 0
        try:
            for attempt in range(30):
                if self.cancelled:
                    break
                try:
                    index = 0
                    for line in self.cluster.pod_log(
                        self.namespace, self.name, CONTAINER_NAME, follow=follow
                    ):
                        index += 1
                        if index <= seen:
                            continue  # resumed after a drop: skip what was already delivered
                        seen = index
                        if not pipe.put(line, done):
                            return
                    break
                except ClusterError as exc:
                    permanent = (
                        isinstance(exc, ApiError)
                        and exc.status is not None
                        and exc.status < 500
                        and exc.status != 429
                    )
                    if permanent or self.cancelled or attempt == 29:
                        pipe.put(exc, done)
                        return
                    time.sleep(1.0)
        except Exception as exc:
            pipe.put(exc, done)
        finally:
            pipe.put(None, done)

    def _finish(self, pod: JsonDict) -> Iterator[ProgressEvent]:
        terminated = _container_status(pod).get("state", {}).get("terminated") or {}
        code = terminated.get("exitCode")
        message = str(terminated.get("message") or "")
        tail = tuple(self.parser.tail)
        if code == 0:
            found = _DIGEST.search(message)
            if not found:
                raise BuildFailed(
                    f"build `{self.name}`: the executor exited 0 but reported no image digest"
                    " (its termination message is empty), so the push cannot be confirmed"
                )
            digest = found.group(0)
            destination = (
                self.manifests.destinations[0] if self.manifests.destinations else self.name
            )
            image = _destination_reference(destination, digest)
            size, size_note = self._pushed_size(image)
            self.result = BuildResult(
                name=self.name,
                namespace=self.namespace,
                image=image,
                digest=digest,
                tags=self.manifests.destinations,
                duration=time.monotonic() - self.started,
                pod_name=self.name,
                spec_hash=self.manifests.spec_hash,
                executor_image=self.manifests.pod["spec"]["containers"][0]["image"],
                log_tail=tail,
                steps=self.parser.summary(),
                size=size,
                notes=(size_note,) if size_note else (),
            )
            if self.parser.digest is None:
                yield ProgressEvent(EventKind.PUSHED, self.result.image, digest=digest)
            return
        reason = pod.get("status", {}).get("reason") or terminated.get("reason") or "Error"
        error_line = (
            self.parser.error_line or _last_error_line(message) or "no error line in the log"
        )
        last = "\n".join(tail[-15:])
        fix = _fix_for_executor_error(error_line, self.manifests)
        raise BuildFailed(
            f"build `{self.name}` failed{self._failed_step(error_line)}: the executor exited with"
            f" code {code} ({reason}): {error_line}"
            + (f"\n{fix}" if fix else "")
            + (f"\nlast log lines:\n{last}" if last else "")
        )

    def _pushed_size(self, image: str) -> tuple[int | None, str]:
        """The pushed image's size from its registry (None and why, when it cannot tell)."""
        if not self.manifests.destinations:
            return None, ""
        if self.registry_unreachable:
            return None, f"the image's size is unknown: {self.registry_unreachable}"
        from polymagic.kube.reuse import pushed_image_size

        return pushed_image_size(self.cluster, self.manifests, self.registry_secret, image)

    def _failed_step(self, error_line: str) -> str:
        """`` at step i/N (instruction)`` when Kaniko failed inside a build step, else ""."""
        step, steps = self.parser.step, self.parser.steps
        # Kaniko's marker for an error in a stage's commands; not for pulls, pushes or auth.
        if "error building stage" not in error_line or not 0 < step <= len(steps):
            return ""
        return f" at step {step}/{len(steps)} ({steps[step - 1]})"


_REGISTRY_URL = re.compile(r"https?://(?P<host>[^/\s]+)/v2/")
# Anchored, applied to one token: a RUN step can print a line that looks like Kaniko's error.
_MANIFEST_URL = re.compile(r"https?://(?P<host>[^/]+)/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)")
_ERROR_LINE_MAX = 8192
"""Kaniko's own error lines are far shorter; a forged one is only read this far."""


def _fix_for_executor_error(error_line: str, manifests: BuildManifests) -> str | None:
    """What to do about an executor error that is a registry's answer, else None."""
    error_line = error_line[:_ERROR_LINE_MAX]
    if "UNAUTHORIZED" in error_line or "DENIED" in error_line:
        url = _REGISTRY_URL.search(error_line)
        host = f"`{url.group('host')}`" if url else "the registry"
        if not manifests.secrets:
            return (
                f"fix: {host} wants credentials and the build has none: give the destination's"
                " connection a `secret` holding a docker config for it"
            )
        secret = manifests.secrets[0]
        server = url.group("host") if url else "..."
        return (
            f"fix: {host} refused the credentials in secret `{secret}`: check the username and"
            f" password for {host} in it, e.g. recreate it with `kubectl -n {manifests.namespace}"
            f" create secret docker-registry {secret} --docker-server={server}"
            " --docker-username=... --docker-password=...`"
        )
    before, found, _ = error_line.partition(": MANIFEST_UNKNOWN")
    # `GET https://host/v2/<repo>/manifests/<tag or digest>: MANIFEST_UNKNOWN: ...`
    missing = _MANIFEST_URL.fullmatch(before.rsplit(maxsplit=1)[-1]) if found and before else None
    if missing:
        ref = missing.group("ref")
        image = f"{missing.group('host')}/{missing.group('repo')}" + (
            f"@{ref}" if ref.startswith("sha256:") else f":{ref}"
        )
        return (
            f"fix: the image `{image}` is not in its registry (MANIFEST_UNKNOWN): check the base"
            " image's name and tag (the FROM line)"
        )
    return None


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, ClusterError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _last_error_line(message: str) -> str | None:
    for line in reversed(message.splitlines()):
        clean = line.strip()
        if clean.lower().startswith("error") or "error" in clean.lower():
            return clean
    return None


def _is_running(pod: JsonDict) -> bool:
    return bool(_container_status(pod).get("state", {}).get("running"))


def _is_terminated(pod: JsonDict) -> bool:
    if _container_status(pod).get("state", {}).get("terminated"):
        return True
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed") and bool(
        _container_status(pod)
    )


@dataclass
class _PodState:
    """What has been reported already, so each phase is announced once."""

    announced: set[str] = field(default_factory=set)
    stuck_since: float | None = None
    stuck_reason: str | None = None

    def progress(self, pod: JsonDict) -> Iterator[ProgressEvent]:
        if not pod:
            return
        if (
            "scheduled" not in self.announced
            and _condition(pod, "PodScheduled").get("status") == "True"
        ):
            self.announced.add("scheduled")
            node = pod.get("spec", {}).get("nodeName") or "a node"
            yield ProgressEvent(EventKind.SCHEDULED, f"on {node}")
        status = _container_status(pod)
        waiting = status.get("state", {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason and f"waiting:{reason}" not in self.announced:
            self.announced.add(f"waiting:{reason}")
            kind = (
                EventKind.PULLING_EXECUTOR if reason == "ContainerCreating" else EventKind.WAITING
            )
            text = reason if kind is EventKind.WAITING else f"{status.get('image', '')}"
            if waiting.get("message"):
                text += f": {waiting['message']}"
            yield ProgressEvent(kind, text)
        if status.get("state", {}).get("running") and "started" not in self.announced:
            self.announced.add("started")
            yield ProgressEvent(EventKind.STARTED, status.get("image", ""))


# -- preflight and submission ---------------------------------------------------------------


def _secret_shapes(
    cluster: Cluster, namespace: str, secrets: Sequence[str]
) -> dict[str, SecretShape]:
    shapes: dict[str, SecretShape] = {}
    for secret in secrets:
        try:
            kind = cluster.read_secret_type(namespace, secret)
        except ApiError as exc:
            if exc.status == 404:
                raise PreflightError(
                    f"secret `{secret}` not found in namespace `{namespace}`: create it with"
                    f" `kubectl -n {namespace} create secret docker-registry {secret} --docker-server=..."
                    " --docker-username=... --docker-password=...` (or a generic secret with a"
                    " config.json key), or fix the connection's secret name"
                ) from exc
            if exc.status == 403:
                continue  # may not read secrets: the pod's mount will tell
            raise
        if kind == "kubernetes.io/dockerconfigjson":
            shapes[secret] = SecretShape.DOCKERCONFIGJSON
    return shapes


def preflight(cluster: Cluster, secrets: Sequence[str], namespace: str) -> dict[str, SecretShape]:
    """Check everything that can be checked before creating anything; returns secret shapes."""
    try:
        cluster.read_namespace(namespace)
    except ApiError as exc:
        if exc.status == 404:
            raise PreflightError(
                f"namespace `{namespace}` does not exist: create it (`kubectl create namespace"
                f" {namespace}`) or choose another with --namespace"
            ) from exc
        if exc.status != 403:
            raise
    missing = [
        f"{verb} {resource}{'/' + sub if sub else ''}"
        for verb, resource, sub in permission_checks()
        if not cluster.can_i(verb, resource, namespace, sub)
    ]
    if missing:
        raise PreflightError(
            f"you may not run builds in namespace `{namespace}`: missing permission to "
            + ", ".join(missing)
            + ". Ask a cluster admin for a Role with these rules bound to your user or service"
            " account (`polymagic rbac` prints one)"
        )
    return _secret_shapes(cluster, namespace, secrets)


class _AlreadyRunning(Exception):
    """The same build (same pod name, same spec) is already on the cluster."""

    def __init__(self, pod: JsonDict) -> None:
        super().__init__(pod.get("metadata", {}).get("name"))
        self.pod = pod


def _existing_build(cluster: Cluster, manifests: BuildManifests) -> JsonDict | None:
    """The live pod of an identical build, if there is one; an orphaned ConfigMap is removed."""
    try:
        pod = cluster.read_pod(manifests.namespace, manifests.name)
    except ApiError as exc:
        if exc.status != 404:
            raise
        # A ConfigMap without its pod: left by a process that died between the two creations.
        cluster.delete_config_map(manifests.namespace, manifests.name)
        return None
    same = (pod.get("metadata", {}).get("annotations") or {}).get(
        "polymagic/spec-hash"
    ) == manifests.image_hash
    if same and not pod.get("metadata", {}).get("deletionTimestamp"):
        return pod
    raise PreflightError(
        f"a build named `{manifests.name}` already exists in `{manifests.namespace}` and is"
        f" ending: wait for it, or remove it with `polymagic cancel {manifests.name}`"
    )


def _submit(cluster: Cluster, manifests: BuildManifests) -> str | None:
    """Create the ConfigMap, then the Pod, then make the Pod own the ConfigMap.

    Identical builds have the same name: when one is already running, raise ``_AlreadyRunning``
    so the caller follows it instead of starting a second pod.
    """
    namespace = manifests.namespace
    for _attempt in range(2):
        try:
            cluster.create_config_map(namespace, manifests.config_map)
            break
        except ApiError as exc:
            if exc.status != 409:
                raise
            existing = _existing_build(cluster, manifests)
            if existing is not None:
                raise _AlreadyRunning(existing) from exc
    else:
        raise PreflightError(f"could not create the ConfigMap `{manifests.name}` in `{namespace}`")
    try:
        pod = cluster.create_pod(namespace, manifests.pod)
        owner = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": manifests.name,
            "uid": pod["metadata"]["uid"],
        }
        cluster.patch_config_map(
            namespace, manifests.name, {"metadata": {"ownerReferences": [owner]}}
        )
    except BaseException:
        with contextlib.suppress(ClusterError):
            fresh = cluster.fresh()
            fresh.delete_pod(namespace, manifests.name)
            fresh.delete_config_map(namespace, manifests.name)
            fresh.close()
        raise
    version = pod.get("metadata", {}).get("resourceVersion")
    return str(version) if version else None


def _credentials_refused(
    manifests: BuildManifests, secret: str, answer: RegistryAnswer
) -> PreflightError:
    host = answer.reference.host
    return PreflightError(
        f"the registry `{host}` refused the credentials in secret `{secret}` (HTTP 401):"
        f" nothing was submitted. {answer.reason}. Check the username and password for"
        f" `{host}` in it, e.g. recreate it with `kubectl -n {manifests.namespace} delete secret"
        f" {secret}` and `kubectl -n {manifests.namespace} create secret docker-registry"
        f" {secret} --docker-server={host} --docker-username=... --docker-password=...`"
    )


def _reuse(
    cluster: Cluster,
    build: CompiledBuild,
    manifests: BuildManifests,
    options: BuildOptions,
    started: float,
) -> tuple[BuildSession | None, str | None, RegistryAnswer | None]:
    """A finished session when the registry already holds this spec's image and every
    requested tag now points at it; else None and, when it was not reused, a note saying why.
    Third: what the registry answered (None: it was not asked).

    Raises ``PreflightError`` when the registry refused the secret's credentials (HTTP 401):
    Kaniko would be refused too, after the whole build. ``--force`` skips only the reuse."""
    from polymagic.kube.registry import Presence
    from polymagic.kube.reuse import destination_secret, find_built_image, tag_destinations

    answer = find_built_image(cluster, build, manifests, options.kaniko)
    if answer is not None and answer.credentials_rejected:
        # Credentials are only ever sent from the destination connection's secret.
        raise _credentials_refused(manifests, destination_secret(build) or "?", answer)
    if options.force or not options.kaniko.hash_tag:
        return None, None, answer
    if answer is None or answer.presence is Presence.MISSING:
        return None, None, answer
    if answer.presence is Presence.UNKNOWN or not answer.digest:
        return (
            None,
            f"could not tell whether this spec was built before ({answer.reason}); building it",
            answer,
        )
    tagged = tag_destinations(cluster, build, manifests, answer)
    if not tagged.ok or tagged.manifest is None:
        return (
            None,
            f"the registry holds this spec's image ({answer.reference}), but the requested tags"
            f" cannot be pointed at it ({tagged.reason}); building it",
            answer,
        )
    session = BuildSession(
        cluster, manifests, replace(options, keep=True), created=False, started=started
    )
    size, size_note = tagged.manifest.image_size, tagged.manifest.size_note
    session.result = BuildResult(
        name=manifests.name,
        namespace=manifests.namespace,
        image=_destination_reference(manifests.destinations[0], answer.digest),
        digest=answer.digest,
        tags=manifests.destinations,
        duration=time.monotonic() - started,
        pod_name="",
        spec_hash=manifests.image_hash,
        executor_image=manifests.executor_image,
        log_tail=(),
        size=size,
        notes=(size_note,) if size_note else (),
        reused=True,
    )
    session.reused = True
    session.reused_from = str(answer.reference)
    return session, None, answer


def start_build(
    cluster: Cluster, build: CompiledBuild, options: BuildOptions | None = None
) -> BuildSession:
    """Preflight, then submit; the returned session follows the build."""
    options = options or BuildOptions()
    namespace = options.namespace or cluster.namespace
    started = time.monotonic()
    check_destination_connections_known(build)
    # Local files are packed first: a missing one is an error before anything is created.
    packed = pack_build_context(build, options.context_dir) if options.context_dir else None
    # A first rendering names the secrets to check; their types decide the final mounts.
    draft = build_manifests(
        build,
        namespace=namespace,
        executor_image=options.executor_image,
        kaniko=options.kaniko,
        context=packed,
        timeout=options.timeout,
    )
    shapes = preflight(cluster, draft.secrets, namespace)
    manifests = build_manifests(
        build,
        namespace=namespace,
        executor_image=options.executor_image,
        secret_shapes=shapes,
        kaniko=options.kaniko,
        context=packed,
        timeout=options.timeout,
    )
    reused, note, answer = _reuse(cluster, build, manifests, options, started)
    if reused is not None:
        return reused
    try:
        version = _submit(cluster, manifests)
    except _AlreadyRunning:
        # The second of two identical builds attaches to the first, and leaves cleanup to it.
        session = BuildSession(
            cluster,
            manifests,
            replace(options, namespace=namespace, keep=True),
            created=False,
            started=started,
        )
        session.attached_to_existing = True
    else:
        session = BuildSession(
            cluster,
            manifests,
            replace(options, namespace=namespace),
            resource_version=version,
            started=started,
        )
    if note:
        session.notes.append(note)
    from polymagic.kube.reuse import destination_secret

    session.registry_secret = destination_secret(build)
    from polymagic.kube.registry import Presence

    if answer is not None and answer.presence is Presence.UNKNOWN and answer.status is None:
        # No HTTP answer before the build (e.g. a registry only the cluster reaches): do not
        # wait for one after it just to learn the size.
        session.registry_unreachable = answer.reason
    return session


def build_image(
    cluster: Cluster,
    build: CompiledBuild,
    options: BuildOptions | None = None,
    on_event: Callable[[ProgressEvent], None] | None = None,
) -> BuildResult:
    """Build and push; returns the result or raises BuildFailed / BuildTimeout / BuildCancelled."""
    session = start_build(cluster, build, options)
    try:
        for event in session.events():
            if on_event is not None:
                on_event(event)
    except KeyboardInterrupt:
        session.cancel()
        raise BuildCancelled(
            f"build `{session.name}` cancelled; its pod and ConfigMap were deleted"
        ) from None
    if session.result is None:  # events() raises on every other ending
        raise BuildFailed(f"build `{session.name}` ended without a result")
    return session.result


# -- finding builds again ---------------------------------------------------------------------


def _status_of(pod: JsonDict) -> BuildStatus:
    meta = pod.get("metadata", {})
    status = _container_status(pod)
    state = status.get("state", {})
    phase = pod.get("status", {}).get("phase") or "Unknown"
    detail = ""
    digest = None
    if state.get("waiting"):
        detail = str(state["waiting"].get("reason") or "")
    elif state.get("running"):
        detail = "building"
    elif state.get("terminated"):
        terminated = state["terminated"]
        found = _DIGEST.search(str(terminated.get("message") or ""))
        digest = found.group(0) if found and terminated.get("exitCode") == 0 else None
        detail = f"exit code {terminated.get('exitCode')}"
    annotations = meta.get("annotations") or {}
    try:
        destinations = tuple(json.loads(annotations.get("polymagic/destinations", "[]")))
    except ValueError:
        destinations = ()
    return BuildStatus(
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace")),
        phase=str(phase),
        detail=detail,
        created=str(meta.get("creationTimestamp") or ""),
        destinations=destinations,
        digest=digest,
    )


def find_builds(
    cluster: Cluster, namespace: str | None = None, name: str | None = None
) -> list[BuildStatus]:
    """polymagic's builds (found by label) in ``namespace`` (None: every namespace)."""
    selector = f"{LABEL_MANAGED_BY}=polymagic"
    if name:
        selector += f",{LABEL_BUILD}={name}"
    return [_status_of(pod) for pod in cluster.list_pods(namespace, selector)]


def attach_build(
    cluster: Cluster, name: str, namespace: str | None = None, options: BuildOptions | None = None
) -> BuildSession:
    """A session for a build started elsewhere (another process), to follow or cancel it."""
    namespace = namespace or cluster.namespace
    pod = cluster.read_pod(namespace, name)
    if (pod.get("metadata", {}).get("labels") or {}).get(LABEL_MANAGED_BY) != "polymagic":
        raise PreflightError(f"pod `{name}` in `{namespace}` is not a polymagic build")
    try:
        config_map = cluster.read_config_map(namespace, name)
        data = config_map.get("data") or {}
    except ApiError:
        data = {}
    args = pod["spec"]["containers"][0].get("args") or []
    dockerfile_name = next(
        (a.split("=", 1)[1] for a in args if a.startswith("--dockerfile=")), "Dockerfile"
    )
    steps = tuple(dockerfile_instructions(str(data.get(dockerfile_name, ""))))
    annotations = pod.get("metadata", {}).get("annotations") or {}
    status = _status_of(pod)
    manifests = BuildManifests(
        name=name,
        namespace=namespace,
        spec_hash=str(annotations.get("polymagic/spec-hash", "")),
        config_map={},
        pod=pod,
        secrets=(),
        steps=steps,
        destinations=status.destinations,
    )
    options = replace(options or BuildOptions(), namespace=namespace, keep=True)
    return BuildSession(cluster, manifests, options, created=False)


def cancel_build(cluster: Cluster, name: str, namespace: str | None = None) -> bool:
    """Delete a build's pod and ConfigMap; False if there was nothing to delete."""
    namespace = namespace or cluster.namespace
    pod = cluster.delete_pod(namespace, name)
    config_map = cluster.delete_config_map(namespace, name)
    return pod or config_map
