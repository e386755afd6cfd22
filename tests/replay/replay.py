"""Recorded API traffic played back: a ``Cluster`` that answers as the real one did, on a
virtual clock, so a build that took a minute on the test cluster replays in milliseconds.

The tape is read as a timeline, not as a script of calls: the pod as it was at each moment
(from watches, reads and the creation), its events, the log with each line's first arrival,
when the log ended, the outages (an API server restart: every call fails from the first
connection error until a call got an answer again), and the 410s. A call at virtual time ``t``
gets the answer the cluster gave around ``t``, however the code under test orders its calls;
a watch and a log stream move the clock to each recorded item's time, a pause moves it by its
length. The preflight and creation calls are answered from the recorded calls with the same
arguments, in order. Deleting the pod is the one write the replay acts on: afterwards reads
answer 404, the watch reports DELETED and the log ends, as on the real cluster.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from polymagic.kube.api import JsonDict
from polymagic.kube.submit import Submission
from polymagic.outcome.pod_reading import manifests_of, resource_version
from polymagic.registry import ImageReference, ManifestAnswer, Presence, RegistryAnswer
from polymagic.render.build_objects import BuildManifests, KanikoOptions
from polymagic.render.compiler import CompiledBuild
from polymagic.render.options import BuildOptions
from tests.replay.tape import Call, Tape, is_transient, raise_error

__all__ = ["NoRegistry", "ReplayCluster", "VirtualClock", "options_of", "submission_of"]

NO_REGISTRY = "no registry answers in a replay"
# Methods answered from the recorded call with the same arguments; the others from the timeline.
_BY_ARGS = {"read_namespace", "read_secret_type", "read_secret_data", "can_i", "list_pods"}
_PLAIN = _BY_ARGS | {"create_config_map", "create_pod", "patch_config_map", "read_config_map"}


class VirtualClock:
    """A monotonic clock that moves only when told to: by a replayed stream, or a wait."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance_to(self, when: float) -> None:
        with self._lock:
            self._now = max(self._now, when)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.advance_to(self.now() + seconds)
        return event.is_set()


@dataclass(frozen=True)
class _Outage:
    start: float
    stop: float
    error: JsonDict


@dataclass
class _Timeline:
    """What the cluster said over time, read off a tape."""

    pods: list[tuple[float, str, JsonDict]] = field(default_factory=list)
    """The pod as created, read and watched: what a read answers at each moment."""
    changes: list[tuple[float, str, JsonDict]] = field(default_factory=list)
    """Each version of the pod once, in version order, with when it was first seen."""
    events: list[tuple[float, list[JsonDict]]] = field(default_factory=list)
    log: list[tuple[float, str]] = field(default_factory=list)
    log_complete: float | None = None
    outages: list[_Outage] = field(default_factory=list)
    expiries: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, tape: Tape) -> _Timeline:
        line = cls()
        for call in tape.calls:
            line._take(call)
        line.pods.sort(key=lambda item: item[0])
        # Each version once, when it was first seen (a read sees a change as well as a watch).
        first: dict[int, tuple[float, str, JsonDict]] = {}
        for at, kind, pod in line.pods:
            if kind != "GONE" and _version(pod) not in first:
                first[_version(pod)] = (at, "MODIFIED" if kind == "READ" else kind, pod)
        line.changes = [first[version] for version in sorted(first)]
        line.events.sort(key=lambda item: item[0])
        line.expiries.sort()
        line.outages = _outages(tape.calls)
        return line

    def _take(self, call: Call) -> None:
        end = call.end if call.end is not None else call.at
        if call.method == "create_pod" and call.error is None:
            self.pods.append((end, "ADDED", call.result))
        elif call.method == "read_pod":
            # An answer holds from the moment it was asked for (it is the state somewhere
            # between the call's start and end).
            if call.error is None:
                self.pods.append((call.at, "READ", call.result))
            elif call.error.get("status") == 404:
                self.pods.append((end, "GONE", {}))
        elif call.method == "watch_pod":
            self.pods += [(float(at), str(kind), pod) for at, kind, pod in call.items]
            if call.error is not None and call.error["type"] == "WatchExpired":
                self.expiries.append(float(call.error_at or end))
        elif call.method == "pod_events" and call.error is None:
            self.events.append((call.at, list(call.result)))
        elif call.method == "pod_log":
            self._take_log(call, end)

    def _take_log(self, call: Call, end: float) -> None:
        # Every stream starts from the log's beginning: line i arrived first in some stream.
        for index, (at, text) in enumerate(call.lines):
            if index < len(self.log):
                self.log[index] = (min(self.log[index][0], float(at)), self.log[index][1])
            else:
                self.log.append((float(at), str(text)))
        ended = isinstance(call.result, dict) and call.result.get("ended")
        if ended or (call.error is None and not call.kwargs.get("follow")):
            self.log_complete = min(end, self.log_complete or end)


def _outages(calls: list[Call]) -> list[_Outage]:
    """Windows from a connection error until a call got an answer again."""
    failed = sorted(
        (float(c.error_at or c.end or c.at), c.error)
        for c in calls
        if c.error is not None and is_transient(c.error)
    )
    answered = sorted(
        c.at for c in calls if c.error is None or not is_transient(c.error) or c.items or c.lines
    )
    outages: list[_Outage] = []
    for start, error in failed:
        if outages and outages[-1].start <= start < outages[-1].stop:
            continue
        later = bisect.bisect_right(answered, start)
        stop = answered[later] if later < len(answered) else start + 1.0
        outages.append(_Outage(start, stop, error))
    return outages


def _version(pod: JsonDict) -> int:
    found = resource_version(pod)
    return int(found) if found and found.isdigit() else -1


class ReplayCluster:
    """A ``Cluster`` answering from a ``Tape`` on a ``VirtualClock``."""

    def __init__(self, tape: Tape, clock: VirtualClock, namespace: str | None = None) -> None:
        self.tape = tape
        self.clock = clock
        self.source = f"a replay of `{tape.scenario}`"
        self.line = _Timeline.of(tape)
        self._namespace = namespace or _namespace_of(tape)
        self._answered: dict[tuple[Any, ...], int] = {}
        self._lock = threading.RLock()
        self.deleted_at: float | None = None
        """When the code under test deleted the pod (None: it did not)."""
        self.replayed: list[str] = []
        """The recorded errors the replay raised again, by class name."""
        self.watched_from: list[str | None] = []
        """The resource version of each watch asked for (None: from the present)."""

    @property
    def namespace(self) -> str:
        return self._namespace

    def fresh(self) -> ReplayCluster:
        return self

    def close(self) -> None:
        pass

    # -- answers -------------------------------------------------------------------------------

    def _fail(self, error: JsonDict) -> NoReturn:
        self.replayed.append(error["type"])
        raise_error(error)

    def _check_up(self) -> None:
        now = self.clock.now()
        for outage in self.line.outages:
            if outage.start <= now < outage.stop:
                self._fail(outage.error)

    def _interrupt(self, until: float) -> None:
        """Raise what happened between now and ``until`` (an outage, a 410), at its time."""
        now = self.clock.now()
        with self._lock:
            expiry = self.line.expiries[0] if self.line.expiries else None
            if expiry is not None and expiry <= until:
                self.line.expiries.pop(0)
                self.clock.advance_to(expiry)
                self._fail({"type": "WatchExpired", "message": "too old resource version"})
        for outage in self.line.outages:
            if now < outage.start <= until:
                self.clock.advance_to(outage.start)
                self._fail(outage.error)

    def _plain(self, method: str, args: list[Any]) -> Any:
        """The recorded answer of the same call (in order; the last one again after that)."""
        self._check_up()
        key = (method, *args) if method in _BY_ARGS else (method,)
        recorded = [
            call
            for call in self.tape.of(method)
            if method not in _BY_ARGS or call.args == list(args)
        ]
        if not recorded:
            raise AssertionError(f"the tape `{self.tape.scenario}` has no answer to {key}")
        with self._lock:
            index = self._answered.get(key, 0)
            self._answered[key] = index + 1
        call = recorded[min(index, len(recorded) - 1)]
        if index < len(recorded) and call.end is not None:
            self.clock.advance_to(call.end)
        if call.error is not None:
            self._fail(call.error)
        return copy.deepcopy(call.result)

    def _pod_now(self) -> tuple[str, JsonDict] | None:
        now = self.clock.now()
        seen = [(kind, pod) for at, kind, pod in self.line.pods if at <= now]
        if seen:
            return seen[-1]
        return (self.line.pods[0][1], self.line.pods[0][2]) if self.line.pods else None

    # -- the Cluster calls ---------------------------------------------------------------------

    def read_namespace(self, name: str) -> JsonDict:
        result: JsonDict = self._plain("read_namespace", [name])
        return result

    def read_secret_type(self, namespace: str, name: str) -> str:
        return str(self._plain("read_secret_type", [namespace, name]))

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        return dict(self._plain("read_secret_data", [namespace, name]))

    def can_i(self, verb: str, resource: str, namespace: str, subresource: str = "") -> bool:
        return bool(self._plain("can_i", [verb, resource, namespace, subresource]))

    def create_config_map(self, namespace: str, body: JsonDict) -> JsonDict:
        result: JsonDict = self._plain("create_config_map", [namespace, body])
        return result

    def create_pod(self, namespace: str, body: JsonDict) -> JsonDict:
        result: JsonDict = self._plain("create_pod", [namespace, body])
        return result

    def patch_config_map(self, namespace: str, name: str, patch: JsonDict) -> JsonDict:
        result: JsonDict = self._plain("patch_config_map", [namespace, name, patch])
        return result

    def read_config_map(self, namespace: str, name: str) -> JsonDict:
        result: JsonDict = self._plain("read_config_map", [namespace, name])
        return result

    def list_pods(self, namespace: str | None, selector: str) -> list[JsonDict]:
        return list(self._plain("list_pods", [namespace, selector]))

    def read_pod(self, namespace: str, name: str) -> JsonDict:
        self._check_up()
        found = self._pod_now()
        if self.deleted_at is not None or found is None or found[0] in ("DELETED", "GONE"):
            self._fail({"type": "ApiError", "message": f"reading Pod `{name}`: not found (404)",
                        "status": 404, "reason": "Not Found"})  # fmt: skip
        return copy.deepcopy(found[1])

    def pod_events(self, namespace: str, pod: str) -> list[JsonDict]:
        self._check_up()
        now = self.clock.now()
        seen = [events for at, events in self.line.events if at <= now]
        return copy.deepcopy(seen[-1]) if seen else []

    def delete_pod(self, namespace: str, name: str) -> bool:
        self._check_up()
        with self._lock:
            existed = self.deleted_at is None
            self.deleted_at = self.deleted_at if not existed else self.clock.now()
        return existed

    def delete_config_map(self, namespace: str, name: str) -> bool:
        self._check_up()
        return True

    def watch_pod(
        self, namespace: str, name: str, resource_version: str | None, timeout_seconds: int
    ) -> Iterator[tuple[str, JsonDict]]:
        self._check_up()
        self.watched_from.append(resource_version)
        start = self.clock.now()
        limit = start + timeout_seconds
        after = int(resource_version) if resource_version and resource_version.isdigit() else -1
        last: JsonDict = {}
        current = self._pod_now()
        if resource_version is None and current and current[0] not in ("DELETED", "GONE"):
            # From the present: the server first sends the pod as it is.
            after, last = _version(current[1]), current[1]
            yield "ADDED", copy.deepcopy(current[1])
        # Every change after the version asked for, as the server's watch cache gives it: at
        # once if it had arrived by now, else when it arrived.
        for at, kind, pod in self.line.changes:
            if _version(pod) <= after and kind != "DELETED":
                continue
            if at > limit:
                break
            if at > self.clock.now():
                self._interrupt(at)
                if self.deleted_at is not None:
                    break
                self.clock.advance_to(at)
            after, last = max(after, _version(pod)), pod
            yield kind, copy.deepcopy(pod)
            if kind == "DELETED":
                return
        if self.deleted_at is None:
            self._interrupt(limit)
        if self.deleted_at is not None:
            self.clock.advance_to(max(self.clock.now(), self.deleted_at))
            yield "DELETED", last or (self._pod_now() or ("", {}))[1]
            return
        self.clock.advance_to(limit)

    def pod_log(
        self,
        namespace: str,
        name: str,
        container: str,
        *,
        follow: bool,
        read_timeout: float | None = None,
    ) -> Iterator[str]:
        self._check_up()
        if not follow:
            self.clock.advance_to(self.line.log_complete or self.clock.now())
        for at, text in self.line.log:
            if self.deleted_at is not None:
                return  # the container was killed: its log ends
            if at > self.clock.now():
                if not follow:
                    return
                self._interrupt_log(at)
                self.clock.advance_to(at)
            yield text
        if follow and self.line.log_complete is not None:
            self._interrupt_log(self.line.log_complete)
            self.clock.advance_to(self.line.log_complete)

    def _interrupt_log(self, until: float) -> None:
        now = self.clock.now()
        for outage in self.line.outages:
            if now < outage.start <= until:
                self.clock.advance_to(outage.start)
                self._fail(outage.error)


def _namespace_of(tape: Tape) -> str:
    for call in tape.calls:
        if call.method in ("read_namespace",):
            return str(call.args[0])
        if call.method in ("read_pod", "create_pod", "pod_events", "watch_pod"):
            return str(call.args[0])
    raise AssertionError(f"the tape `{tape.scenario}` names no namespace")


class NoRegistry:
    """A destination registry no replay reaches: "can't tell" before the build (so its size
    is not asked after), as the test cluster's ``registry.example.com`` answers."""

    def find_built_image(
        self,
        cluster: Any,
        build: CompiledBuild,
        manifests: BuildManifests,
        kaniko: KanikoOptions,
    ) -> RegistryAnswer | None:
        if not manifests.destinations:
            return None
        reference = ImageReference.parse(manifests.destinations[0])
        return RegistryAnswer(Presence.UNKNOWN, reference, reason=NO_REGISTRY)

    def tag_destinations(
        self, cluster: Any, build: CompiledBuild, manifests: BuildManifests, found: RegistryAnswer
    ) -> ManifestAnswer:
        return ManifestAnswer(None, NO_REGISTRY)

    def pushed_image_size(
        self, cluster: Any, manifests: BuildManifests, secret: str | None, image: str
    ) -> tuple[int | None, str]:
        return None, f"the image's size is unknown: {NO_REGISTRY}"


def options_of(tape: Tape, **changes: Any) -> BuildOptions:
    """The options the recorded build was followed with (in the tape's namespace)."""
    return replace(BuildOptions(namespace=_namespace_of(tape), **tape.options), **changes)


def submission_of(tape: Tape, **changes: Any) -> Submission:
    """What the recorded build submitted (its pod and ConfigMap as created), at time 0."""
    (pod,) = tape.of("create_pod")
    (config_map,) = tape.of("create_config_map")[:1]
    manifests = manifests_of(pod.args[1], config_map.args[1].get("data") or {})
    manifests = replace(manifests, config_map=config_map.args[1])
    return Submission(
        manifests,
        options_of(tape, **changes),
        0.0,
        resource_version=resource_version(pod.result),
        registry_unreachable=NO_REGISTRY,
    )
