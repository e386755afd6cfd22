"""Build progress on a terminal: a status line (phase, step i/N, elapsed) with the executor's
log above it; plain lines when the stream is not a terminal (CI logs, pipes); and at the end the
steps with their durations and cached marks, and the pushed image's size.

Writes only to the stream it is given (stderr for the CLI, so stdout stays machine-readable),
at a bounded rate however fast log lines arrive: what comes within ``min_interval`` of the last
write is kept and written with the next one (a timer writes the last of a burst), each time as
one write and one redraw of the status line. Every text that came from outside (log lines, pod
messages, registry answers) goes through :func:`polymagic.printable.printable`, so a build's
output cannot drive the terminal; a stream that cannot encode a character gets an escape
instead of an exception.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.outcome.status_text import duration_text
from polymagic.printable import printable

if TYPE_CHECKING:
    from polymagic.outcome.result import BuildResult

__all__ = ["TerminalProgress"]

_PHASES = {
    EventKind.SUBMITTED: "submitted",
    EventKind.SCHEDULED: "scheduled",
    EventKind.WAITING: "waiting",
    EventKind.PULLING_EXECUTOR: "starting the executor",
    EventKind.STARTED: "running",
    EventKind.RETRIEVING_BASE: "retrieving the base image",
    EventKind.SNAPSHOTTING: "snapshotting",
    EventKind.PUSHING: "pushing",
    EventKind.PUSHED: "pushed",
    EventKind.SUCCEEDED: "succeeded",
    EventKind.FAILED: "failed",
    EventKind.CANCELLED: "cancelled",
}
_FINAL = (EventKind.SUCCEEDED, EventKind.FAILED, EventKind.CANCELLED)
_MAX_PENDING = 10_000
"""Lines kept between two writes at most: past it they are written at once (memory stays
bounded however fast they come)."""


class TerminalProgress:
    """Receives ``ProgressEvent``s (``on_event``, from any thread) and shows them on ``stream``."""

    def __init__(
        self,
        stream: TextIO,
        *,
        show_logs: bool = True,
        tty: bool | None = None,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.show_logs = show_logs
        self.tty = stream.isatty() if tty is None else tty
        self.min_interval = min_interval
        self._clock = clock
        self.started = clock()
        self.phase = "submitting"
        self.step = ""
        self.writes = 0
        """How many times the stream was written to (the rate the display updates at)."""
        self._status_shown = False
        self._pending: list[str] = []
        self._last_write = float("-inf")
        self._timer: threading.Timer | None = None
        self._lock = threading.RLock()

    def _elapsed(self) -> str:
        return duration_text(self._clock() - self.started)

    def _status(self) -> str:
        text = f"[{self._elapsed()}] {self.phase}"
        if self.step:
            text += f" | {self.step}"
        width = shutil.get_terminal_size((100, 20)).columns - 1
        return text[:width]

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
        except UnicodeEncodeError:  # e.g. an ASCII-only stderr and a U+FFFD in a log line
            encoding = getattr(self.stream, "encoding", None) or "ascii"
            self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))

    def _flush(self, redraw: bool = True) -> None:
        """Write what is pending in one go: the lines above, then the status line again."""
        text = "".join(self._pending)
        self._pending.clear()
        if self.tty and self._status_shown and text:
            text = "\r\x1b[K" + text  # the lines go where the status line was
            self._status_shown = False
        if self.tty and (redraw or self._status_shown):
            text += "\r\x1b[K" + (self._status() if redraw else "")
            self._status_shown = redraw
        if text:
            self._write(text)
            self.stream.flush()
            self.writes += 1
        self._last_write = self._clock()

    def _soon(self) -> None:
        """Write now if the last write is old enough, else once the interval has passed."""
        now = self._clock()
        if now - self._last_write >= self.min_interval or len(self._pending) >= _MAX_PENDING:
            self._flush()
        elif self._timer is None:
            delay = self.min_interval - (now - self._last_write)
            self._timer = threading.Timer(max(delay, 0.0), self._on_timer)
            self._timer.name, self._timer.daemon = "polymagic-terminal", True
            self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            self._flush()

    def on_event(self, event: ProgressEvent) -> None:
        """Show one event."""
        with self._lock:
            self._take(event)

    def _take(self, event: ProgressEvent) -> None:
        if event.kind is EventKind.LOG:
            if self.show_logs:
                self._pending.append(f"  {printable(event.message)}\n")
                self._soon()
            return
        if event.kind is EventKind.STEP:
            self.step = printable(event.describe())
            if not self.tty:
                self._pending.append(f"polymagic: [{self._elapsed()}] {self.step}\n")
            self._soon()
            return
        if event.kind is EventKind.WARNING:
            self._pending.append(f"polymagic: warning: {printable(event.message)}\n")
            self._flush()
            return
        self.phase = _PHASES.get(event.kind, event.kind.value)
        final = event.kind in _FINAL
        if final:
            self._cancel_timer()
        if not self.tty or final:
            first = event.message.splitlines()[0] if event.message else ""
            detail = f": {printable(first)}" if first and not final else ""
            self._pending.append(f"polymagic: [{self._elapsed()}] {self.phase}{detail}\n")
        self._flush(redraw=not final)

    def summary(self, result: BuildResult) -> None:
        """Show the finished build's steps and the pushed image's size."""
        with self._lock:
            self._cancel_timer()
            lines = result.summary()
            self._pending += [f"polymagic: {printable(line)}\n" for line in lines]
            self._flush(redraw=False)

    def close(self) -> None:
        """Write whatever is pending and stop the timer (the status line is left cleared)."""
        with self._lock:
            self._cancel_timer()
            self._flush(redraw=False)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
