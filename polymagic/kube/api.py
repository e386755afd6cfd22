"""The seams the build code depends on: the cluster calls it makes, and the clock it reads.

``Cluster`` lists exactly the calls ``kube.session`` and ``kube.submit`` make on
``polymagic.kube.client.Cluster`` (same names, same signatures), so a test can hand them a
replay of recorded API traffic instead (``tests/replay/``). ``Clock`` is where time comes from:
the real one here, a virtual one in replays, so a build's minutes replay in milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["REAL_CLOCK", "Clock", "Cluster", "JsonDict", "RealClock"]

JsonDict = dict[str, Any]


class Cluster(Protocol):
    """A logged-in connection to one cluster, with a default namespace (see ``kube.client``)."""

    @property
    def namespace(self) -> str: ...

    def fresh(self) -> Cluster:
        """The same cluster over a new connection (for cleanup after an interrupt)."""
        ...

    def close(self) -> None: ...

    def read_namespace(self, name: str) -> JsonDict: ...

    def read_secret_type(self, namespace: str, name: str) -> str: ...

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]: ...

    def can_i(self, verb: str, resource: str, namespace: str, subresource: str = "") -> bool: ...

    def create_config_map(self, namespace: str, body: JsonDict) -> JsonDict: ...

    def create_pod(self, namespace: str, body: JsonDict) -> JsonDict: ...

    def patch_config_map(self, namespace: str, name: str, patch: JsonDict) -> JsonDict: ...

    def read_pod(self, namespace: str, name: str) -> JsonDict: ...

    def read_config_map(self, namespace: str, name: str) -> JsonDict: ...

    def list_pods(self, namespace: str | None, selector: str) -> list[JsonDict]: ...

    def pod_events(self, namespace: str, pod: str) -> list[JsonDict]:
        """Events about one pod, oldest first."""
        ...

    def delete_pod(self, namespace: str, name: str) -> bool: ...

    def delete_config_map(self, namespace: str, name: str) -> bool: ...

    def watch_pod(
        self, namespace: str, name: str, resource_version: str | None, timeout_seconds: int
    ) -> Iterator[tuple[str, JsonDict]]:
        """``(type, pod)`` changes after ``resource_version``; raises ``WatchExpired`` (410)."""
        ...

    def pod_log(
        self,
        namespace: str,
        name: str,
        container: str,
        *,
        follow: bool,
        read_timeout: float | None = None,
    ) -> Iterator[str]: ...


class Clock(Protocol):
    """Monotonic seconds, and waiting on an event for at most some of them."""

    def now(self) -> float: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait until ``event`` is set or ``seconds`` have passed; True when it is set."""
        ...


class RealClock:
    """``time.monotonic`` and ``Event.wait``."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


REAL_CLOCK: Clock = RealClock()
