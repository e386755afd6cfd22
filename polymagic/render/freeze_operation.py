"""The operation ``freeze`` writes: a Dockerfile init on the base image that installs the
requirements with pip and copies any local code and the requirements file into ``/code``.

Laid out for fast rebuilds (Kaniko's layer cache keys each step on every step before it):

1. ``RUN pip install`` of the compiled pins (platform-specific wheels: numpy, pandas, torch…),
   named on the line itself, so that a change to the requirements file does not touch this
   step: adding a pure-Python package keeps the large layer cached;
2. ``RUN pip install -r`` of the whole requirements file, bind-mounted from the build context
   (``--mount=type=bind``, whose contents the executor hashes into the step's cache key) rather
   than copied before it;
3. the requirements file and any local code copied into ``/code`` after the RUN steps
   (``postRunCopy``): the image holds the same files as before, and editing a helper module
   no longer reinstalls every package.

Both installs mount pip's cache (``--mount=type=cache,target=/root/.cache/pip``): kept between
builds when the operation names a cache volume, never in the image (so no ``--no-cache-dir``).

Also which Python the base image has, told from its name (``base_python``).

Pure: values in, YAML text out. The requirements file's name was checked by
``polymagic.render.freeze_lines.requirements_name_problem`` (letters, digits, ``._-/`` only, so
it is safe in a mount option) and is quoted for the shell anyway.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from polymagic.render.freeze_lines import safe_text
from polymagic.spec.yamltext import dump_yaml

__all__ = ["DEFAULT_LANG", "PIP_CACHE_MOUNT", "WORKDIR", "base_python", "operation_text"]

DEFAULT_LANG = "C.UTF-8"
"""The locale the generated Dockerfile sets: the one Debian's slim Python images have built in."""
WORKDIR = "/code"
"""Where the build's Dockerfile puts the context's files (Polyaxon's default ``workdir``)."""
PIP_CACHE_MOUNT = "--mount=type=cache,target=/root/.cache/pip"
"""pip's cache (root's: the base images run as root) as a cache mount of the install steps."""
_PYTHON_IMAGE = re.compile(r"^(?:[^/\s]+/)*python:(\d+)\.(\d+)(?:\.(\d+))?(?:[-@][^\s]*)?$")
MOUNTED_REQUIREMENTS = "/tmp"
"""Where the install step sees the bind-mounted requirements file (gone after the step)."""


def _copy_entries(requirements: str, copied: Sequence[str]) -> list[Any]:
    entries: list[Any] = [requirements]
    for path in copied:
        # A file at the context's top copies as Polyaxon's plain entry (into the workdir); a
        # folder, or a file deeper down, keeps its place so that imports find it as they did.
        entries.append(
            path if "/" not in path and path.endswith(".py") else [path, f"{WORKDIR}/{path}"]
        )
    return entries


def _run_lines(requirements: str, pip_conf: str | None, compiled: Sequence[str]) -> list[str]:
    """The pip steps: the compiled pins first (when any), then the bind-mounted file."""
    filename = requirements.rsplit("/", 1)[-1]
    mounted = f"{MOUNTED_REQUIREMENTS}/{filename}"
    mounts = PIP_CACHE_MOUNT
    if pip_conf:
        mounts = f"--mount=type=secret,id={pip_conf},target=/etc/pip.conf {mounts}"
    run = [f"{mounts} pip install {' '.join(_shell_word(line) for line in compiled)}"]
    run = run if compiled else []
    run.append(
        f"{mounts} --mount=type=bind,source={requirements},target={mounted}"
        f" pip install -r {_shell_word(mounted)}"
    )
    return run


def operation_text(
    *,
    base: str,
    name: str,
    destination: str | None,
    connection: str,
    requirements: str,
    summary: str,
    copied: Sequence[str],
    pip_conf: str | None = None,
    compiled: Sequence[str] = (),
) -> str:
    """The ``%%polybuild`` operation: ``base``, the requirements installed, local code copied;
    ``compiled``: the requirement lines of compiled distributions, installed in a step of
    their own first. With ``pip_conf`` (a connection name), both pip steps read that
    connection's secret as ``/etc/pip.conf`` (a build secret: e.g. a private index with its
    token, never in the image)."""
    run = _run_lines(requirements, pip_conf, compiled)
    document = {
        "version": 1.1,
        "kind": "operation",
        "name": name,
        # Without --destination the value stays unset: the cell and the form then say that
        # `destination` has no value, until the user gives the image to push.
        "params": {
            "destination": {
                "connection": connection,
                **({"value": destination} if destination else {}),
            }
        },
        "runPatch": {
            **({"connections": [pip_conf]} if pip_conf else {}),
            "init": [
                {
                    "dockerfile": {
                        "image": base,
                        "run": run,
                        "postRunCopy": _copy_entries(requirements, copied),
                        "langEnv": DEFAULT_LANG,
                    }
                }
            ],
        },
        "hubRef": "kaniko",
    }
    header = f"# From polymagic freeze: {summary}.\n"
    if not destination:
        header += (
            "# Give params.destination a value: the image to push (or run it with"
            " -P destination=registry.example.com/org/app).\n"
        )
    return header + dump_yaml(document)


def _shell_word(word: str) -> str:
    """``word`` quoted for the RUN line's shell (names checked by ``requirements_name_problem``
    need no quotes and get none, so the usual Dockerfile reads as before)."""
    return shlex.quote(word)


def base_python(
    python: tuple[int, int, int], base: str | None
) -> tuple[tuple[int, int, int], str | None]:
    """The base image's Python (for markers and the packaging-tools rule) and a warning when it
    is not the kernel's or cannot be told from the image's name."""
    if base is None:
        return python, None
    match = _PYTHON_IMAGE.match(base)
    kernel = ".".join(map(str, python[:2]))
    if match is None:
        return python, (
            f"--base {safe_text(base, 200)}: cannot tell its Python from the name; markers are"
            f" evaluated for the kernel's Python {kernel}, so make sure the image has it, with a"
            " `pip` on its PATH that may install (Debian's and Ubuntu's own python3 have none and"
            " refuse system-wide installs, PEP 668: use a base whose PATH starts with a venv)"
        )
    major, minor = int(match.group(1)), int(match.group(2))
    micro = (
        int(match.group(3))
        if match.group(3)
        else (python[2] if (major, minor) == python[:2] else 0)
    )
    if (major, minor) == python[:2]:
        return (major, minor, micro), None
    return (major, minor, micro), (
        f"--base {safe_text(base, 200)} has Python {major}.{minor}, the kernel {kernel}: markers"
        f" are evaluated for {major}.{minor}, but the versions pinned are the ones installed for"
        f" {kernel} and may not exist for {major}.{minor}; prefer a base with Python {kernel}"
    )
