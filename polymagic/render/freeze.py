"""Turning a Python environment into a build spec: pinned requirements and the operation that
installs them (``%polybuild freeze`` / ``polymagic freeze``).

Pure: it works on an ``Environment`` snapshot (made by ``polymagic.app.interpreter`` from the running
interpreter, or by a test by hand) and returns text. What it decides:

- which distributions to pin: all of them, or with ``imported_only`` those whose modules the
  session imported, plus everything they require (``Requires-Dist``, environment markers evaluated
  for the target Python on Linux);
- what to leave out: the notebook tooling (IPython, ipykernel, ``jupyter*``, ipywidgets,
  polymagic, and pip/setuptools/wheel, which the base image brings) and whatever only the tooling
  requires, unless ``include_tooling``; plus ``exclude`` names and what only they require;
- what cannot be reinstalled from an index, never dropped silently: a VCS install becomes
  ``name @ git+URL@COMMIT`` (PEP 610's ``direct_url.json``); an editable or local install, or a
  distribution without usable metadata, becomes a commented line saying what to do, and an
  ``Attention`` item the caller shows as a warning.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from polymagic.spec.yamltext import dump_yaml

__all__ = [
    "Attention",
    "Distribution",
    "Environment",
    "FreezeOptions",
    "FreezeResult",
    "freeze",
    "is_tooling",
]

TOOLING = frozenset(
    {
        "ipython",
        "ipykernel",
        "ipywidgets",
        "widgetsnbextension",
        "notebook",
        "nbclassic",
        "polymagic",
        # Packaging tools: the base image brings its own, and pinning them only adds noise.
        "pip",
        "setuptools",
        "wheel",
    }
)
TOOLING_PREFIXES = ("jupyter-", "jupyterlab")
DEFAULT_LANG = "C.UTF-8"
"""The locale the generated Dockerfile sets: the one Debian's slim Python images have built in."""
DEFAULT_CONNECTION = "docker-connection"


@dataclass(frozen=True)
class Distribution:
    """One installed distribution, as its metadata describes it."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    """``Requires-Dist`` lines, markers included."""
    top_level: tuple[str, ...] = ()
    """Top-level module names it provides."""
    direct_url: Mapping[str, Any] | None = None
    """PEP 610 ``direct_url.json``: how it was installed when not from an index."""
    requested: bool = False
    """The user asked for it by name (an installer wrote ``REQUESTED``), not as a dependency."""
    location: str | None = None
    problem: str | None = None
    """Why its metadata cannot be used (no name, no version, unreadable), if so."""

    @property
    def key(self) -> str:
        return canonicalize_name(self.name) if self.name else f"?{self.location}"


@dataclass(frozen=True)
class Environment:
    """What ``freeze`` reads: the interpreter's version and distributions, and what was imported."""

    python: tuple[int, int, int]
    distributions: tuple[Distribution, ...]
    imported: frozenset[str] = frozenset()
    """Top-level names of every module the session has imported."""
    used: frozenset[str] = frozenset()
    """Top-level names of the modules the user's own namespace refers to."""
    machine: str = "x86_64"


@dataclass(frozen=True)
class FreezeOptions:
    """How to freeze (the options of ``%polybuild freeze`` and ``polymagic freeze``)."""

    imported_only: bool = False
    include_tooling: bool = False
    exclude: tuple[str, ...] = ()
    base: str | None = None
    destination: str | None = None
    connection: str | None = None
    requirements: str = "requirements.txt"
    """The requirements file's path inside the build context (a relative, forward-slash path)."""
    name: str = "freeze"


@dataclass(frozen=True)
class Attention:
    """A distribution that cannot simply be reinstalled from a package index."""

    name: str
    version: str
    why: str
    todo: str

    def line(self) -> str:
        label = f"{self.name}=={self.version}" if self.version else self.name
        return f"{label}: {self.why}; {self.todo}"


@dataclass(frozen=True)
class FreezeResult:
    """The requirements file and the operation for an environment."""

    requirements: str
    operation: str
    base: str
    pinned: tuple[str, ...]
    left_out: tuple[str, ...]
    """Names left out as notebook tooling (or by ``exclude``)."""
    attention: tuple[Attention, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """``N packages pinned, M left out as tooling, K needing attention``."""
        return _summary(len(self.pinned), len(self.left_out), len(self.attention))


def _summary(pinned: int, left_out: int, attention: int) -> str:
    return (
        f"{pinned} package{'' if pinned == 1 else 's'} pinned, {left_out} left out as tooling,"
        f" {attention} needing attention"
    )


def is_tooling(name: str) -> bool:
    """True for the notebook tooling and packaging tools that a build image does not need."""
    key = canonicalize_name(name)
    return key in TOOLING or key.startswith(TOOLING_PREFIXES) or key == "jupyter"


def _marker_environment(env: Environment, extra: str) -> dict[str, str]:
    """Markers as the target sees them: the same Python, on Linux (a ``python:*-slim`` image)."""
    major, minor, micro = env.python
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{major}.{minor}.{micro}",
        "os_name": "posix",
        "platform_machine": env.machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{major}.{minor}.{micro}",
        "python_version": f"{major}.{minor}",
        "sys_platform": "linux",
        "extra": extra,
    }


class _Graph:
    """Who requires whom among the installed distributions, for one target."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.by_key: dict[str, Distribution] = {}
        for dist in env.distributions:
            self.by_key.setdefault(dist.key, dist)  # the first on the path is what imports

    def requirements(self, dist: Distribution, extras: frozenset[str]) -> Iterable[Requirement]:
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
                    if marker.evaluate(_marker_environment(self.env, extra)):
                        yield requirement
                        break
                except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
                    break

    def closure(self, roots: Iterable[str]) -> set[str]:
        """``roots`` and every installed distribution they require, transitively."""
        seen: dict[str, set[str]] = {}
        stack: list[tuple[str, frozenset[str]]] = [(root, frozenset()) for root in roots]
        while stack:
            key, extras = stack.pop()
            dist = self.by_key.get(key)
            if dist is None:
                continue
            known = seen.get(key)
            if known is not None and extras <= known:
                continue
            seen.setdefault(key, set()).update(extras)
            for requirement in self.requirements(dist, extras):
                stack.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
        return set(seen)

    def providers(self, modules: Iterable[str]) -> set[str]:
        wanted = set(modules)
        return {
            key for key, dist in self.by_key.items() if any(top in wanted for top in dist.top_level)
        }


def _chosen(env: Environment, graph: _Graph, options: FreezeOptions) -> tuple[set[str], set[str]]:
    """The keys to write, and the keys left out as tooling (or excluded) and what only they need."""
    every = set(graph.by_key)
    left_roots: set[str] = {canonicalize_name(n) for n in options.exclude}
    if not options.include_tooling:
        left_roots |= {key for key in every if is_tooling(graph.by_key[key].name)}
    needed_by_left_out = graph.closure(left_roots)
    if options.imported_only:
        # Imported by the user's own code: what their namespace refers to, and modules that no
        # tooling would have imported.
        roots = graph.providers(env.used) | (graph.providers(env.imported) - needed_by_left_out)
    else:
        requested = {key for key, dist in graph.by_key.items() if dist.requested}
        roots = (every - needed_by_left_out) | requested
    kept = graph.closure(roots - left_roots) - left_roots
    return kept, needed_by_left_out - kept


_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


def _without_userinfo(url: str) -> tuple[str, bool]:
    cleaned = _USERINFO.sub(lambda m: m.group("scheme") + "***@", url, count=1)
    return cleaned, cleaned != url


def _local_path(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path)


def _direct_line(dist: Distribution) -> tuple[str | None, Attention | None]:
    """The requirement line for a distribution installed from a URL (PEP 610), or why not."""
    info = dist.direct_url or {}
    url = str(info.get("url") or "")
    shown, had_secret = _without_userinfo(url)
    if had_secret:
        return None, Attention(
            dist.name,
            dist.version,
            f"installed from {shown}, whose URL holds credentials",
            "make the source reachable without them (or publish the package) and pin it by hand;"
            " credentials never belong in a requirements file or an image",
        )
    subdirectory = info.get("subdirectory")
    fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
    vcs = info.get("vcs_info")
    if isinstance(vcs, Mapping):
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        kind = vcs.get("vcs") or "git"
        pin = f"@{commit}" if commit else ""
        return f"{dist.name} @ {kind}+{url}{pin}{fragment}", None
    directory = info.get("dir_info")
    if isinstance(directory, Mapping):
        how = "an editable install" if directory.get("editable") else "installed from a folder"
        return None, Attention(
            dist.name,
            dist.version,
            f"{how} ({_local_path(url)})",
            "publish it to a package index, or copy it into the build context and install it"
            " from there",
        )
    if url.startswith("file:"):
        return None, Attention(
            dist.name,
            dist.version,
            f"installed from a local file ({_local_path(url)})",
            "publish it to a package index, or copy the file into the build context and install"
            " it from there",
        )
    return f"{dist.name} @ {url}{fragment}", None


def _line(dist: Distribution) -> tuple[str | None, Attention | None]:
    if dist.problem is not None:
        return None, Attention(
            dist.name or "(unnamed)",
            dist.version,
            f"its metadata cannot be used ({dist.problem}) at {dist.location}",
            "reinstall it (`pip install --force-reinstall`) or add it by hand",
        )
    if dist.direct_url is not None:
        return _direct_line(dist)
    return f"{dist.name}=={dist.version}", None


def _requirements_text(
    env: Environment, lines: Sequence[str], attention: Sequence[Attention], summary: str
) -> str:
    major, minor, micro = env.python
    out = [
        f"# Written by polymagic freeze for Python {major}.{minor}.{micro}: {summary}.",
        *lines,
    ]
    if attention:
        out.append("# Needing attention (not installable from a package index as they are):")
        out.extend(f"# {item.line()}" for item in attention)
    return "\n".join(out) + "\n"


def _operation_text(base: str, options: FreezeOptions, summary: str) -> str:
    filename = options.requirements.rsplit("/", 1)[-1]
    document = {
        "version": 1.1,
        "kind": "operation",
        "name": options.name,
        # Without --destination the value stays unset: the cell and the form then say that
        # `destination` has no value, until the user gives the image to push.
        "params": {
            "destination": {
                "connection": options.connection or DEFAULT_CONNECTION,
                **({"value": options.destination} if options.destination else {}),
            }
        },
        "runPatch": {
            "init": [
                {
                    "dockerfile": {
                        "image": base,
                        "copy": [options.requirements],
                        "run": [f"pip install --no-cache-dir -r {filename}"],
                        "langEnv": DEFAULT_LANG,
                    }
                }
            ]
        },
        "hubRef": "kaniko",
    }
    header = f"# From polymagic freeze: {summary}.\n"
    if not options.destination:
        header += (
            "# Give params.destination a value: the image to push (or run it with"
            " -P destination=registry.example.com/org/app).\n"
        )
    return header + dump_yaml(document)


def freeze(env: Environment, options: FreezeOptions | None = None) -> FreezeResult:
    """Pinned requirements and a build operation for ``env``."""
    options = options or FreezeOptions()
    graph = _Graph(env)
    kept, left_out = _chosen(env, graph, options)
    lines: list[str] = []
    pinned: list[str] = []
    attention: list[Attention] = []
    for key in sorted(kept):
        line, problem = _line(graph.by_key[key])
        if line is not None:
            lines.append(line)
            pinned.append(graph.by_key[key].name)
        if problem is not None:
            attention.append(problem)
    # Broken installs have no usable name to follow: they are always listed.
    attention.extend(
        problem
        for dist in env.distributions
        if dist.problem is not None
        for _, problem in [_line(dist)]
        if problem is not None and dist.key not in kept
    )
    major, minor, _ = env.python
    base = options.base or f"python:{major}.{minor}-slim"
    left_names = tuple(sorted(graph.by_key[key].name for key in left_out))
    summary = _summary(len(pinned), len(left_names), len(attention))
    unknown = sorted(
        name for name in options.exclude if canonicalize_name(name) not in graph.by_key
    )
    warnings = [item.line() for item in attention]
    warnings += [f"--exclude {name}: no distribution of that name is installed" for name in unknown]
    return FreezeResult(
        requirements=_requirements_text(env, lines, attention, summary),
        operation=_operation_text(base, options, summary),
        base=base,
        pinned=tuple(pinned),
        left_out=left_names,
        attention=tuple(attention),
        warnings=tuple(warnings),
    )
