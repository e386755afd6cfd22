"""The operation ``freeze`` writes: a Dockerfile init on the base image that copies the
requirements file (and any local code) into ``/code`` and installs it with pip.

Pure: values in, YAML text out. The requirements file's name was checked by
``polymagic.render.freeze_lines.requirements_name_problem`` and is quoted for the shell anyway.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from polymagic.spec.yamltext import dump_yaml

__all__ = ["DEFAULT_LANG", "WORKDIR", "operation_text"]

DEFAULT_LANG = "C.UTF-8"
"""The locale the generated Dockerfile sets: the one Debian's slim Python images have built in."""
WORKDIR = "/code"
"""Where the build's Dockerfile puts the context's files (Polyaxon's default ``workdir``)."""


def _copy_entries(requirements: str, copied: Sequence[str]) -> list[Any]:
    entries: list[Any] = [requirements]
    for path in copied:
        # A file at the context's top copies as Polyaxon's plain entry (into the workdir); a
        # folder, or a file deeper down, keeps its place so that imports find it as they did.
        entries.append(
            path if "/" not in path and path.endswith(".py") else [path, f"{WORKDIR}/{path}"]
        )
    return entries


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
) -> str:
    """The ``%%polybuild`` operation: ``base``, the requirements installed, local code copied.
    With ``pip_conf`` (a connection name), pip reads that connection's secret as
    ``/etc/pip.conf`` (a build secret: e.g. a private index with its token, never in the image)."""
    filename = requirements.rsplit("/", 1)[-1]
    install = f"pip install --no-cache-dir -r {_shell_word(filename)}"
    if pip_conf:
        install = f"--mount=type=secret,id={pip_conf},target=/etc/pip.conf {install}"
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
                        "copy": _copy_entries(requirements, copied),
                        "run": [install],
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
