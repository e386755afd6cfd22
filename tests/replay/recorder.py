"""A ``Cluster`` that passes every call to a real one and writes it down on a ``Tape``.

Used by the real-cluster tests (``tests/test_build_cluster.py``): their traffic is kept in
memory always, and saved under ``tests/fixtures/api-traffic/`` only when re-recording was
asked for (``python -m tests.replay.record``; never in CI: golden data changes only on request).
Safe from several threads (the log reader, a cancel): calls are appended under a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from polymagic.errors import ClusterError
from polymagic.kube.api import Cluster, JsonDict
from polymagic.kube.client import WatchExpired
from tests.replay.tape import Call, Tape, error_of, slim

__all__ = ["RecordingCluster"]

T = TypeVar("T")


class _Stopwatch:
    """Seconds since the first call (shared by a cluster and its fresh connections)."""

    def __init__(self) -> None:
        self._zero: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            now = time.monotonic()
            if self._zero is None:
                self._zero = now
            return round(now - self._zero, 4)


class RecordingCluster:
    """Wraps ``inner`` (a real ``polymagic.kube.client.Cluster``); records on ``tape``."""

    def __init__(self, inner: Cluster, tape: Tape, *, _watch: _Stopwatch | None = None) -> None:
        self.inner = inner
        self.tape = tape
        self._stopwatch = _watch or _Stopwatch()
        self._lock = threading.Lock()

    @property
    def namespace(self) -> str:
        return self.inner.namespace

    def _add(self, call: Call) -> Call:
        with self._lock:
            self.tape.calls.append(call)
        return call

    def _call(
        self,
        method: str,
        run: Callable[[], T],
        args: list[Any],
        kept: Callable[[T], Any] = slim,
    ) -> T:
        call = self._add(Call(method, self._stopwatch.now(), args=args))
        try:
            result = run()
        except (ClusterError, WatchExpired) as exc:
            call.error, call.end = error_of(exc), self._stopwatch.now()
            call.error_at = call.end
            raise
        call.result, call.end = kept(result), self._stopwatch.now()
        return result

    # -- connections ---------------------------------------------------------------------------

    def fresh(self) -> RecordingCluster:
        return RecordingCluster(self.inner.fresh(), self.tape, _watch=self._stopwatch)

    def close(self) -> None:
        self.inner.close()

    # -- plain calls ---------------------------------------------------------------------------

    def read_namespace(self, name: str) -> JsonDict:
        return self._call("read_namespace", lambda: self.inner.read_namespace(name), [name])

    def read_secret_type(self, namespace: str, name: str) -> str:
        run = lambda: self.inner.read_secret_type(namespace, name)  # noqa: E731
        return self._call("read_secret_type", run, [namespace, name])

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        run = lambda: self.inner.read_secret_data(namespace, name)  # noqa: E731
        # The values are credentials: the tape keeps the keys only.
        return self._call(
            "read_secret_data", run, [namespace, name], lambda data: dict.fromkeys(data, "")
        )

    def can_i(self, verb: str, resource: str, namespace: str, subresource: str = "") -> bool:
        run = lambda: self.inner.can_i(verb, resource, namespace, subresource)  # noqa: E731
        return self._call("can_i", run, [verb, resource, namespace, subresource])

    def create_config_map(self, namespace: str, body: JsonDict) -> JsonDict:
        run = lambda: self.inner.create_config_map(namespace, body)  # noqa: E731
        return self._call("create_config_map", run, [namespace, body])

    def create_pod(self, namespace: str, body: JsonDict) -> JsonDict:
        run = lambda: self.inner.create_pod(namespace, body)  # noqa: E731
        return self._call("create_pod", run, [namespace, body])

    def patch_config_map(self, namespace: str, name: str, patch: JsonDict) -> JsonDict:
        run = lambda: self.inner.patch_config_map(namespace, name, patch)  # noqa: E731
        return self._call("patch_config_map", run, [namespace, name, patch])

    def read_pod(self, namespace: str, name: str) -> JsonDict:
        run = lambda: self.inner.read_pod(namespace, name)  # noqa: E731
        return self._call("read_pod", run, [namespace, name])

    def read_config_map(self, namespace: str, name: str) -> JsonDict:
        run = lambda: self.inner.read_config_map(namespace, name)  # noqa: E731
        return self._call("read_config_map", run, [namespace, name])

    def list_pods(self, namespace: str | None, selector: str) -> list[JsonDict]:
        run = lambda: self.inner.list_pods(namespace, selector)  # noqa: E731
        return self._call("list_pods", run, [namespace, selector])

    def pod_events(self, namespace: str, pod: str) -> list[JsonDict]:
        run = lambda: self.inner.pod_events(namespace, pod)  # noqa: E731
        return self._call("pod_events", run, [namespace, pod])

    def delete_pod(self, namespace: str, name: str) -> bool:
        run = lambda: self.inner.delete_pod(namespace, name)  # noqa: E731
        return self._call("delete_pod", run, [namespace, name])

    def delete_config_map(self, namespace: str, name: str) -> bool:
        run = lambda: self.inner.delete_config_map(namespace, name)  # noqa: E731
        return self._call("delete_config_map", run, [namespace, name])

    # -- streams -------------------------------------------------------------------------------

    def watch_pod(
        self, namespace: str, name: str, resource_version: str | None, timeout_seconds: int
    ) -> Iterator[tuple[str, JsonDict]]:
        args = [namespace, name, resource_version, timeout_seconds]
        call = self._add(Call("watch_pod", self._stopwatch.now(), args=args))
        try:
            for kind, pod in self.inner.watch_pod(
                namespace, name, resource_version, timeout_seconds
            ):
                call.items.append([self._stopwatch.now(), kind, slim(pod)])
                yield kind, pod
            call.result = {"ended": True}  # the server ended it (not the consumer)
        except (ClusterError, WatchExpired) as exc:
            call.error, call.error_at = error_of(exc), self._stopwatch.now()
            raise
        finally:
            call.end = self._stopwatch.now()

    def pod_log(
        self,
        namespace: str,
        name: str,
        container: str,
        *,
        follow: bool,
        read_timeout: float | None = None,
    ) -> Iterator[str]:
        kwargs: JsonDict = {"follow": follow, "read_timeout": read_timeout}
        call = self._add(
            Call("pod_log", self._stopwatch.now(), args=[namespace, name, container], kwargs=kwargs)
        )
        try:
            for line in self.inner.pod_log(
                namespace, name, container, follow=follow, read_timeout=read_timeout
            ):
                call.lines.append([self._stopwatch.now(), line])
                yield line
            call.result = {"ended": True}  # the log ended (not the consumer)
        except (ClusterError, WatchExpired) as exc:
            call.error, call.error_at = error_of(exc), self._stopwatch.now()
            raise
        finally:
            call.end = self._stopwatch.now()
