"""The build progress widget's layout: which widgets it has, how they are arranged, and how a
state is written to them (the log pane's and the log note's HTML included).

When they are written is ``progress_widget``'s, and the final state's HTML too. Every text put
into HTML here is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets

from polymagic.notebook.progress_state import Frame, Outcome

__all__ = ["BOX", "LOG_CLASS", "PRE", "ProgressLayout", "log_html", "note_html"]

BOX = "background:#f8f8f8;color:#222;font-family:monospace;font-size:85%;"
"""The style of the boxes that hold log lines and events."""
PRE = "margin:0;padding:4px 6px;white-space:pre-wrap;"
_LOG_BOX = (
    # column-reverse puts the scroll origin at the bottom: the box opens on the last line,
    # without JavaScript (so a static copy of it does too, in nbconvert HTML or on GitHub)
    "max-height:18em;overflow:auto;display:flex;flex-direction:column-reverse;" + BOX
)
_UNSHRUNK = "flex:none;overflow:visible;"
"""The lines inside a log box keep their height: JupyterLab styles ``pre`` with ``overflow:auto``,
which would let the flex box shrink it into a scroller of its own, stuck on its first line."""
LOG_CLASS = "polymagic-log"
"""The CSS class of the live log box (the scrolling container around the log pane)."""


def _log_box(pane: widgets.HTML) -> widgets.Box:
    """The scrolling box around the live log pane: a widget of its own, so that it stays the
    same element in the page while the pane's HTML is replaced at each update. Its scroll
    origin is at the bottom (column-reverse): at the bottom it follows the newest line, and
    once the user scrolls up it keeps its distance from the bottom (it stops following) until
    they scroll back down."""
    box = widgets.Box(
        [pane],
        layout=widgets.Layout(
            max_height="18em",
            overflow="auto",
            display="flex",
            flex_flow="column-reverse",
            align_items="stretch",
        ),
    )
    box.add_class(LOG_CLASS)
    return box


class ProgressLayout:
    """The widgets of one progress view: a title, then phase, elapsed time and a Stop button;
    the step bar; the log tail and a note under it; the final state; the pushed image (hidden
    until there is one)."""

    def __init__(self, name: str, total_steps: int) -> None:
        phase, elapsed = widgets.Label(), widgets.Label()
        stop = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.status = (phase, elapsed, stop)
        """The phase and elapsed-time labels and the Stop button."""
        self.steps = (widgets.IntProgress(min=0, max=total_steps, value=0), widgets.Label())
        """The step bar and the current step's label."""
        image = widgets.Text(
            description="image", layout=widgets.Layout(width="100%", display="none")
        )
        self.panes = (widgets.HTML(), widgets.HTML(), widgets.HTML(), image)
        """The log tail, the note under it, the final state and the pushed image."""
        title = widgets.HTML(f"<strong>polymagic build</strong> <code>{html.escape(name)}</code>")
        status, steps = widgets.HBox(self.status), widgets.HBox(self.steps)
        self.log_box = _log_box(self.panes[0])
        """The scrolling box the log pane is in."""
        self.children = [title, status, steps, self.log_box, *self.panes[1:]]
        """The rows of the view, top to bottom."""
        self.parts = (*self.children, *self.status, *self.steps, self.panes[0])
        """Every widget made here, to be closed with the view."""

    def show(self, frame: Frame, log_path: str, final_html: str) -> None:
        """Write ``frame`` to the widgets, with the final state's HTML (empty while running)."""
        phase, elapsed, stop = self.status
        bar, step_label = self.steps
        log, note, final, image = self.panes
        state = frame.state
        running = state.outcome is Outcome.RUNNING
        phase.value = "stopping…" if state.stopping and running else state.phase
        elapsed.value = frame.elapsed
        bar.max = state.total
        bar.value = min(state.step, state.total)
        styles = {Outcome.SUCCEEDED: "success", Outcome.FAILED: "danger"}
        bar.bar_style = styles.get(state.outcome, "warning" if not running else "")
        step = f"step {state.step}/{state.total}"
        step_label.value = f"{step}: {state.instruction}" if state.instruction else step
        stop.disabled = not (running and state.can_stop) or state.stopping
        stop.description = "stopping…" if state.stopping else "Stop"
        stop.layout.display = "" if running else "none"
        log.value = live_log_html(frame.tail)
        note.value = note_html(state.warnings, len(frame.tail), state.lines, log_path)
        final.value = final_html
        if state.outcome is Outcome.SUCCEEDED:
            image.value = state.image
            image.layout.display = ""


def live_log_html(tail: Sequence[str]) -> str:
    """The live log pane's content: the last lines (the box around it scrolls)."""
    text = html.escape("\n".join(tail)) if tail else "(no log yet)"
    return f'<pre style="{PRE}{BOX}">{text}</pre>'


def log_html(tail: Sequence[str]) -> str:
    """A static log box: the last lines, opening scrolled to the last one."""
    text = html.escape("\n".join(tail)) if tail else "(no log)"
    return f'<div style="{_LOG_BOX}"><pre style="{PRE}{_UNSHRUNK}">{text}</pre></div>'


def note_html(warnings: Sequence[str], shown: int, lines: int, log_path: str) -> str:
    """The note under the log: the warnings, how many lines are shown, where the rest is."""
    parts = [f'<div style="color:#9a6700">warning: {html.escape(w)}</div>' for w in warnings]
    parts.append(
        f"<small>showing the last {shown} of {lines} log lines; the full log is in"
        f" <code>{html.escape(log_path)}</code></small>"
    )
    return "".join(parts)
