"""The view that opens what ``%%polybuild`` shows: where the build goes and with what (namespace,
cluster, executor image, catalog, each non-default setting and where it came from), and what
reading the settings warned about. The lines are the workflow's (``BuildPlan.settings_lines``),
the same ones ``polymagic build`` prints.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from polymagic.printable import printable

__all__ = ["PlanView"]


class PlanView:
    """Where a build goes, as text and HTML."""

    def __init__(self, lines: Sequence[str], warnings: Sequence[str] = ()) -> None:
        self.lines = [printable(line) for line in lines]
        self.warnings = [printable(w) for w in warnings]

    def __repr__(self) -> str:
        return "\n".join([*(f"warning: {w}" for w in self.warnings), *self.lines])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        rows = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines)
        warned = "".join(
            f"<div style='color:#b35900'>warning: {html.escape(w)}</div>" for w in self.warnings
        )
        body = f"<div class='polymagic-plan'>{warned}<ul style='margin:0'>{rows}</ul></div>"
        return {"text/plain": repr(self), "text/html": body}
