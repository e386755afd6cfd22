"""Who requires whom among installed distributions, for ``freeze``: ``Requires-Dist`` lines
followed with their markers evaluated for the target (the base image's Python, on Linux), and the
closure of a set of distributions. Vendored copies (``setuptools/_vendor``) are not in the graph.

Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["Node", "RequirementGraph", "marker_environment"]


class Node(Protocol):
    """What the graph reads of a distribution (``polymagic.render.freeze.Distribution``)."""

    @property
    def key(self) -> str: ...
    @property
    def requires(self) -> tuple[str, ...]: ...
    @property
    def vendored_by(self) -> str | None: ...


Distribution = TypeVar("Distribution", bound=Node)


def marker_environment(python: tuple[int, int, int], machine: str, extra: str) -> dict[str, str]:
    """Markers as the target sees them: the base's Python, on Linux (a ``python:*-slim`` image)."""
    major, minor, micro = python
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{major}.{minor}.{micro}",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{major}.{minor}.{micro}",
        "python_version": f"{major}.{minor}",
        "sys_platform": "linux",
        "extra": extra,
    }


class RequirementGraph(Generic[Distribution]):
    """Who requires whom among the installed distributions, for one target."""

    def __init__(
        self, distributions: Iterable[Distribution], python: tuple[int, int, int], machine: str
    ) -> None:
        self.python = python
        self.machine = machine
        self.by_key: dict[str, Distribution] = {}
        for dist in distributions:
            if dist.vendored_by is None:
                self.by_key.setdefault(dist.key, dist)  # the first on the path is what imports

    def requirements(self, dist: Distribution, extras: frozenset[str]) -> Iterable[Requirement]:
        """``dist``'s requirements whose markers hold on the target with ``extras``."""
        for text in dist.requires:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue  # a broken Requires-Dist line names nothing we could follow
            marker = requirement.marker
            if marker is None:
                yield requirement
                continue
            for extra in ("", *sorted(extras)):
                try:
                    if marker.evaluate(marker_environment(self.python, self.machine, extra)):
                        yield requirement
                        break
                except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
                    break

    def closure(self, roots: Iterable[str], skip: frozenset[str] = frozenset()) -> set[str]:
        """``roots`` and every installed distribution they require, transitively, never
        entering ``skip``."""
        seen: dict[str, set[str]] = {}
        stack: list[tuple[str, frozenset[str]]] = [(root, frozenset()) for root in roots]
        while stack:
            key, extras = stack.pop()
            dist = self.by_key.get(key)
            if dist is None or key in skip:
                continue
            known = seen.get(key)
            if known is not None and extras <= known:
                continue
            seen.setdefault(key, set()).update(extras)
            for requirement in self.requirements(dist, extras):
                stack.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
        return set(seen)
