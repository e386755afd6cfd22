"""How a build's ending reads: the command line's lines and the notebook widget's view of a
failure, laid out from the error's fields (``polymagic.errors``), never from its message text.

Pure. The sentences themselves are written in ``polymagic.errors``; this module only chooses
what to show where (the summary, the fix, the pod's events, the last log lines) and makes every
text that came from outside safe to show (``printable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from polymagic.errors import BuildCancelled, BuildError, PreflightError
from polymagic.printable import printable

__all__ = ["CLI_TAIL_LINES", "WIDGET_TAIL_LINES", "FailureView", "failure_lines", "failure_view"]

CLI_TAIL_LINES = 15
"""Log lines a failed build shows on the command line (the widget keeps its own tail)."""
WIDGET_TAIL_LINES = 30


@dataclass(frozen=True)
class FailureView:
    """What a build that ended without an image shows: every text safe to display."""

    outcome: str
    """``failed`` or ``cancelled``."""
    summary: str
    fix: str = ""
    events: tuple[str, ...] = ()
    """The pod's last events, one line each (``Warning FailedMount: ...``)."""
    log_tail: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """The summary with the fix on a line of its own."""
        return f"{self.summary}\nfix: {self.fix}" if self.fix else self.summary


def failure_view(
    error: BaseException, log_tail: Sequence[str] = (), tail_lines: int = WIDGET_TAIL_LINES
) -> FailureView:
    """The view of ``error``; ``log_tail`` stands in when the error carries none (e.g. an API
    error while following: the log read so far)."""
    summary, fix, tail = str(error), "", tuple(log_tail)
    events: tuple[str, ...] = ()
    if isinstance(error, BuildError):
        summary, fix = error.summary, error.fix
        events = tuple(str(e) for e in error.events)
        tail = error.log_tail or tail
    elif isinstance(error, PreflightError):
        summary, fix = error.summary, error.fix
    return FailureView(
        outcome="cancelled" if isinstance(error, BuildCancelled) else "failed",
        summary=printable(summary, keep_newlines=True),
        fix=printable(fix),
        events=tuple(printable(e) for e in events),
        log_tail=tuple(printable(line) for line in tail[-tail_lines:]) if tail_lines else (),
    )


def failure_lines(error: BaseException, tail_lines: int = CLI_TAIL_LINES) -> list[str]:
    """The command line's lines for ``error`` (without line ends): ``polymagic: error: ...``,
    then the fix, the pod's events and the last log lines; a cancel is one line."""
    view = failure_view(error, tail_lines=tail_lines)
    if view.outcome == "cancelled":
        return [f"polymagic: {view.summary}"]
    lines = [f"polymagic: error: {view.summary}"]
    if view.fix:
        lines.append(f"polymagic: fix: {view.fix}")
    if view.events:
        lines += ["polymagic: events:", *(f"  {event}" for event in view.events)]
    if view.log_tail:
        lines += ["polymagic: last log lines:", *(f"  {line}" for line in view.log_tail)]
    return lines
