"""Small displays for the line magic and for warnings: build lists, logs, warning notes.

Value objects with a ``text/plain`` and an escaped ``text/html`` form, like the other views.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from polymagic.outcome.result import BuildStatus
from polymagic.outcome.status_text import no_builds_text
from polymagic.printable import printable

__all__ = ["BuildList", "LogView", "WarningsView", "warnings_view"]


@dataclass(frozen=True)
class WarningsView:
    """Warnings about a build (ignored fields, unknown connections, pod adjustments)."""

    warnings: tuple[str, ...]

    def __repr__(self) -> str:
        return "\n".join(f"warning: {w}" for w in self.warnings)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        return {
            "text/plain": repr(self),
            "text/html": f'<div style="color:#8a6d3b"><b>polymagic warnings</b><ul>{items}</ul></div>',
        }


def warnings_view(warnings: Sequence[str]) -> WarningsView:
    """A display of ``warnings``."""
    return WarningsView(tuple(warnings))


@dataclass(frozen=True)
class BuildList:
    """Builds found on the cluster (``%polybuild list`` / ``status``) in ``namespace`` (None:
    every namespace)."""

    builds: Sequence[BuildStatus]
    namespace: str | None = None

    def __repr__(self) -> str:
        if not self.builds:
            return no_builds_text(self.namespace)
        rows = [
            f"{b.namespace:<20} {b.name:<32} {printable(b.phase):<10} {printable(b.detail):<22}"
            f" {printable(', '.join(b.destinations))}"
            for b in self.builds
        ]
        digest = [f"  digest {b.digest}" for b in self.builds if b.digest and len(self.builds) == 1]
        return "\n".join(
            [
                f"{'NAMESPACE':<20} {'NAME':<32} {'PHASE':<10} {'DETAIL':<22} DESTINATION",
                *rows,
                *digest,
            ]
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if not self.builds:
            return {"text/plain": repr(self), "text/html": f"<div>{html.escape(repr(self))}</div>"}
        head = "".join(
            f"<th>{h}</th>"
            for h in ("namespace", "name", "phase", "detail", "destination", "digest")
        )
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(printable(str(v)))}</td>"
                for v in (
                    b.namespace,
                    b.name,
                    b.phase,
                    b.detail,
                    ", ".join(b.destinations),
                    b.digest or "",
                )
            )
            + "</tr>"
            for b in self.builds
        )
        return {"text/plain": repr(self), "text/html": f"<table><tr>{head}</tr>{rows}</table>"}


@dataclass(frozen=True)
class LogView:
    """A build's executor log (``%polybuild logs NAME``)."""

    name: str
    lines: Sequence[str]

    def __repr__(self) -> str:
        return "\n".join(self.lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        body = html.escape("\n".join(self.lines))
        return {
            "text/plain": repr(self),
            "text/html": f"<details open><summary>log of {html.escape(self.name)}</summary><pre>{body}</pre></details>",
        }
