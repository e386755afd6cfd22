"""When the build progress widget writes its widgets: throttled, from any thread.

Events may arrive thousands a second from the thread that follows the build; the widgets are
written at most every ``min_interval`` seconds. An event arriving sooner sets one timer, which
writes the last state when the interval is over, so the last change always lands. A ticker
thread updates the elapsed time once a ``tick`` while the build runs. ``stop()`` cancels the
timers and joins the threads (except the calling one), so none outlives the widget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["UpdateSchedule"]

_JOIN_TIMEOUT = 2.0


class UpdateSchedule:
    """Decides when to write the widgets, and runs the timers and the ticker that do it."""

    def __init__(
        self,
        min_interval: float,
        tick: float,
        clock: Callable[[], float],
        flush: Callable[[], None],
        on_tick: Callable[[], bool],
    ) -> None:
        """``flush`` writes the widgets (called by a timer); ``on_tick`` updates the elapsed time
        and says whether to go on ticking."""
        self._min_interval = min_interval
        self._tick = tick
        self._clock = clock
        self._flush = flush
        self._on_tick = on_tick
        self._lock = threading.Lock()  # guards the fields below
        self._last_push = float("-inf")
        self._timers: list[threading.Timer] = []
        self._timer_pending = False
        self._ticker: threading.Thread | None = None
        self.stopped = threading.Event()
        """Set by ``stop()``: no timer or ticker runs any more."""

    def push_now(self) -> bool:
        """Whether a change may be written at once; if not, a timer will write it (one timer
        for any number of changes within the interval)."""
        with self._lock:
            self._start_ticker()
            now = self._clock()
            if now - self._last_push >= self._min_interval:
                self._last_push = now
                return True
            if not self._timer_pending:
                self._timer_pending = True
                delay = max(0.0, self._min_interval - (now - self._last_push))
                self._timers = [t for t in self._timers if t.is_alive()]
                timer = threading.Timer(delay, self._flush)
                timer.name, timer.daemon = "polymagic-progress-flush", True
                self._timers.append(timer)
                timer.start()
            return False

    def flushed(self) -> None:
        """A timer's write is happening now: the next change waits for the interval again."""
        with self._lock:
            self._timer_pending = False
            self._last_push = self._clock()

    def _start_ticker(self) -> None:
        if self._ticker is None and not self.stopped.is_set():
            self._ticker = threading.Thread(
                target=self._run_ticker, name="polymagic-progress-ticker", daemon=True
            )
            self._ticker.start()

    def _run_ticker(self) -> None:
        while not self.stopped.wait(self._tick):
            if not self._on_tick():
                return

    def stop(self) -> None:
        """Cancel the timers and stop the ticker; waits for them (not for the calling thread)."""
        self.stopped.set()
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
