"""The build progress widget: phase, step i/N, elapsed time, the log tail, a Stop button and the
final state (the pushed image, or the reason of a failure).

This module shows the state (``progress_state``: what an event changes) on the widgets
(``progress_layout``: which widgets, how arranged) and decides what is written when; the timers
that write them are ``progress_updates``', the full log file ``progress_log``'s.

``BuildProgress.on_event`` may be called from any thread. It only changes the widget's state under
a lock; the widgets themselves are written by one pusher at a time, at most every
``min_interval`` seconds (a ``threading.Timer`` flushes the last change, so it always lands).
Widgets are never written through an ``Output`` from a thread (racy, see ipywidgets#3260).
Memory stays bounded: every log line goes to a temporary file (deleted by ``close()``), only the
tail is kept in memory. Every text that came from outside (log lines, pod messages, registry
answers) is passed through :func:`polymagic.printable.printable` before it is kept or shown.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from polymagic.notebook.progress_final import FinalView, ending_line, final_html, final_view
from polymagic.notebook.progress_layout import ProgressLayout
from polymagic.notebook.progress_log import LogFile
from polymagic.notebook.progress_state import Frame as _Frame
from polymagic.notebook.progress_state import Outcome, take_event
from polymagic.notebook.progress_state import State as _State
from polymagic.notebook.progress_updates import UpdateSchedule
from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.outcome.status_text import duration_text, reused_text
from polymagic.outcome.text import failure_view
from polymagic.printable import printable

if TYPE_CHECKING:
    from polymagic.outcome.result import BuildResult

__all__ = ["BuildProgress", "Outcome"]

_TICK = 1.0  # seconds between elapsed-time updates while running


class BuildProgress(widgets.VBox):  # type: ignore[misc]  # ipywidgets has no type hints
    """A widget that follows one build; feed it ``ProgressEvent``s with ``on_event``."""

    def __init__(
        self,
        name: str,
        total_steps: int,
        *,
        tail_lines: int = 200,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._clock = clock
        self._started = clock()
        self._state = _State(total=max(0, total_steps))
        self._tail: collections.deque[str] = collections.deque(maxlen=max(1, tail_lines))
        self._log = LogFile(name)
        self._log_path = self._log.path
        self._lock = threading.Lock()  # guards the state, the tail and the log file
        self._push_lock = threading.RLock()  # one writer of widget traits at a time
        self._pushed_version = -1
        self._cancel: Callable[[], object] | None = None
        self._updates = UpdateSchedule(min_interval, _TICK, clock, self._flush, self._tick)
        self._view = ProgressLayout(name, self._state.total)
        self.phase_label, self.elapsed_label, self.stop_button = self._view.status
        self.step_bar, self.step_label = self._view.steps
        self.log_pane, self.log_note, self.outcome_pane, self.image_text = self._view.panes
        self.stop_button.on_click(self._on_stop)
        # Editable so the text can be selected and copied (a disabled input cannot be, in some
        # browsers), but any edit is undone: the field always shows what was pushed.
        self.image_text.observe(self._keep_image, names="value")
        self._parts = self._view.parts  # every widget made for this view, closed with it
        super().__init__(children=self._view.children)
        self._push()

    # -- public -------------------------------------------------------------------------------

    @property
    def full_log_path(self) -> str:
        """The temporary file holding every log line of the build (until ``close()``)."""
        return self._log_path

    @property
    def outcome(self) -> Outcome:
        with self._lock:
            return self._state.outcome

    def on_event(self, event: ProgressEvent) -> None:
        """Take one progress event; safe from any thread, widgets are updated throttled."""
        with self._lock:
            if self._state.outcome is not Outcome.RUNNING or self._updates.stopped.is_set():
                return  # finished or closed
            if event.kind is EventKind.LOG:  # the log is kept here, not in the state
                line = printable(event.message)
                self._state.lines += 1
                self._tail.append(line)
                self._log.write(line)
            else:
                take_event(self._state, event)
            self._state.version += 1
            push_now = self._updates.push_now()
        if push_now:
            self._push()

    def set_cancel(self, callback: Callable[[], object] | None) -> None:
        """What the Stop button calls (None disables the button)."""
        with self._lock:
            self._cancel = callback
            self._state.can_stop = callback is not None
            self._state.version += 1
        self._push()

    def finish_success(self, result: BuildResult, built_at: str = "") -> None:
        """Show the pushed image, the steps with their durations and cached marks, and the
        image's size; a reused image says so instead of a duration (``built_at``: when it was
        built, where known)."""
        summary = tuple(printable(line) for line in result.summary())
        with self._lock:
            if self._state.outcome is Outcome.RUNNING:  # the header, the final line and the
                self._state.took = result.duration  # record say the same time
                self._state.reused, self._state.built_at = result.reused, printable(built_at)
        self._finish(Outcome.SUCCEEDED, image=result.image, reason="pushed", summary=summary)

    def finish_failure(self, error: BaseException, log_tail: Sequence[str] = ()) -> None:
        """Show why the build failed, its fix, the pod's Events and the last log lines, from
        the error's fields (``log_tail`` when it carries none)."""
        view = failure_view(error, log_tail)
        self._finish(Outcome.FAILED, reason=view.reason, events=view.events, tail=view.log_tail)

    def finish_cancelled(self, message: str) -> None:
        """Show that the build was cancelled."""
        self._finish(Outcome.CANCELLED, reason=printable(message, keep_newlines=True))

    def text(self) -> str:
        """The current state as plain text (for nbconvert, terminals and logs)."""
        return self._text(self._frame())

    def final_view(self) -> FinalView:
        """The view as static HTML and text, to stand in the cell's output for the widget once
        the build has ended (a saved notebook has no live widget)."""
        frame = self._frame()
        return final_view(self.name, frame, self._log_path, self._text(frame))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = self.text()
        return bundle

    def __repr__(self) -> str:
        return self.text()

    def close(self) -> None:
        """Stop the timers, delete the full log file and close every widget of this view."""
        if hasattr(self, "_parts"):  # __del__ may run on a half-made widget
            self._updates.stop()
            with self._lock:
                self._log.delete()
            for part in self._parts:
                part.close()
        super().close()

    def _frame(self) -> _Frame:
        with self._lock:
            state = self._state
            self._log.flush()
            end = state.ended if state.ended is not None else self._clock()
            copy = replace(state, warnings=collections.deque(state.warnings))
            if state.reused:
                elapsed = reused_text(state.built_at)
            else:
                took = state.took if state.took is not None else end - self._started
                elapsed = duration_text(took)
            return _Frame(copy, tuple(self._tail), elapsed)

    # -- threads -------------------------------------------------------------------------------

    def _flush(self) -> None:
        self._updates.flushed()
        with self._lock:
            if self._state.outcome is not Outcome.RUNNING:
                return  # the final state was pushed by _finish
        self._push()

    def _tick(self) -> bool:
        if self.comm is None:  # the widget was closed
            return False
        with self._push_lock:
            self.elapsed_label.value = self._frame().elapsed
        return True

    def _finish(
        self,
        outcome: Outcome,
        *,
        image: str = "",
        reason: str = "",
        events: tuple[str, ...] = (),
        tail: tuple[str, ...] = (),
        summary: tuple[str, ...] = (),
    ) -> None:
        with self._lock:
            state = self._state
            if state.outcome is not Outcome.RUNNING:
                return  # the first ending wins
            state.outcome, state.image, state.reason, state.events = outcome, image, reason, events
            state.summary = summary
            state.final_tail = tail[-(self._tail.maxlen or 1) :]
            state.phase, state.ended = outcome.value, self._clock()
            state.version += 1
            self._log.close()
        self._updates.stop()
        self._push()

    def _on_stop(self, _button: Any) -> None:
        with self._lock:
            state = self._state
            callback = self._cancel
            if state.outcome is not Outcome.RUNNING or state.stopping or callback is None:
                return
            state.stopping = True
            state.version += 1
        self._push()
        try:
            callback()
        except BaseException:
            with self._lock:  # the build goes on: let the user try again
                self._state.stopping = False
                self._state.version += 1
            self._push()
            raise

    # -- widgets (written only under self._push_lock) ------------------------------------------

    def _push(self) -> None:
        with self._push_lock:
            frame = self._frame()
            if frame.state.version == self._pushed_version:
                return
            self._apply(frame)
            self._pushed_version = frame.state.version

    def _apply(self, frame: _Frame) -> None:
        self._view.show(frame, self._log_path, final_html(frame.state, frame.elapsed))

    def _keep_image(self, change: dict[str, Any]) -> None:
        with self._push_lock, self._lock:
            image = self._state.image
        if change["new"] != image:
            self.image_text.value = image

    def _text(self, frame: _Frame) -> str:
        state = frame.state
        if state.outcome is Outcome.RUNNING:
            phase = "stopping…" if state.stopping else state.phase
            lines = [f"polymagic build `{self.name}`: {phase} [{frame.elapsed}]"]
            if state.step:
                lines.append(f"step {state.step}/{state.total}: {state.instruction}")
            lines += [f"warning: {w}" for w in state.warnings]
            lines.append(f"{state.lines} log lines; full log: {self._log_path}")
            return "\n".join(lines)
        lines = [f"polymagic build `{self.name}`: {ending_line(state, frame.elapsed)}"]
        if state.outcome is Outcome.SUCCEEDED:
            lines.append(state.image)
            lines += state.summary
        else:
            lines.append(state.reason)
            if state.events:
                lines += ["Events:", *(f"  {e}" for e in state.events)]
            if state.final_tail:
                lines += ["last log lines:", *(f"  {t}" for t in state.final_tail)]
        lines.append(f"full log: {self._log_path}")
        return "\n".join(lines)
