"""Running a build on a cluster: the public entry points, and following one build.

``start_build`` submits (``kube.submit``) and returns a ``BuildSession``; its ``events()``
follows the pod with one watch (resumed after a dropped connection or a 410) and reads its log
(``kube.log_reader``), feeding both to the pod-state machine (``outcome.pod_state``, which decides
what they mean) and yielding its ``ProgressEvent``s; ``build_image`` does both and returns a
``BuildResult``. Whatever happens — success, failure, a deadline, an interrupt — what polymagic
created is deleted unless ``keep`` was asked for. Talks to Kubernetes only through the
``Cluster`` it is given, and reads time only from its ``Clock`` (``kube.api``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from polymagic.errors import (
    ApiError,
    BuildCancelled,
    BuildError,
    BuildFailed,
    ClusterError,
    NotFoundError,
    PreflightError,
)
from polymagic.kube.api import REAL_CLOCK, Clock, Cluster, JsonDict
from polymagic.kube.client import WatchExpired
from polymagic.kube.log_reader import follow_log
from polymagic.kube.submit import HTTP_REGISTRY, Registry, Start, Submission, submit_build
from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.outcome.kaniko_log import KanikoLogParser
from polymagic.outcome.pod_reading import (
    build_status,
    is_running,
    is_terminated,
    manifests_of,
    resource_version,
)
from polymagic.outcome.pod_state import PodStateMachine
from polymagic.outcome.result import BuildResult, BuildStatus
from polymagic.render.build_objects import LABEL_BUILD, LABEL_MANAGED_BY, BuildManifests
from polymagic.render.options import BuildOptions

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild

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


def _retryable(exc: ClusterError) -> bool:
    """Connection trouble, a 5xx or a 429: asking again may work."""
    if isinstance(exc, ApiError):
        return exc.status is None or exc.status >= 500 or exc.status == 429
    return True


class BuildSession:
    """One submitted build: follow it with ``events()``, stop it with ``cancel()``."""

    def __init__(
        self,
        cluster: Cluster,
        submission: Submission,
        *,
        registry: Registry = HTTP_REGISTRY,
        clock: Clock = REAL_CLOCK,
        parser: KanikoLogParser | None = None,
    ) -> None:
        self.cluster = cluster
        self.submission = submission
        self.manifests: BuildManifests = submission.manifests
        self.options: BuildOptions = submission.options
        self.name = self.manifests.name
        self.namespace = self.manifests.namespace
        self.clock = clock
        self.registry = registry
        self.state = PodStateMachine(
            self.manifests, self.options, started=submission.started, parser=parser
        )
        self.result: BuildResult | None = submission.reused
        self.error: Exception | None = None
        self._resource_version = submission.resource_version
        self._cancelled = threading.Event()
        self._cleaned = False
        self._lock = threading.Lock()

    @property
    def parser(self) -> KanikoLogParser:
        """The executor log's parser: steps, tail, line count."""
        return self.state.parser

    @property
    def reused(self) -> bool:
        """True when the registry already held this spec's image: no pod was created."""
        return self.submission.how is Start.REUSED

    @property
    def attached_to_existing(self) -> bool:
        """True when this build found an identical one running and follows that one."""
        return self.submission.how is Start.ATTACHED

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

    # -- following -----------------------------------------------------------------------------

    def events(self) -> Iterator[ProgressEvent]:
        """Progress until the build ends; the last event is SUCCEEDED, FAILED or CANCELLED.

        On failure the matching exception is stored in ``error`` and raised after the FAILED
        (or CANCELLED) event; ``result`` holds the BuildResult after SUCCEEDED.
        """
        for note in self.submission.notes:
            yield ProgressEvent(EventKind.WARNING, note)
        if self.submission.reused is not None:
            yield from self._reused(self.submission.reused)
            return
        try:
            if self.attached_to_existing:
                yield ProgressEvent(
                    EventKind.SUBMITTED,
                    f"an identical build `{self.name}` is already running: following it"
                    " instead of starting another",
                )
            yield from self._follow()
        except KeyboardInterrupt:
            self.cancel()
            self.error = self.state.cancelled()
            yield ProgressEvent(EventKind.CANCELLED, str(self.error))
            raise self.error from None
        except (BuildError, ClusterError) as exc:
            yield from self._failed(exc)
        finally:
            if self.result is None and self.error is None:
                # The consumer stopped listening (closed generator): leave nothing behind.
                with contextlib.suppress(ClusterError):
                    self.cleanup()
        with contextlib.suppress(ClusterError):
            self.cleanup()
        if self.result is not None:  # _follow returns only after setting it, or raises
            yield ProgressEvent(EventKind.SUCCEEDED, self.result.image, digest=self.result.digest)

    def _reused(self, result: BuildResult) -> Iterator[ProgressEvent]:
        yield ProgressEvent(
            EventKind.SUBMITTED,
            f"the registry already holds an image built from this spec"
            f" ({self.submission.reused_from}): not building it again;"
            f" {', '.join(result.tags)} now point at it (use --force to rebuild)",
        )
        yield ProgressEvent(EventKind.SUCCEEDED, result.image, digest=result.digest)

    def _failed(self, exc: BuildError | ClusterError) -> Iterator[ProgressEvent]:
        """The last event of a build that ended without an image; raises its error."""
        if self.cancelled or isinstance(exc, BuildCancelled):
            self.cleanup(force=True)
            self.error = self.state.cancelled()
            yield ProgressEvent(EventKind.CANCELLED, str(self.error))
            raise self.error from exc
        self.error = exc
        with contextlib.suppress(ClusterError):
            self.cleanup()
        yield ProgressEvent(EventKind.FAILED, str(exc))
        raise exc

    def _follow(self) -> Iterator[ProgressEvent]:
        pod = yield from self._until(lambda p: is_running(p) or is_terminated(p), pending=True)
        if not is_terminated(pod):
            yield from self._log(follow=True)
            pod = yield from self._until(is_terminated, pending=False)
        else:
            yield from self._log(follow=False)
        yield from self._finish(pod)

    def _until(
        self, done: Callable[[JsonDict], bool], *, pending: bool
    ) -> Generator[ProgressEvent, None, JsonDict]:
        """Follow the pod until ``done`` says so; while ``pending``, judge it as it waits."""
        pod = self._read_pod_retrying()
        self._resource_version = self._resource_version or resource_version(pod)
        yield from self.state.observe(pod)
        if done(pod):
            return pod
        if pending:
            self._judge_pending(pod)
        for update in self._watch():
            pod = update or pod
            yield from self.state.observe(pod)
            if done(pod):
                return pod
            if pending:
                self._judge_pending(pod)
        return pod  # not reached: the watch goes on until a verdict

    def _judge_pending(self, pod: JsonDict) -> None:
        verdict = self.state.pending(pod, self._pod_events(), self.clock.now())
        if verdict is not None:
            raise verdict

    def _check_overall(self) -> None:
        if self.cancelled:
            raise self.state.cancelled()
        verdict = self.state.overall(self.clock.now())
        if verdict is not None:
            raise verdict

    def _watch(self) -> Iterator[JsonDict]:
        """Pod states from one watch, resumed after drops and 410s; after each server-side
        timeout an empty state, a chance to check the deadlines and the events."""
        while True:
            self._check_overall()
            try:
                for kind, pod in self.cluster.watch_pod(
                    self.namespace, self.name, self._resource_version, self.options.watch_timeout
                ):
                    self._resource_version = resource_version(pod) or self._resource_version
                    if kind == "DELETED" and not is_terminated(pod):
                        raise self.state.deleted()
                    yield pod  # DELETED and terminated: finished, then removed (attached)
            except WatchExpired:
                # Too old to resume: read the pod as it is now, and watch from the present (the
                # watch starts with the pod's state). Not from the pod's own version: a pod that
                # has not changed since the compaction has a version the server refuses again.
                pod = self._read_pod_retrying()
                self._resource_version = None
                yield pod
                continue
            except ClusterError as exc:
                if not _retryable(exc):
                    raise
                self._pause()  # connection dropped or API server restarting: resume the watch
                continue
            yield {}

    def _pause(self) -> None:
        if self.clock.wait(self._cancelled, 1.0):
            raise self.state.cancelled()

    def _read_pod_retrying(self) -> JsonDict:
        while True:
            self._check_overall()
            try:
                return self.cluster.read_pod(self.namespace, self.name)
            except ApiError as exc:
                if exc.status == 404:
                    raise self.state.vanished() from exc
                if not _retryable(exc):
                    raise
            except ClusterError:
                pass
            self._pause()

    def _pod_events(self) -> list[JsonDict]:
        try:
            return self.cluster.pod_events(self.namespace, self.name)
        except ClusterError:
            return []

    def _log(self, follow: bool) -> Iterator[ProgressEvent]:
        cancelled, clock = self._cancelled, self.clock
        check = self._check_overall
        return follow_log(
            self.cluster, self.state, follow=follow, check=check, cancelled=cancelled, clock=clock
        )

    def _finish(self, pod: JsonDict) -> Iterator[ProgressEvent]:
        outcome = self.state.outcome(pod)
        if isinstance(outcome, BuildFailed):
            raise outcome
        size, size_note = self._pushed_size(outcome.image)
        self.result = self.state.result(outcome, self.clock.now(), size, size_note)
        yield from self.state.pushed_events(outcome)

    def _pushed_size(self, image: str) -> tuple[int | None, str]:
        """The pushed image's size from its registry (None and why, when it cannot tell)."""
        if not self.manifests.destinations:
            return None, ""
        if self.submission.registry_unreachable:
            return None, f"the image's size is unknown: {self.submission.registry_unreachable}"
        secret = self.submission.registry_secret
        return self.registry.pushed_image_size(self.cluster, self.manifests, secret, image)


def start_build(
    cluster: Cluster,
    build: CompiledBuild,
    options: BuildOptions | None = None,
    *,
    registry: Registry = HTTP_REGISTRY,
    clock: Clock = REAL_CLOCK,
) -> BuildSession:
    """Preflight, then submit; the returned session follows the build."""
    submission = submit_build(
        cluster, build, options or BuildOptions(), registry=registry, clock=clock
    )
    return BuildSession(cluster, submission, registry=registry, clock=clock)


def build_image(
    cluster: Cluster,
    build: CompiledBuild,
    options: BuildOptions | None = None,
    on_event: Callable[[ProgressEvent], None] | None = None,
    *,
    registry: Registry = HTTP_REGISTRY,
    clock: Clock = REAL_CLOCK,
) -> BuildResult:
    """Build and push; returns the result or raises BuildFailed / BuildTimeout / BuildCancelled."""
    session = start_build(cluster, build, options, registry=registry, clock=clock)
    try:
        for event in session.events():
            if on_event is not None:
                on_event(event)
    except KeyboardInterrupt:
        session.cancel()
        raise session.state.cancelled() from None
    if session.result is None:  # events() raises on every other ending
        raise BuildFailed(name=session.name, reason=BuildFailed.NO_RESULT)
    return session.result


# -- finding builds again ---------------------------------------------------------------------


def find_builds(
    cluster: Cluster, namespace: str | None = None, name: str | None = None
) -> list[BuildStatus]:
    """polymagic's builds (found by label) in ``namespace`` (None: every namespace)."""
    selector = f"{LABEL_MANAGED_BY}=polymagic"
    if name:
        selector += f",{LABEL_BUILD}={name}"
    return [build_status(pod) for pod in cluster.list_pods(namespace, selector)]


def attach_build(
    cluster: Cluster,
    name: str,
    namespace: str | None = None,
    options: BuildOptions | None = None,
    *,
    clock: Clock = REAL_CLOCK,
) -> BuildSession:
    """A session for a build started elsewhere (another process), to follow or cancel it."""
    namespace = namespace or cluster.namespace
    try:
        pod = cluster.read_pod(namespace, name)
    except ApiError as exc:
        if exc.status == 404:
            raise NotFoundError(name, namespace) from exc
        raise
    if (pod.get("metadata", {}).get("labels") or {}).get(LABEL_MANAGED_BY) != "polymagic":
        raise PreflightError.not_a_build(namespace, name)
    try:
        data = cluster.read_config_map(namespace, name).get("data") or {}
    except ApiError:
        data = {}
    submission = Submission(
        manifests_of(pod, data),
        replace(options or BuildOptions(), namespace=namespace, keep=True),
        clock.now(),
        how=Start.FOUND,
    )
    return BuildSession(cluster, submission, clock=clock)


def cancel_build(cluster: Cluster, name: str, namespace: str | None = None) -> bool:
    """Delete a build's pod and ConfigMap; False if there was nothing to delete."""
    namespace = namespace or cluster.namespace
    pod = cluster.delete_pod(namespace, name)
    config_map = cluster.delete_config_map(namespace, name)
    return pod or config_map
