"""Rendering a ``dockerfile`` init into Dockerfile text, exactly as Polyaxon 2.18 does.

The layout rules (blank lines, order, the unquoted legacy ``ENV key value`` form, values printed
with Python's ``str()``) are part of the contract: a user moving an operation between Polyaxon
and polymagic must get the same bytes. Pure: no files, no network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    """The instruction lines of a Dockerfile (no comments, blanks or continuation joins needed
    for what polymagic renders, but backslash continuations are joined anyway)."""
    steps: list[str] = []
    pending = ""
    for raw in _lines(text):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        steps.append((pending + line).strip())
        pending = ""
    if pending.strip():
        steps.append(pending.strip())
    return steps


def _lines(text: str) -> Iterable[str]:
    return text.splitlines()
