"""Build progress on a terminal: a status line (phase, step i/N, elapsed) with the executor's
log above it; plain lines when the stream is not a terminal (CI logs, pipes).

Writes only to the stream it is given (stderr for the CLI, so stdout stays machine-readable).
Every text that came from outside (log lines, pod messages, registry answers) goes through
:func:`polymagic.printable.printable`, so a build's output cannot drive the terminal; a stream
that cannot encode a character gets an escape instead of an exception.
"""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from polymagic.printable import printable
from polymagic.progress import EventKind, ProgressEvent

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


class TerminalProgress:
    """Receives ``ProgressEvent``s (``on_event``) and shows them on ``stream``."""

    def __init__(self, stream: TextIO, *, show_logs: bool = True, tty: bool | None = None) -> None:
        self.stream = stream
        self.show_logs = show_logs
        self.tty = stream.isatty() if tty is None else tty
        self.started = time.monotonic()
        self.phase = "submitting"
        self.step = ""
        self._status_shown = False

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

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

    def _clear(self) -> None:
        if self.tty and self._status_shown:
            self._write("\r\x1b[K")
            self._status_shown = False

    def _draw(self) -> None:
        if self.tty:
            self._write("\r\x1b[K" + self._status())
            self._status_shown = True
            self.stream.flush()

    def on_event(self, event: ProgressEvent) -> None:
        """Show one event."""
        if event.kind is EventKind.LOG:
            if self.show_logs:
                self._clear()
                self._write(f"  {printable(event.message)}\n")
                self._draw()
            return
        if event.kind is EventKind.STEP:
            self.step = printable(f"step {event.step}/{event.total}: {event.instruction}")
            if not self.tty:
                self._write(f"polymagic: [{self._elapsed()}] {self.step}\n")
            self._draw()
            return
        if event.kind is EventKind.WARNING:
            self._clear()
            self._write(f"polymagic: warning: {printable(event.message)}\n")
            self._draw()
            return
        self.phase = _PHASES.get(event.kind, event.kind.value)
        final = event.kind in (EventKind.SUCCEEDED, EventKind.FAILED, EventKind.CANCELLED)
        if not self.tty or final:
            self._clear()
            first = event.message.splitlines()[0] if event.message else ""
            detail = f": {printable(first)}" if first and not final else ""
            self._write(f"polymagic: [{self._elapsed()}] {self.phase}{detail}\n")
        else:
            self._draw()
        self.stream.flush()
