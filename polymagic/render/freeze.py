"""Turning a Python environment into a build spec: pinned requirements and the operation that
installs them (``%polybuild freeze`` / ``polymagic freeze``).

Pure: it works on an ``Environment`` snapshot (made by ``polymagic.app.interpreter`` from the running
interpreter, or by a test by hand) and returns text. What it decides:

- which distributions to keep: all of them but the tooling's (below), and what the user asked for
  by name even when the tooling needs it too (``REQUESTED``, or an install command in the
  kernel's history: ``Environment.asked``); or, with ``imported_only``, those the user's code
  imports (``Environment.used``: read from the cells and local modules), those its values come
  from (``referenced``) and any loaded module's distribution that the tooling does not need; then
  everything they require (``Requires-Dist``, markers evaluated for the base image's Python on
  Linux), tooling included: whatever is kept is pinned;
- what the user installed (asked for by name, or a distribution outside the tooling's closure
  that nothing requires) and ``imported_only`` leaves out: named in the summary and the file;
- what to leave out: the notebook tooling (IPython, ipykernel, ``jupyter*``, ipywidgets,
  polymagic, pip/setuptools/wheel) and whatever only the tooling requires, unless the user's code
  imports it (pip/setuptools/wheel only when the base image's Python is 3.12 or later, which
  brings no setuptools); copies vendored inside another distribution are never pinned;
- local code (modules no distribution installed): copied into the image when inside the build
  context, otherwise named as needing attention;
- which of the pinned distributions the user's code imports: named on a comment line of the
  file (``polymagic.render.freeze_header``), for the image's SBOM;
- what cannot be reinstalled from an index, never dropped silently: a remote VCS install stays
  ``name @ git+https://…@COMMIT``, and so does an editable install from a git checkout with no
  changes whose commit a remote branch holds (``Distribution.checkout``); any other local
  install, a URL holding credentials, or a name or version the packaging grammars refuse
  becomes a comment line (escaped by ``polymagic.render.freeze_lines``) and an ``Attention``
  item the caller shows as a warning.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from polymagic.render.freeze_graph import RequirementGraph
from polymagic.render.freeze_header import imported_line
from polymagic.render.freeze_lines import (
    Checkout,
    checkout_line,
    comment,
    pinned_line,
    safe_text,
    vcs_line,
)
from polymagic.render.freeze_operation import base_python, operation_text

__all__ = [
    "Attention",
    "Distribution",
    "Environment",
    "FreezeOptions",
    "FreezeResult",
    "LocalModule",
    "editable_folder",
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
        *("pip", "setuptools", "wheel"),
    }
)
PACKAGING_TOOLS = frozenset({"pip", "setuptools", "wheel"})
"""Kept only when the user's code imports them and the base image's Python brings none (3.12+)."""
TOOLING_PREFIXES = ("jupyter-", "jupyterlab")
DEFAULT_CONNECTION = "docker-connection"


@dataclass(frozen=True)
class Distribution:
    """One installed distribution, as its metadata describes it."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    """``Requires-Dist`` lines, markers included."""
    direct_url: Mapping[str, Any] | None = None
    """PEP 610 ``direct_url.json``: how it was installed when not from an index."""
    requested: bool = False
    """The user asked for it by name (an installer wrote ``REQUESTED``), not as a dependency."""
    location: str | None = None
    problem: str | None = None
    """Why its metadata cannot be used (no name, no version, unreadable), if so."""
    vendored_by: str | None = None
    """The distribution whose own files hold this one (``setuptools/_vendor``): never pinned."""
    compiled: bool = False
    """Installed from a platform-specific wheel (its ``WHEEL`` says ``Root-Is-Purelib: false``):
    compiled code, the large and seldom-changing part of most environments."""
    checkout: Checkout | None = None
    """The git state of an editable install's folder, when it is a git work tree."""

    @property
    def key(self) -> str:
        return canonicalize_name(self.name) if self.name else f"?{self.location}"


@dataclass(frozen=True)
class LocalModule:
    """Code that no distribution installed: a helper module or package the user's code loads."""

    name: str
    path: str
    """The top-level file or folder to copy (absolute)."""
    in_context: str | None = None
    """Its path inside the build context (forward slashes), or None when it cannot be copied."""
    problem: str | None = None
    """Why it cannot be copied though inside the context; None: it lies outside."""


@dataclass(frozen=True)
class Environment:
    """What ``freeze`` reads: the interpreter's version and distributions, and what was imported."""

    python: tuple[int, int, int]
    distributions: tuple[Distribution, ...]
    imported: frozenset[str] = frozenset()
    """Keys of the distributions that installed any loaded module."""
    used: frozenset[str] = frozenset()
    """Keys of the distributions the user's code imports (cells, local modules, names bound)."""
    referenced: frozenset[str] = frozenset()
    """Keys of the distributions the values in the user's namespace were defined in."""
    local: tuple[LocalModule, ...] = ()
    machine: str = "x86_64"
    asked: frozenset[str] = frozenset()
    """Keys the user asked an installer for in the kernel (``%pip install X``), read from its
    input history: the user's, even where pip wrote no ``REQUESTED``."""


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
    pip_conf: str | None = None
    """A connection whose secret pip reads as ``/etc/pip.conf`` (a private index)."""


@dataclass(frozen=True)
class Attention:
    """Something the image will not have unless the user acts: a distribution that cannot be
    reinstalled from a package index, or local code outside the build context."""

    name: str
    version: str
    why: str
    todo: str

    def line(self) -> str:
        label = f"{self.name}=={self.version}" if self.version else self.name
        return safe_text(f"{label}: {self.why}; {self.todo}", limit=2000)


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
    copied: tuple[str, ...] = ()
    """Local code copied into the image (paths inside the build context)."""
    not_imported: tuple[str, ...] = ()
    """With ``imported_only``: distributions the user installed (asked for by name) that their
    code does not import, left out (``name==version``)."""

    def summary(self) -> str:
        """``N packages pinned, [L local modules copied, ]M left out as tooling, [J installed by
        you but not imported (left out), ]K needing attention``."""
        return _summary(
            len(self.pinned),
            len(self.copied),
            len(self.left_out),
            len(self.attention),
            len(self.not_imported),
        )


def _summary(pinned: int, copied: int, left_out: int, attention: int, not_imported: int) -> str:
    local = f"{copied} local module{'' if copied == 1 else 's'} copied, " if copied else ""
    yours = f" {not_imported} installed by you but not imported (left out)," if not_imported else ""
    return (
        f"{pinned} package{'' if pinned == 1 else 's'} pinned, {local}{left_out} left out as"
        f" tooling,{yours} {attention} needing attention"
    )


def is_tooling(name: str) -> bool:
    """True for the notebook tooling and packaging tools that a build image does not need."""
    key = canonicalize_name(name)
    return key in TOOLING or key.startswith(TOOLING_PREFIXES) or key == "jupyter"


def _asked(
    env: Environment, graph: RequirementGraph[Distribution], outside_tooling: set[str]
) -> set[str]:
    """What the user installed by name: ``REQUESTED``, the kernel's install commands, and any
    distribution outside the tooling's closure that no other installed distribution requires
    (pip writes no ``REQUESTED`` when the package was there already): nothing named it as a
    dependency, so someone installed it by name."""
    required: set[str] = set()  # named by any installed distribution, whatever its markers
    for dist in graph.by_key.values():
        for text in dist.requires:
            try:
                name = canonicalize_name(Requirement(text).name)
            except InvalidRequirement:
                continue
            if name != dist.key:
                required.add(name)
    requested = {key for key, dist in graph.by_key.items() if dist.requested}
    asked = requested | (env.asked & set(graph.by_key)) | (outside_tooling - required)
    return {key for key in asked if graph.by_key[key].problem is None}


def _chosen(
    env: Environment, graph: RequirementGraph[Distribution], options: FreezeOptions
) -> tuple[set[str], set[str], set[str]]:
    """The keys to write, the keys left out as tooling (or excluded) and what only they need,
    and (``imported_only``) what the user installed by name and the code does not import."""
    every = set(graph.by_key)
    excluded = frozenset(canonicalize_name(n) for n in options.exclude)
    tooling: set[str] = set()
    if not options.include_tooling:
        tooling = {key for key in every if is_tooling(graph.by_key[key].name)}
    tooling_closure = graph.closure(tooling)
    # The user's code importing a distribution is the strongest evidence: kept, tooling or not,
    # except the packaging tools where the base image brings its own (Python before 3.12).
    user: set[str] = set(env.used & every)
    if graph.python[:2] < (3, 12):
        user -= PACKAGING_TOOLS
    referenced: set[str] = set(env.referenced & every) - tooling_closure
    excluded_closure = graph.closure(excluded)
    asked = _asked(env, graph, every - tooling_closure) - tooling - excluded_closure
    if options.imported_only:
        roots = user | referenced | ((env.imported & every) - tooling_closure)
    else:
        unneeded = every - tooling_closure - excluded_closure
        roots = (unneeded | asked) - tooling | user | referenced
    kept = graph.closure(roots - excluded, skip=excluded)
    not_imported = asked - kept
    left_out = (tooling_closure | excluded_closure) - kept - not_imported
    return kept, left_out, not_imported


def _local_path(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path)


def editable_folder(direct_url: Mapping[str, Any] | None) -> str | None:
    """The absolute project folder of a local editable install (PEP 610), else None."""
    info = direct_url or {}
    directory, url = info.get("dir_info"), info.get("url")
    if not isinstance(directory, Mapping) or directory.get("editable") is not True:
        return None
    if not isinstance(url, str) or not url.startswith("file://"):
        return None
    folder = _local_path(url)
    return folder if folder.startswith("/") else None


_PUBLISH = "publish it to a package index and pin it by hand (or install it in the Dockerfile)"


def _direct_line(dist: Distribution) -> tuple[str | None, Attention | None]:
    """The requirement line for a distribution installed from a URL (PEP 610), or why not."""
    info = dist.direct_url or {}
    url = str(info.get("url") or "")
    directory = info.get("dir_info")
    if isinstance(directory, Mapping):
        how = "an editable install" if directory.get("editable") else "installed from a folder"
        where = f"{how} ({_local_path(url)})"
        if dist.checkout is not None and directory.get("editable"):
            return _checkout_line(dist, dist.checkout, where)
        return None, Attention(
            dist.name,
            dist.version,
            f"{where}, which the build cannot reach",
            "publish it to a package index, or copy it into the build context and install it"
            " from there",
        )
    if url.startswith("file:") or "://" not in url:
        what = "a local repository" if isinstance(info.get("vcs_info"), Mapping) else "a local file"
        return None, Attention(
            dist.name,
            dist.version,
            f"installed from {what} ({_local_path(url)}), which the build cannot reach",
            f"push it to a remote repository and pin `name @ git+https://...@commit`, or {_PUBLISH}",
        )
    line, why = vcs_line(dist.name, info)
    if line is not None:
        return line, None
    shown = re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1***@", url, count=1, flags=re.I)
    return None, Attention(
        dist.name,
        dist.version,
        f"installed from {shown}: {why}",
        "make the source reachable by https without credentials and pin it by hand, or"
        f" {_PUBLISH}; credentials never belong in a requirements file or an image",
    )


def _checkout_line(
    dist: Distribution, checkout: Checkout, how: str
) -> tuple[str | None, Attention | None]:
    """An editable install from a git checkout: pinned at its pushed commit, or why not."""
    line, why = checkout_line(dist.name, checkout)
    if line is not None:
        return line, None
    return None, Attention(
        dist.name,
        dist.version,
        f"{how} from a git checkout: {why}",
        "commit and push it, then freeze again (it is then pinned as `name @ git+URL@commit`),"
        " or publish it to a package index",
    )


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
    line, why = pinned_line(dist.name, dist.version)
    if line is None:
        return None, Attention(dist.name, dist.version, str(why), "pin it by hand")
    return line, None


def _local_code(env: Environment) -> tuple[list[str], list[Attention]]:
    copied: list[str] = []
    attention: list[Attention] = []
    for module in env.local:
        if module.in_context is not None:
            if module.in_context not in copied:
                copied.append(module.in_context)
            continue
        where = (
            f"local code at {module.path}: {module.problem}"
            if module.problem
            else f"local code at {module.path}, outside the build context"
        )
        attention.append(
            Attention(
                module.name,
                "",
                f"{where}, so the image will not have it",
                "rename or move it into the notebook's folder (or install it as a package), then"
                " freeze again",
            )
        )
    return copied, attention


def _requirements_text(
    python: tuple[int, int, int],
    lines: Sequence[str],
    attention: Sequence[Attention],
    summary: str,
    not_imported: Sequence[str],
    imported: Sequence[str],
) -> str:
    major, minor, micro = python
    out = [comment(f"Written by polymagic freeze for Python {major}.{minor}.{micro}: {summary}.")]
    header = imported_line(imported)
    if header is not None:
        out.append(header)
    out += lines
    if not_imported:
        out.append(
            comment(
                "Installed by you but not imported, left out by --imported (freeze without it"
                " keeps them):"
            )
        )
        out.extend(comment(label) for label in not_imported)
    if attention:
        out.append(comment("Needing attention (the image will not have these as they are):"))
        out.extend(comment(item.line()) for item in attention)
    return "\n".join(out) + "\n"


def _pinned(
    env: Environment, graph: RequirementGraph[Distribution], kept: set[str]
) -> tuple[list[str], dict[str, str], list[str], list[Attention]]:
    """The requirement lines of the kept distributions (sorted), their names by key, the lines
    of the compiled ones installed from an index, and what cannot be pinned."""
    lines: list[str] = []
    pinned: dict[str, str] = {}
    compiled: list[str] = []
    attention: list[Attention] = []
    for key in sorted(kept):
        dist = graph.by_key[key]
        line, problem = _line(dist)
        if line is not None:
            lines.append(line)
            pinned[key] = dist.name
            if dist.compiled and dist.direct_url is None:
                compiled.append(line)
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
    return lines, pinned, compiled, attention


def freeze(env: Environment, options: FreezeOptions | None = None) -> FreezeResult:
    """Pinned requirements and a build operation for ``env``."""
    options = options or FreezeOptions()
    python, base_warning = base_python(env.python, options.base)
    graph = RequirementGraph(env.distributions, python, env.machine)
    kept, left_out, yours = _chosen(env, graph, options)
    lines, pinned, compiled, attention = _pinned(env, graph, kept)
    copied, outside = _local_code(env)
    attention += outside
    major, minor, _ = env.python
    base = options.base or f"python:{major}.{minor}-slim"
    left_names = tuple(sorted(graph.by_key[key].name for key in left_out))
    not_imported = tuple(
        safe_text(f"{graph.by_key[key].name}=={graph.by_key[key].version}", 300)
        for key in sorted(yours)
    )
    summary = _summary(len(pinned), len(copied), len(left_names), len(attention), len(not_imported))
    unknown = sorted(
        name for name in options.exclude if canonicalize_name(name) not in graph.by_key
    )
    warnings = [item.line() for item in attention]
    warnings += [
        f"--exclude {safe_text(name, 100)}: no distribution of that name is installed"
        for name in unknown
    ]
    if base_warning:
        warnings.append(base_warning)
    return FreezeResult(
        requirements=_requirements_text(
            python, lines, attention, summary, not_imported, sorted(env.used & set(pinned))
        ),
        operation=operation_text(
            base=base,
            name=options.name,
            destination=options.destination,
            connection=options.connection or DEFAULT_CONNECTION,
            requirements=options.requirements,
            summary=summary,
            copied=copied,
            pip_conf=options.pip_conf,
            compiled=compiled,
        ),
        base=base,
        pinned=tuple(pinned.values()),
        left_out=left_names,
        attention=tuple(attention),
        warnings=tuple(warnings),
        copied=tuple(copied),
        not_imported=not_imported,
    )
