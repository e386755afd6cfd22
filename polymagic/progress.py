"""Reading Kaniko's log into typed progress: phases, step i/N, the pushed digest, the error line.

Pure and incremental: feed it one line at a time, it keeps only a bounded tail, so memory stays
flat however long the log. Because polymagic rendered the Dockerfile itself, it knows the list
of instructions and can say "step 3/7: RUN pip install ...".
"""

from __future__ import annotations

import collections
import enum
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "EventKind",
    "KanikoLogParser",
    "ProgressEvent",
    "build_steps",
    "strip_ansi",
]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# logrus text form: LEVEL[0012] message   (the level may be coloured, the message padded)
_TEXT_LINE = re.compile(
    r"^(?P<level>DEBU|TRAC|INFO|WARN|ERRO|FATA|PANI)\[(?P<clock>[^\]]*)\]\s?(?P<msg>.*)$"
)
_DIGEST = re.compile(r"@(?P<digest>sha256:[0-9a-f]{64})")
_FATAL_PREFIXES = (
    "error building image",
    "error checking push permissions",
    "error pushing image",
    "error resolving dockerfile path",
    "error parsing dockerfile",
    "you must provide --destination",
)


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor codes."""
    return _ANSI.sub("", text)


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


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened during a build, for UIs and the CLI."""

    kind: EventKind
    message: str = ""
    step: int | None = None
    total: int | None = None
    instruction: str | None = None
    digest: str | None = None
    at: float = field(default_factory=time.time)

    def describe(self) -> str:
        """A short human line for this event."""
        if self.kind is EventKind.STEP:
            return f"step {self.step}/{self.total}: {self.instruction}"
        if self.kind is EventKind.PUSHED:
            return f"pushed {self.message}"
        return f"{self.kind.value}: {self.message}" if self.message else self.kind.value


def build_steps(instructions: Sequence[str]) -> list[str]:
    """The instructions Kaniko reports as steps: every one after the first FROM of a stage."""
    return [i for i in instructions if not i.upper().startswith("FROM ")]


def _normal(text: str) -> str:
    return " ".join(text.split())


class KanikoLogParser:
    """Turns Kaniko log lines into ``ProgressEvent``s, remembering only a bounded tail."""

    def __init__(self, instructions: Sequence[str] = (), tail: int = 200) -> None:
        self.steps = build_steps(instructions)
        self._normal_steps = [_normal(s) for s in self.steps]
        self.step = 0
        self.tail: collections.deque[str] = collections.deque(maxlen=tail)
        self.error_line: str | None = None
        self.digest: str | None = None
        self.pushed: list[str] = []
        self.lines = 0

    @property
    def total(self) -> int:
        return len(self.steps)

    def feed(self, raw: str) -> list[ProgressEvent]:
        """Events for one raw log line (ANSI codes allowed); the line is kept in the tail."""
        line = strip_ansi(raw).rstrip("\r\n")
        self.lines += 1
        self.tail.append(line)
        events = [ProgressEvent(EventKind.LOG, line)]
        level, message = self._split(line)
        if level is None:
            if message.lower().startswith(_FATAL_PREFIXES):
                self.error_line = message
            return events
        if level in ("ERRO", "FATA", "PANI", "error", "fatal", "panic"):
            self.error_line = message
        events.extend(self._interpret(message))
        return events

    @staticmethod
    def _split(line: str) -> tuple[str | None, str]:
        match = _TEXT_LINE.match(line)
        if match:
            return match.group("level"), match.group("msg").rstrip()
        if line.startswith("{") and '"msg"' in line:
            try:
                data = json.loads(line)
            except ValueError:
                return None, line
            if isinstance(data, dict):
                return str(data.get("level", "info")), str(data.get("msg", "")).rstrip()
        return None, line

    def _interpret(self, message: str) -> list[ProgressEvent]:
        if message.startswith("Retrieving image manifest") and self.step == 0:
            return [ProgressEvent(EventKind.RETRIEVING_BASE, message.split(" ", 3)[-1])]
        if message.startswith(("Taking snapshot of full filesystem", "Unpacking rootfs")):
            return [ProgressEvent(EventKind.SNAPSHOTTING, message)]
        if message.startswith("Pushing image to "):
            return [ProgressEvent(EventKind.PUSHING, message[len("Pushing image to ") :])]
        if message.startswith("Pushed "):
            reference = message[len("Pushed ") :].strip()
            found = _DIGEST.search(reference)
            if found:
                self.digest = found.group("digest")
            self.pushed.append(reference)
            return [ProgressEvent(EventKind.PUSHED, reference, digest=self.digest)]
        step = self._match_step(message)
        if step is not None:
            self.step = step
            return [
                ProgressEvent(
                    EventKind.STEP,
                    message,
                    step=step,
                    total=self.total,
                    instruction=self.steps[step - 1],
                )
            ]
        return []

    def _match_step(self, message: str) -> int | None:
        text = _normal(message)
        # Kaniko echoes each instruction verbatim when it runs it; look forward from where we are.
        for index in range(self.step, len(self._normal_steps)):
            if self._normal_steps[index] == text:
                return index + 1
        return None
