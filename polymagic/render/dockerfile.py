"""Rendering a ``dockerfile`` init into Dockerfile text, exactly as Polyaxon 2.18 does.

The layout rules (blank lines, order, the unquoted legacy ``ENV key value`` form, values printed
with Python's ``str()``) are part of the contract: a user moving an operation between Polyaxon
and polymagic must get the same bytes. Pure: no files, no network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polymagic.spec.models import DockerfileInit

__all__ = ["RenderedDockerfile", "dockerfile_instructions", "render_dockerfile"]


@dataclass(frozen=True)
class RenderedDockerfile:
    """A rendered Dockerfile and where it goes in the build context."""

    filename: str
    text: str
    init_index: int
    context_path: str

    @property
    def steps(self) -> list[str]:
        """The instructions Kaniko will execute, in order (comments and blanks left out)."""
        return dockerfile_instructions(self.text)


def _text(value: Any) -> str:
    # Polyaxon prints through its template engine, which is ``str()`` for every value
    # (``True``, ``1.5``, ``None``); a position that does not exist prints as nothing.
    return "" if value is _MISSING else str(value)


_MISSING = object()


def _item(sequence: Any, index: int) -> Any:
    try:
        return sequence[index]
    except (IndexError, KeyError, TypeError):
        return _MISSING


def _as_list(value: Any) -> list[Any]:
    """None → [], a list stays, a mapping becomes its items, anything else a one-item list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Mapping):
        return list(value.items())
    return [value]


def _copies(entries: Any, workdir: Any) -> list[str]:
    lines = []
    for entry in _as_list(entries):
        pair = [entry, workdir] if isinstance(entry, str) else entry
        lines.append(f"COPY {_text(_item(pair, 0))} {_text(_item(pair, 1))}\n")
    return lines


def render_dockerfile(spec: DockerfileInit) -> str:
    """The Dockerfile text Polyaxon renders for ``spec``, byte for byte."""
    out = [f"\nFROM {spec.image}\n\n"]
    if spec.lang_env:
        out += [f"ENV {name} {spec.lang_env}\n" for name in ("LC_ALL", "LANG", "LANGUAGE")]
    if spec.shell:
        out.append(f"\nENV SHELL {spec.shell}\n")
    out += [f'ENV PATH="${{PATH}}:{_text(step)}"\n' for step in _as_list(spec.path)]
    out += [f"ENV {_text(_item(pair, 0))} {_text(_item(pair, 1))}\n" for pair in _as_list(spec.env)]
    out.append(f"WORKDIR {spec.workdir}\n\n")
    out += _copies(spec.copy_, spec.workdir)
    out += [f"RUN {_text(step)}\n" for step in _as_list(spec.run)]
    out += _copies(spec.post_run_copy, spec.workdir)
    if spec.uid and spec.gid:
        out.append("# Drop root user and use Polyaxon user\n")
        out.append(
            f"RUN groupadd -g {spec.gid} -r polyaxon && useradd -r -m -g polyaxon"
            f" -u {spec.uid} {spec.username or 'polyaxon'}\n"
        )
    if spec.workdir_path:
        out.append(f"COPY {spec.workdir_path} {spec.workdir}\n")
    return "".join(out)


def dockerfile_instructions(text: str) -> list[str]:
    """The instructions of a Dockerfile as the executor's parser (BuildKit's, which Kaniko
    uses) reads them, each with runs of spaces and tabs shown as one space.

    Lines end at ``\\n`` only: a ``\\r``, ``\\x85`` or U+2028 inside a line stays in it (Python's
    ``str.splitlines`` would split there), and ``\\r`` before a line's end is dropped. A line
    whose last character but spaces and tabs is the escape character (``\\``, or the one a
    ``# escape=`` directive names), not itself escaped, continues on the next line, joined
    without a separator; comment lines and empty lines inside a continuation are skipped, and
    comment lines and blank lines between instructions too. The lines of a heredoc
    (``RUN <<EOF`` ... ``EOF``) belong to its instruction."""
    all_lines = text.split("\n")
    all_lines[0] = all_lines[0].removeprefix("\ufeff")
    escape = "\\"
    for raw in all_lines:  # parser directives: only at the top, before anything else
        found = _DIRECTIVE.match(raw.rstrip("\r\n").lstrip(_GO_SPACES))
        if found is None:
            break
        if found.group(1).lower() == "escape" and found.group(2) in "\\`":
            escape = found.group(2)
    ends = (escape, " ", "\t")  # a line ending otherwise is no continuation (a quick test)
    lines = iter(all_lines)
    steps: list[str] = []
    for raw in lines:
        # The hot loop (a Dockerfile may have a million lines): cheap tests first.
        line = raw.rstrip("\r\n").lstrip(_GO_SPACES)
        if not line or line[0] == "#":
            continue
        body = _continued(line, escape) if line.endswith(ends) else None
        step = line.strip(_GO_SPACES) if body is None else _joined(body, lines, escape)
        if "  " in step or "\t" in step:
            step = _SPACES.sub(" ", step)
        steps.append(step)
        if "<<" in step:
            _skip_heredocs(step, lines)
    return steps


def _joined(body: str, lines: Iterator[str], escape: str) -> str:
    """A continued instruction: ``body`` and the lines after it, up to one that does not end
    with the escape character (comment and empty lines inside are skipped)."""
    parts = [body]
    for following in lines:
        line = following.rstrip("\r\n")
        stripped = line.lstrip(_GO_SPACES)
        if not stripped or stripped[0] == "#":
            continue
        more = _continued(line, escape)
        if more is None:
            parts.append(line)
            break
        parts.append(more)
    return "".join(parts).strip(_GO_SPACES)


# What Go's unicode.IsSpace calls a space (the parser trims lines with it).
_GO_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACES = re.compile("[ \t]+")
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^\d*<<(-?)([^<]+)$")


def _continued(line: str, escape: str) -> str | None:
    """``line`` without its continuation mark when it has one (the escape character, then only
    spaces and tabs, and not preceded by another escape character); else None."""
    body = line.rstrip(" \t")
    if not body.endswith(escape) or body.endswith(escape * 2):
        return None
    return body[:-1]


def _skip_heredocs(step: str, lines: Iterator[str]) -> None:
    """Consume the lines of the heredocs ``step`` opens (``RUN``, ``COPY``, ``ADD`` only)."""
    command, _, rest = step.partition(" ")
    if command.lower() not in ("run", "copy", "add") or "<<" not in rest or rest.startswith("["):
        return
    for word in rest.split():
        found = _HEREDOC.match(word)
        if not found:
            continue
        chomp, name = found.group(1) == "-", found.group(2).replace("'", "").replace('"', "")
        for line in lines:
            end = line.rstrip("\r\n")
            if (end.lstrip("\t") if chomp else end) == name:
                break
