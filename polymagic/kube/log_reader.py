"""Reading the executor's log on a thread of its own, so the follower notices deadlines and a
cancel even while the log is silent; the lines go to the pod-state machine (``follow_log``).

The reader puts one line at a time, with its arrival time, into a bounded ``LinePipe`` (it
waits while ``limit`` lines are queued: memory stays flat); the follower takes every queued
line at once, so a flood costs one hand-over per batch. A dropped stream is opened again (up to
30 times) and the lines already delivered are skipped; ``None`` marks the end, an exception why
the log could not be read to its end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from polymagic.errors import ApiError, ClusterError
from polymagic.kube.api import Clock, Cluster
from polymagic.outcome.events import ProgressEvent
from polymagic.outcome.pod_state import PodStateMachine
from polymagic.render.build_objects import CONTAINER_NAME

__all__ = ["LineItem", "LinePipe", "follow_log", "read_log"]

LineItem = str | BaseException | None
"""A log line; an error that ended the log early; None at the end."""

_ATTEMPTS = 30


class LinePipe:
    """Log lines handed from the reader thread to the follower, each with its arrival time."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self._limit = limit
        self._clock = clock
        self._items: list[tuple[LineItem, float]] = []
        self._ready = threading.Condition()

    def put(self, item: LineItem, stop: threading.Event) -> bool:
        """Queue ``item``; False when ``stop`` was set (the follower has gone away)."""
        with self._ready:
            while len(self._items) >= self._limit:
                if stop.is_set():
                    return False
                self._ready.wait(0.5)
            if stop.is_set():
                return False
            self._items.append((item, self._clock.now()))
            self._ready.notify_all()
        return True

    def take(self, timeout: float) -> list[tuple[LineItem, float]]:
        """Everything queued (waiting up to ``timeout`` real seconds for something)."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            items, self._items = self._items, []
            self._ready.notify_all()
        return items


def _permanent(exc: ClusterError) -> bool:
    """An answer that will not change by asking again (a 4xx but 429)."""
    return (
        isinstance(exc, ApiError)
        and exc.status is not None
        and exc.status < 500
        and exc.status != 429
    )


def read_log(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    pipe: LinePipe,
    follow: bool,
    done: threading.Event,
    cancelled: threading.Event,
    clock: Clock,
) -> None:
    """Put the container's log into ``pipe`` until it ends (run on a thread of its own)."""
    seen = 0
    try:
        for attempt in range(_ATTEMPTS):
            if cancelled.is_set():
                break
            try:
                index = 0
                for line in cluster.pod_log(namespace, name, CONTAINER_NAME, follow=follow):
                    index += 1
                    if index <= seen:
                        continue  # resumed after a drop: skip what was already delivered
                    seen = index
                    if not pipe.put(line, done):
                        return
                break
            except ClusterError as exc:
                if _permanent(exc) or cancelled.is_set() or attempt == _ATTEMPTS - 1:
                    pipe.put(exc, done)
                    return
                clock.wait(cancelled, 1.0)
    except Exception as exc:
        pipe.put(exc, done)
    finally:
        pipe.put(None, done)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClusterError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def follow_log(
    cluster: Cluster,
    machine: PodStateMachine,
    *,
    follow: bool,
    check: Callable[[], None],
    cancelled: threading.Event,
    clock: Clock,
) -> Iterator[ProgressEvent]:
    """The events of the build's log, read on a thread while this loop calls ``check`` (the
    overall deadline, a cancel) at least every half second. Lines that arrived together are
    read together, each with its arrival time (for the steps' durations)."""
    pipe = LinePipe(limit=1000, clock=clock)
    done = threading.Event()
    manifests = machine.manifests
    reader = threading.Thread(
        target=read_log,
        args=(cluster, manifests.namespace, manifests.name),
        kwargs={
            "pipe": pipe,
            "follow": follow,
            "done": done,
            "cancelled": cancelled,
            "clock": clock,
        },
        name=f"polymagic-log-{manifests.name}",
        daemon=True,
    )
    reader.start()
    last_line = clock.now()
    try:
        while True:
            check()
            batch = pipe.take(timeout=0.5)
            if not batch:
                idle = machine.log_idle(clock.now(), last_line)
                if idle is not None:
                    raise idle
                continue
            last_line = clock.now()
            lines = [(item, at) for item, at in batch if isinstance(item, str)]
            yield from machine.log_lines([x for x, _ in lines], [t for _, t in lines])
            end = next(((item, at) for item, at in batch if not isinstance(item, str)), None)
            if end is not None:
                item, at = end
                yield from machine.log_ended(at, None if item is None else _describe(item))
                return
    finally:
        done.set()
