"""The build progress widget's state: what it shows (phase, step i/N, warnings, the outcome),
and how a progress event changes it.

Plain values, no widgets and no locks: ``BuildProgress`` changes the state under its lock and
renders copies of it (``Frame``) outside the lock.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass, field

from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.printable import printable, visible

__all__ = ["Frame", "Outcome", "State", "take_event"]


class Outcome(str, enum.Enum):
    """Where a followed build stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class State:
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
    took: float | None = None
    """How long the build took by its result (from submission, as its record says); until
    then the widget's own clock."""
    reused: bool = False
    """The registry held the image already: nothing was built (no pod, no duration)."""
    built_at: str = ""
    """When a reused image was built, where that is known."""
    version: int = 0


@dataclass(frozen=True)
class Frame:
    """A consistent copy of the state, rendered outside the state lock."""

    state: State
    tail: tuple[str, ...]
    elapsed: str


def take_event(state: State, event: ProgressEvent) -> None:
    """Change ``state`` for one event other than a log line (the widget keeps the log)."""
    if event.kind is EventKind.STEP:
        state.phase = "building"
        state.step = event.step or state.step
        state.total = event.total or state.total
        state.instruction = visible(event.instruction or "")  # as the executor reads it
    elif event.kind is EventKind.WARNING:
        state.warnings.append(printable(event.message))
    elif event.kind is not EventKind.LOG:
        state.phase = printable(event.describe())
