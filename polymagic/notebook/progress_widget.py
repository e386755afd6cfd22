"""The build progress widget: phase, step i/N, elapsed time, the log tail, a Stop button and the
final state (the pushed image, or the reason of a failure).

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
import contextlib
import enum
import html
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

import ipywidgets as widgets

from polymagic.printable import printable
from polymagic.render.kaniko_log import EventKind, ProgressEvent
from polymagic.render.outcome_text import failure_view

if TYPE_CHECKING:
    from polymagic.render.options import BuildResult

__all__ = ["BuildProgress", "Outcome"]

_TICK = 1.0  # seconds between elapsed-time updates while running
_JOIN_TIMEOUT = 2.0
_BOX = "background:#f8f8f8;color:#222;font-family:monospace;font-size:85%;"
_LOG_BOX = (
    # column-reverse keeps the scroll position at the bottom as lines arrive, without JavaScript
    "max-height:18em;overflow:auto;display:flex;flex-direction:column-reverse;" + _BOX
)
_PRE = "margin:0;padding:4px 6px;white-space:pre-wrap;"
_RED = "#b00020"


class Outcome(str, enum.Enum):
    """Where a followed build stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class _State:
    """Everything the widget shows; changed only under ``BuildProgress._lock``."""

    total: int
    phase: str = "submitted"
    step: int = 0
    instruction: str = ""
    lines: int = 0
    warnings: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=5))
    outcome: Outcome = Outcome.RUNNING
    can_stop: bool = False
    stopping: bool = False
    image: str = ""
    summary: tuple[str, ...] = ()
    """The finished build's steps (durations, cached marks) and the image's size."""
    reason: str = ""
    events: tuple[str, ...] = ()
    final_tail: tuple[str, ...] = ()
    ended: float | None = None
    version: int = 0


@dataclass(frozen=True)
class _Frame:
    """A consistent copy of the state, rendered outside the state lock."""

    state: _State
    tail: tuple[str, ...]
    elapsed: str


def _mmss(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


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
        self._min_interval = min_interval
        self._started = clock()
        self._state = _State(total=max(0, total_steps))
        self._tail: collections.deque[str] = collections.deque(maxlen=max(1, tail_lines))
        self._lock = threading.Lock()  # guards the state, the log file and the timers
        self._push_lock = threading.RLock()  # one writer of widget traits at a time
        self._pushed_version = -1
        self._last_push = float("-inf")
        self._timers: list[threading.Timer] = []
        self._timer_pending = False
        self._ticker: threading.Thread | None = None
        self._stopped = threading.Event()
        self._cancel: Callable[[], object] | None = None
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:40]
        self._log_file: IO[str] | None = tempfile.NamedTemporaryFile(  # noqa: SIM115  (kept open)
            "w", prefix=f"polymagic-{safe}-", suffix=".log", delete=False, encoding="utf-8"
        )
        self._log_path = self._log_file.name

        self.phase_label = widgets.Label()
        self.elapsed_label = widgets.Label()
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button.on_click(self._on_stop)
        self.step_bar = widgets.IntProgress(min=0, max=self._state.total, value=0)
        self.step_label = widgets.Label()
        self.log_pane = widgets.HTML()
        self.log_note = widgets.HTML()
        self.outcome_pane = widgets.HTML()
        self.image_text = widgets.Text(
            description="image", layout=widgets.Layout(width="100%", display="none")
        )
        # Editable so the text can be selected and copied (a disabled input cannot be, in some
        # browsers), but any edit is undone: the field always shows what was pushed.
        self.image_text.observe(self._keep_image, names="value")
        title = widgets.HTML(f"<strong>polymagic build</strong> <code>{html.escape(name)}</code>")
        status = widgets.HBox([self.phase_label, self.elapsed_label, self.stop_button])
        steps = widgets.HBox([self.step_bar, self.step_label])
        children = [
            title,
            status,
            steps,
            self.log_pane,
            self.log_note,
            self.outcome_pane,
            self.image_text,
        ]
        # every widget made here, closed with this one
        self._parts = (*children, *status.children, *steps.children)
        super().__init__(children=children)
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
        push_now = False
        with self._lock:
            if self._state.outcome is not Outcome.RUNNING or self._stopped.is_set():
                return  # finished or closed
            self._take(event)
            self._state.version += 1
            self._start_ticker()
            now = self._clock()
            if now - self._last_push >= self._min_interval:
                self._last_push, push_now = now, True
            elif not self._timer_pending:
                self._timer_pending = True
                delay = max(0.0, self._min_interval - (now - self._last_push))
                self._timers = [t for t in self._timers if t.is_alive()]
                timer = threading.Timer(delay, self._flush)
                timer.name, timer.daemon = "polymagic-progress-flush", True
                self._timers.append(timer)
                timer.start()
        if push_now:
            self._push()

    def set_cancel(self, callback: Callable[[], object] | None) -> None:
        """What the Stop button calls (None disables the button)."""
        with self._lock:
            self._cancel = callback
            self._state.can_stop = callback is not None
            self._state.version += 1
        self._push()

    def finish_success(self, result: BuildResult) -> None:
        """Show the pushed image, the steps with their durations and cached marks, and the
        image's size."""
        summary = tuple(printable(line) for line in result.summary())
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
            self._stop_threads()
            with self._lock:
                self._close_log()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._log_path)
            for part in self._parts:
                part.close()
        super().close()

    # -- state (called under self._lock) -------------------------------------------------------

    def _take(self, event: ProgressEvent) -> None:
        state = self._state
        if event.kind is EventKind.LOG:
            line = printable(event.message)
            state.lines += 1
            self._tail.append(line)
            if self._log_file is not None:
                self._log_file.write(line + "\n")
        elif event.kind is EventKind.STEP:
            state.phase = "building"
            state.step = event.step or state.step
            state.total = event.total or state.total
            state.instruction = printable(event.instruction or "")
        elif event.kind is EventKind.WARNING:
            state.warnings.append(printable(event.message))
        else:
            state.phase = printable(event.describe())

    def _start_ticker(self) -> None:
        if self._ticker is None and not self._stopped.is_set():
            self._ticker = threading.Thread(
                target=self._tick, name="polymagic-progress-ticker", daemon=True
            )
            self._ticker.start()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _frame(self) -> _Frame:
        with self._lock:
            state = self._state
            if self._log_file is not None:
                self._log_file.flush()
            end = state.ended if state.ended is not None else self._clock()
            copy = replace(state, warnings=collections.deque(state.warnings))
            return _Frame(copy, tuple(self._tail), _mmss(end - self._started))

    # -- threads -------------------------------------------------------------------------------

    def _flush(self) -> None:
        with self._lock:
            self._timer_pending = False
            if self._state.outcome is not Outcome.RUNNING:
                return  # the final state was pushed by _finish
            self._last_push = self._clock()
        self._push()

    def _tick(self) -> None:
        while not self._stopped.wait(_TICK):
            if self.comm is None:  # the widget was closed
                return
            with self._push_lock:
                self.elapsed_label.value = self._frame().elapsed

    def _stop_threads(self) -> None:
        self._stopped.set()
        with self._lock:
            threads: list[threading.Thread] = [*self._timers]
            self._timers, self._timer_pending = [], False
            if self._ticker is not None:
                threads.append(self._ticker)
        for thread in threads:
            if isinstance(thread, threading.Timer):
                thread.cancel()
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT)

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
            self._close_log()
        self._stop_threads()
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
        state = frame.state
        running = state.outcome is Outcome.RUNNING
        self.phase_label.value = "stopping…" if state.stopping and running else state.phase
        self.elapsed_label.value = frame.elapsed
        self.step_bar.max = state.total
        self.step_bar.value = min(state.step, state.total)
        styles = {Outcome.SUCCEEDED: "success", Outcome.FAILED: "danger"}
        self.step_bar.bar_style = styles.get(state.outcome, "warning" if not running else "")
        step = f"step {state.step}/{state.total}"
        self.step_label.value = f"{step}: {state.instruction}" if state.instruction else step
        self.stop_button.disabled = not (running and state.can_stop) or state.stopping
        self.stop_button.description = "stopping…" if state.stopping else "Stop"
        self.stop_button.layout.display = "" if running else "none"
        self.log_pane.value = self._log_html(frame.tail)
        self.log_note.value = self._note_html(state, len(frame.tail))
        self.outcome_pane.value = self._final_html(state, frame.elapsed)
        if state.outcome is Outcome.SUCCEEDED:
            self.image_text.value = state.image
            self.image_text.layout.display = ""

    def _keep_image(self, change: dict[str, Any]) -> None:
        with self._push_lock, self._lock:
            image = self._state.image
        if change["new"] != image:
            self.image_text.value = image

    @staticmethod
    def _log_html(tail: Sequence[str]) -> str:
        text = html.escape("\n".join(tail)) if tail else "(no log yet)"
        return f'<div style="{_LOG_BOX}"><pre style="{_PRE}">{text}</pre></div>'

    def _note_html(self, state: _State, shown: int) -> str:
        parts = [
            f'<div style="color:#9a6700">warning: {html.escape(w)}</div>' for w in state.warnings
        ]
        parts.append(
            f"<small>showing the last {shown} of {state.lines} log lines; the full log is in"
            f" <code>{html.escape(self._log_path)}</code></small>"
        )
        return "".join(parts)

    @staticmethod
    def _final_html(state: _State, elapsed: str) -> str:
        if state.outcome is Outcome.RUNNING:
            return ""
        if state.outcome is Outcome.SUCCEEDED:
            head = f'<div style="color:#1a7f37"><strong>succeeded</strong> in {elapsed}</div>'
            if not state.summary:
                return head
            text = html.escape("\n".join(state.summary))
            return f'{head}<pre style="{_PRE}{_BOX}">{text}</pre>'
        ending = f"<strong>{state.outcome.value}</strong> after {elapsed}"
        head = f'<div style="color:{_RED}">{ending}</div>'
        body = f'<pre style="{_PRE}{_BOX}">{html.escape(state.reason)}</pre>'
        if state.events:
            items = "".join(f"<li>{html.escape(e)}</li>" for e in state.events)
            body += f"<div>Events:</div><ul style='{_BOX}margin:0'>{items}</ul>"
        if state.final_tail:
            body += f"<div>last log lines:</div>{BuildProgress._log_html(state.final_tail)}"
        return head + body

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
        lines = [f"polymagic build `{self.name}`: {state.outcome.value} [{frame.elapsed}]"]
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
