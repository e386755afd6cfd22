"""Reading Kaniko's log into typed progress: phases, step i/N, the pushed digest, the error line.

Pure and incremental: ``LineSplitter`` turns the log's bytes into lines as they arrive,
``KanikoLogParser`` takes one line at a time and keeps only a bounded tail, so memory stays flat
however long the log. Because polymagic rendered the Dockerfile itself, it knows the list of
instructions and can say "step 3/7: RUN pip install ...".

Any RUN step prints what it likes, so a log line is hostile input: it is cut to ``MAX_LINE``
bytes (plus a marker saying how much was dropped) before anyone holds it, read as JSON only
under ``MAX_JSON_LINE``, and shown only through :func:`polymagic.printable.printable`.
"""

from __future__ import annotations

import collections
import enum
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from polymagic.printable import printable

__all__ = [
    "MAX_JSON_LINE",
    "MAX_LINE",
    "EventKind",
    "KanikoLogParser",
    "LineSplitter",
    "ProgressEvent",
    "build_steps",
    "strip_ansi",
    "truncation_marker",
]

MAX_LINE = 16 * 1024
"""Bytes of one log line that are kept, queued and shown; the rest is only counted."""
MAX_JSON_LINE = 64 * 1024
"""Longer lines are never handed to ``json.loads``."""
# A line cut by the splitter is MAX_LINE plus its marker: the parser must not cut it again.
_MARKER_ROOM = 64
_CUT_AT = MAX_LINE + _MARKER_ROOM
# logrus text form: LEVEL[0012] message   (the level may be coloured, the message padded)
_TEXT_LINE = re.compile(
    r"^(?P<level>DEBU|TRAC|INFO|WARN|ERRO|FATA|PANI)\[(?P<clock>[^\]]*)\]\s?(?P<msg>.*)$"
)
_DIGEST = re.compile(r"@(?P<digest>sha256:[0-9a-f]{64})")
_ERROR_LEVELS = frozenset({"ERRO", "FATA", "PANI", "error", "fatal", "panic"})
_FATAL_PREFIXES = (
    "error building image",
    "error checking push permissions",
    "error pushing image",
    "error resolving dockerfile path",
    "error parsing dockerfile",
    "you must provide --destination",
)


strip_ansi = printable
"""The old name of :func:`polymagic.printable.printable`."""


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def truncation_marker(dropped: int) -> str:
    """What replaces the ``dropped`` bytes of a line cut at ``MAX_LINE``."""
    return f"… [truncated {_size(dropped)}]"


class LineSplitter:
    """Bytes in, lines out, for a stream read in chunks.

    Only newly received bytes are scanned for line ends (a long line costs its length once, not
    once per chunk), and of a line longer than ``limit`` only the first ``limit`` bytes are kept:
    the rest is counted and the line ends with :func:`truncation_marker`. ``limit=None`` keeps
    whole lines (for the API server's own watch events). Invalid UTF-8 becomes U+FFFD.
    """

    def __init__(self, limit: int | None = MAX_LINE) -> None:
        self.limit = limit
        self._head = bytearray()
        self._dropped = 0

    def feed(self, chunk: bytes) -> list[str]:
        """The lines that ``chunk`` completes."""
        parts = chunk.split(b"\n")
        self._keep(parts[0])
        if len(parts) == 1:
            return []
        lines = [self._take()]
        limit = self.limit
        for part in parts[1:-1]:
            if limit is not None and len(part) > limit:
                lines.append(_decode(part[:limit], len(part) - limit))
            else:
                lines.append(part.decode("utf-8", errors="replace"))
        self._keep(parts[-1])
        return lines

    def close(self) -> list[str]:
        """The last line, when the stream ended without a line end."""
        return [self._take()] if self._head or self._dropped else []

    def _keep(self, part: bytes) -> None:
        room = len(part) if self.limit is None else self.limit - len(self._head)
        if len(part) <= room:
            self._head += part
        else:
            self._head += part[: max(room, 0)]
            self._dropped += len(part) - max(room, 0)

    def _take(self) -> str:
        line = _decode(self._head, self._dropped)
        self._head.clear()
        self._dropped = 0
        return line


def _decode(head: bytes | bytearray, dropped: int) -> str:
    text = head.decode("utf-8", errors="replace")
    return text + truncation_marker(dropped) if dropped else text


def _cut(line: str) -> str:
    """A line given as text, cut like ``LineSplitter`` cuts bytes."""
    if len(line) <= _CUT_AT:
        return line
    kept = line[:MAX_LINE]
    dropped = len(line) - MAX_LINE
    if not line.isascii():
        dropped = len(line[MAX_LINE:].encode("utf-8", errors="surrogatepass"))
    return kept + truncation_marker(dropped)


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
    at: float = field(default_factory=time.time)

    def __init__(
        self,
        kind: EventKind,
        message: str = "",
        step: int | None = None,
        total: int | None = None,
        instruction: str | None = None,
        digest: str | None = None,
        at: float | None = None,
    ) -> None:
        # One event per log line: one dict update is half the cost of the seven frozen
        # setattr calls a generated __init__ makes.
        self.__dict__.update(
            kind=kind,
            message=message,
            step=step,
            total=total,
            instruction=instruction,
            digest=digest,
            at=time.time() if at is None else at,
        )

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
        # Where each step's text is, and the words steps start with (see _match_step).
        self._step_at: dict[str, list[int]] = {}
        for index, text in enumerate(self._normal_steps):
            self._step_at.setdefault(text, []).append(index)
        self._step_words = frozenset(text.split(" ", 1)[0] for text in self._normal_steps)
        self._step_initials = frozenset(word[:1] for word in self._step_words)
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
        """Events for one raw log line (ANSI codes allowed); the line is kept in the tail.

        Never raises: a line that cannot be read as Kaniko's is just shown (sanitised)."""
        line = printable((raw if len(raw) <= _CUT_AT else _cut(raw)).rstrip("\r\n"))
        self.lines += 1
        self.tail.append(line)
        events = [ProgressEvent(EventKind.LOG, line)]
        level, message = self._split(line)
        if level is None:
            if message.lower().startswith(_FATAL_PREFIXES):
                self.error_line = message
            return events
        if level in _ERROR_LEVELS:
            self.error_line = message
        event = self._interpret(message)
        if event is not None:
            events.append(event)
        return events

    @staticmethod
    def _split(line: str) -> tuple[str | None, str]:
        match = _TEXT_LINE.match(line)
        if match:
            level, message = match.group(1, 3)
            return level, message.rstrip()
        if line.startswith("{") and '"msg"' in line and len(line) < MAX_JSON_LINE:
            try:
                data = json.loads(line)
            except (ValueError, RecursionError):  # deep nesting: `{"msg":[[[[...`
                return None, line
            if isinstance(data, dict):
                level, message = data.get("level", "info"), data.get("msg", "")
                if isinstance(level, str) and isinstance(message, str):
                    # JSON escapes (\u001b) decode to controls: sanitise what was decoded.
                    return printable(level), printable(message).rstrip()
        return None, line

    def _interpret(self, message: str) -> ProgressEvent | None:
        first = message[:1]  # one comparison rules out most prefixes (this runs for every line)
        if first == "R" and message.startswith("Retrieving image manifest") and self.step == 0:
            return ProgressEvent(EventKind.RETRIEVING_BASE, message.split(" ", 3)[-1])
        if first in ("T", "U") and message.startswith(
            ("Taking snapshot of full filesystem", "Unpacking rootfs")
        ):
            return ProgressEvent(EventKind.SNAPSHOTTING, message)
        if first == "P" and message.startswith("Pushing image to "):
            return ProgressEvent(EventKind.PUSHING, message[len("Pushing image to ") :])
        if first == "P" and message.startswith("Pushed "):
            reference = message[len("Pushed ") :].strip()
            found = _DIGEST.search(reference)
            if found:
                self.digest = found.group("digest")
            self.pushed.append(reference)
            return ProgressEvent(EventKind.PUSHED, reference, digest=self.digest)
        step = self._match_step(message)
        if step is not None:
            self.step = step
            return ProgressEvent(
                EventKind.STEP,
                message,
                step=step,
                total=self.total,
                instruction=self.steps[step - 1],
            )
        return None

    def _match_step(self, message: str) -> int | None:
        # Kaniko echoes each instruction verbatim when it runs it; look forward from where we are.
        # Most messages do not start like a step's first word: they are ruled out unnormalised.
        first = message[:1]
        if first not in self._step_initials and not first.isspace():
            return None
        words = message.split(None, 1)
        if not words or words[0] not in self._step_words:
            return None
        for index in self._step_at.get(_normal(message), ()):
            if index >= self.step:
                return index + 1
        return None
