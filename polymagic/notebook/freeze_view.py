"""The notebook's view of a freeze: the summary, where the requirements went, the local code
copied into the image, what the user installed but ``--imported`` left out, and what needs the
user's attention. A value object with a ``text/plain`` and an escaped ``text/html`` form."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from polymagic.render.freeze import FreezeResult

__all__ = ["FreezeView"]


@dataclass(frozen=True)
class FreezeView:
    """What ``%polybuild freeze`` did."""

    result: FreezeResult
    requirements_path: str

    def __repr__(self) -> str:
        lines = [
            f"polymagic freeze: {self.result.summary()}",
            f"requirements: {self.requirements_path}",
            f"base image: {self.result.base}",
        ]
        if self.result.copied:
            lines.append(f"local code copied into the image: {', '.join(self.result.copied)}")
        if self.result.not_imported:
            lines.append(
                "installed by you but not imported, left out (freeze without --imported keeps"
                f" them): {', '.join(self.result.not_imported)}"
            )
        if self.result.attention:
            lines.append("needing attention:")
            lines.extend(f"  - {item.line()}" for item in self.result.attention)
        lines.append("the operation is in a new %%polybuild cell below")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        attention = "".join(
            f"<li>{html.escape(item.line())}</li>" for item in self.result.attention
        )
        body = (
            f"<b>polymagic freeze</b>: {html.escape(self.result.summary())}<br>"
            f"requirements: <code>{html.escape(self.requirements_path)}</code>, base image"
            f" <code>{html.escape(self.result.base)}</code>"
        )
        if self.result.copied:
            copied = ", ".join(f"<code>{html.escape(path)}</code>" for path in self.result.copied)
            body += f"<br>local code copied into the image: {copied}"
        if self.result.not_imported:
            yours = ", ".join(
                f"<code>{html.escape(name)}</code>" for name in self.result.not_imported
            )
            body += (
                "<br>installed by you but not imported, left out (freeze without"
                f" <code>--imported</code> keeps them): {yours}"
            )
        if attention:
            body += f'<div style="color:#8a6d3b"><b>needing attention</b><ul>{attention}</ul></div>'
        body += "<div>The operation is in a new <code>%%polybuild</code> cell below.</div>"
        return {"text/plain": repr(self), "text/html": f"<div>{body}</div>"}
