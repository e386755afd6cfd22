"""What reading a build gives: ``ProgressEvent``s of an ``EventKind`` (phases, step i/N, log
lines, the pushed digest, the error), the ``BuildStep``s of a finished build with their
durations and cached marks, and how they read (``format_steps``, ``format_size``). Pure.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from polymagic.outcome.log_lines import size_text
from polymagic.printable import visible

__all__ = [
    "COMMAND_END",
    "BuildStep",
    "EventKind",
    "ProgressEvent",
    "build_steps",
    "format_size",
    "format_steps",
    "new_event",
]

COMMAND_END = ("", "\t", "\v", "\f", "\r", " ")
"""What ends an instruction's keyword, as the executor's parser splits it."""


class EventKind(str, enum.Enum):
    """What a progress event reports."""

    SUBMITTED = "submitted"
    SCHEDULED = "scheduled"
    WAITING = "waiting"
    PULLING_EXECUTOR = "pulling executor image"
    STARTED = "started"
    RETRIEVING_BASE = "retrieving base image"
    STEP = "step"
    SNAPSHOTTING = "snapshotting"
    PUSHING = "pushing"
    PUSHED = "pushed"
    LOG = "log"
    WARNING = "warning"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, init=False)
class ProgressEvent:
    """One thing that happened during a build, for UIs and the CLI."""

    kind: EventKind
    message: str = ""
    step: int | None = None
    total: int | None = None
    instruction: str | None = None
    digest: str | None = None
    cached: bool | None = None
    """For a STEP: whether Kaniko uses a cached layer for it (None: not known)."""
    at: float = field(default_factory=time.time)

    def __init__(
        self,
        kind: EventKind,
        message: str = "",
        step: int | None = None,
        total: int | None = None,
        instruction: str | None = None,
        digest: str | None = None,
        cached: bool | None = None,
        at: float | None = None,
    ) -> None:
        # One event per log line: one dict update is half the cost of the frozen setattr
        # calls a generated __init__ makes.
        self.__dict__.update(
            kind=kind,
            message=message,
            step=step,
            total=total,
            instruction=instruction,
            digest=digest,
            cached=cached,
            at=time.time() if at is None else at,
        )

    def describe(self) -> str:
        """A short human line for this event."""
        if self.kind is EventKind.STEP:
            mark = " (cached)" if self.cached else ""
            # The instruction as the executor reads it, every character shown (a "\r" in a
            # RUN must not hide what follows it).
            return f"step {self.step}/{self.total}: {visible(self.instruction or '')}{mark}"
        if self.kind is EventKind.PUSHED:
            return f"pushed {self.message}"
        return f"{self.kind.value}: {self.message}" if self.message else self.kind.value


# A LOG event per log line is made without __init__: the fields it leaves out keep the
# class's defaults (a frozen dataclass reads them from the class).
_new = object.__new__
_LOG = EventKind.LOG
_time = time.time


def new_event(kind: EventKind, message: str, **fields: object) -> ProgressEvent:
    event: ProgressEvent = _new(ProgressEvent)
    event.__dict__.update(fields, kind=kind, message=message, at=_time())
    return event


@dataclass(frozen=True)
class BuildStep:
    """One step the executor ran, for the summary after a build."""

    number: int
    """Its position among the build's steps (1-based: ``[number/total]``)."""
    total: int
    name: str
    """The instruction, as rendered (``RUN pip install ...``)."""
    duration: float | None
    """Seconds, from the log (see the module docstring); None when the log ended inside it
    without a time (e.g. the executor was killed)."""
    cached: bool
    """Kaniko used a cached layer for it (``--cache``)."""

    def describe(self, width: int = 60) -> str:
        """``[2/4] RUN pip install ...   12.3s`` or ``... CACHED``, BuildKit's way."""
        name = visible(self.name)
        name = name if len(name) <= width else name[: width - 1] + "…"
        if self.cached:
            took = "CACHED"
        elif self.duration is None:
            took = "-"
        else:
            took = f"{self.duration:.1f}s"
        return f"[{self.number}/{self.total}] {name:<{width}} {took:>6}"


def format_size(count: int) -> str:
    """``12.3 MiB``: a size in bytes for people (binary units, as registries count)."""
    return size_text(count)


def format_steps(steps: Sequence[BuildStep], width: int = 60) -> list[str]:
    """The summary lines of ``steps``, one per step."""
    return [step.describe(width) for step in steps]


def build_steps(instructions: Sequence[str]) -> list[str]:
    """The instructions Kaniko reports as steps: every one after the first FROM of a stage
    (``ARG`` lines before the first ``FROM`` only parameterise the ``FROM`` lines)."""
    steps: list[str] = []
    seen_from = False
    for text in instructions:
        # The parser splits the command from its arguments at any of `\t\v\f\r `.
        if text[:4].upper() == "FROM" and text[4:5] in COMMAND_END:
            seen_from = True
        elif seen_from:
            steps.append(text)
    # Without any FROM (a list given by hand), every instruction is a step.
    return steps if seen_from else list(instructions)
