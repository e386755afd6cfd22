"""How a build's ending reads in the notebook: the line that says how it ended, the final
state's HTML inside the progress widget, and the static copy of the whole view that replaces the
widget in the cell's output once the build has ended.

The static copy (``FinalView``) is what a saved notebook, nbconvert HTML, nbviewer and GitHub
show: plain ``text/html`` (inline styles, no JavaScript; its log box opens on the last line by
CSS alone) and ``text/plain``, no widget state needed. Pure: values in, text out; every text put
into HTML is escaped (it was made printable before it reached the state).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from polymagic.notebook.progress_layout import BOX, PRE, log_html, note_html
from polymagic.notebook.progress_state import Frame, Outcome, State

__all__ = ["FinalView", "ending_line", "final_html", "final_view"]

_GREEN, _RED = "#1a7f37", "#b00020"


def ending_line(state: State, elapsed: str) -> str:
    """How the build ended, in words: ``succeeded in 0.3 s``, ``succeeded: reused — built
    earlier (no pod)``, ``failed after 01:12``."""
    if state.outcome is Outcome.SUCCEEDED:
        return f"succeeded: {elapsed}" if state.reused else f"succeeded in {elapsed}"
    return f"{state.outcome.value} after {elapsed}"


def final_html(state: State, elapsed: str) -> str:
    """The final state shown under the log: the ending line, then the steps and the image's
    size, or the reason with its fix, the pod's events and the last log lines."""
    if state.outcome is Outcome.RUNNING:
        return ""
    outcome = state.outcome.value  # the ending line starts with it
    rest = ending_line(state, elapsed)[len(outcome) :]
    line = f"<strong>{outcome}</strong>{html.escape(rest)}"
    if state.outcome is Outcome.SUCCEEDED:
        head = f'<div style="color:{_GREEN}">{line}</div>'
        if not state.summary:
            return head
        text = html.escape("\n".join(state.summary))
        return f'{head}<pre style="{PRE}{BOX}">{text}</pre>'
    head = f'<div style="color:{_RED}">{line}</div>'
    body = f'<pre style="{PRE}{BOX}">{html.escape(state.reason)}</pre>'
    if state.events:
        items = "".join(f"<li>{html.escape(e)}</li>" for e in state.events)
        body += f"<div>Events:</div><ul style='{BOX}margin:0'>{items}</ul>"
    if state.final_tail:
        body += f"<div>last log lines:</div>{log_html(state.final_tail)}"
    return head + body


@dataclass(frozen=True)
class FinalView:
    """The ended build as static output: what the progress widget showed, without a widget."""

    html: str
    text: str

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self.text, "text/html": self.html}


def final_view(name: str, frame: Frame, log_path: str, text: str) -> FinalView:
    """The static copy of an ended build's view: title, ending line, the log's last lines, the
    final state, the pushed image and where the full log is; ``text`` is its plain form."""
    state = frame.state
    parts = [
        f'<div class="polymagic-final"><strong>polymagic build</strong> <code>{html.escape(name)}'
        "</code></div>",
    ]
    if state.step:
        parts.append(
            f"<div>step {state.step}/{state.total}: {html.escape(state.instruction)}</div>"
        )
    if frame.tail:
        parts.append(log_html(frame.tail))
    parts.append(note_html(state.warnings, len(frame.tail), state.lines, log_path))
    parts.append(final_html(state, frame.elapsed))
    if state.outcome is Outcome.SUCCEEDED and state.image:
        parts.append(f"<div>image <code>{html.escape(state.image)}</code></div>")
    return FinalView(html="".join(parts), text=text)
