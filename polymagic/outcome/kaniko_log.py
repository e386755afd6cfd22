"""Reading Kaniko's log into typed progress: phases, step i/N, the pushed digest, the error line,
and at the end the steps with their durations and cached marks.

Pure and incremental: ``outcome.log_lines.LineSplitter`` turns the log's bytes into lines as
they arrive, ``KanikoLogParser`` takes the lines one at a time (``feed``) or as they arrived together
(``feed_lines``, cheaper per line) and keeps only a bounded tail, so memory stays flat however
long the log. Because polymagic rendered the Dockerfile itself, it knows the list of
instructions and can say "step 3/7: RUN pip install ...".

What the executor's messages mean here (facts of osscontainertools/kaniko v1.28.3, checked on
its real logs in ``tests/fixtures/kaniko-logs/``):

- ``Retrieving image manifest X`` is printed many times for one base image: one
  ``RETRIEVING_BASE`` event per image;
- ``Pushing layer <cache>:<key> to cache now`` starts a cache-layer push, whose ``Pushing image
  to`` / ``Pushed`` lines are not the image's push: they give no event; only a push to one of
  the build's destinations is ``PUSHING`` / ``PUSHED`` (and sets ``digest``);
- ``Using caching version of cmd: <instruction>`` (before the stage runs) and ``Found cached
  layer, extracting to filesystem`` (inside the step) mark a step as cached;
- a step lasts from its instruction's line to the next step's, the next stage's start
  (``Building stage``), the image push or the end of the log.

Durations come from when the lines arrived (sub-second), checked against Kaniko's own clock
(``INFO[0003]``: whole seconds since the executor started; a full timestamp with
``--log-timestamp`` or the JSON/text formats): when the two disagree by more than the clock's
one-second resolution — a log read after the container ended arrives all at once — the
executor's clock wins.

Any RUN step prints what it likes, so a log line is hostile input: it is cut to ``MAX_LINE``
bytes (plus a marker saying how much was dropped) before anyone holds it, read as JSON only
under ``MAX_JSON_LINE``, and shown only through :func:`polymagic.printable.printable`. What the
parser remembers per build is bounded too: the tail, at most ``MAX_IMAGES`` base images and
pushed references (and eight times as many announced cache layers), and one record per step of
the rendered Dockerfile.
"""

from __future__ import annotations

import collections
import json
import re
import time
from collections.abc import Callable, Sequence

from polymagic.outcome.events import (
    BuildStep,
    EventKind,
    ProgressEvent,
    new_event,
)
from polymagic.outcome.log_lines import (
    CUT_AT,
    MAX_JSON_LINE,
    cut_line,
)
from polymagic.outcome.log_progress import (
    MAX_IMAGES,
    Pushes,
    Steps,
)
from polymagic.printable import printable

__all__ = ["KanikoLogParser", "startup_error", "strip_ansi"]

# logrus text form: LEVEL[0012] message   (the level may be coloured, the message padded)
_TEXT_LINE = re.compile(
    r"^(?P<level>DEBU|TRAC|INFO|WARN|ERRO|FATA|PANI)\[(?P<clock>[^\]]*)\]\s?(?P<msg>.*)$"
)
# logrus without colours (--log-format=text): logfmt pairs.
_LOGFMT_LINE = re.compile(
    r'^time="(?P<clock>[^"]*)" level=(?P<level>[a-z]+) msg=(?P<msg>"(?:[^"\\]|\\.)*"|\S*)'
)
# Kaniko's default (--log-format=color): the level in ANSI colours, then `[clock] message`.
_COLOURED = {
    f"\x1b[{colour}m{level}\x1b[0m[": level
    for level, colour in (
        ("INFO", 36),
        ("WARN", 33),
        ("ERRO", 31),
        ("FATA", 31),
        ("PANI", 31),
        ("DEBU", 37),
        ("TRAC", 37),
    )
}
_COLOURED_PREFIX = len(next(iter(_COLOURED)))
_INFO = "\x1b[36mINFO\x1b[0m["
_ERROR_LEVELS = frozenset({"ERRO", "FATA", "PANI", "error", "fatal", "panic"})
_FATAL_PREFIXES = (
    "error building image",
    "error checking push permissions",
    "error pushing image",
    "error resolving dockerfile path",
    "error parsing dockerfile",
    "you must provide --destination",
)
_FATAL_INITIALS = frozenset("eEyY")
_COBRA_ERROR = "Error: "
_LEVEL_INITIALS = frozenset("DTIWEFP")
_KANIKO_WORDS = frozenset(
    {"Retrieving", "Pushing", "Pushed", "Unpacking", "Using", "Taking", "Building", "Found"}
)
# How the messages _interpret reads begin, most frequent first (others are only shown).
_KANIKO_PREFIXES = (
    "Retrieving image ",
    "Pushing layer ",
    "Pushing image to ",
    "Pushed ",
    "Taking snapshot of full filesystem",
    "Unpacking rootfs",
    "Building stage ",
    "Using caching version of cmd: ",
    "Found cached layer",
)
_SNAPSHOTS = ("Taking snapshot of full filesystem", "Unpacking rootfs")
_USING_CACHE = "Using caching version of cmd: "


strip_ansi = printable
"""The old name of :func:`polymagic.printable.printable`."""

# A LOG event per log line is made without __init__ (see ``events.new_event``).
_new = object.__new__
_LOG = EventKind.LOG
_time = time.time


def startup_error(line: str) -> str | None:
    """The error of a flag or startup failure, printed by the executor's command line as
    ``Error: ...`` before its usage text (whose flag lines mention `error` too); None for any
    other line."""
    return line[len(_COBRA_ERROR) :] if line.startswith(_COBRA_ERROR) else None


def _split_line(line: str) -> tuple[str, str] | None:
    """(level, message) of a Kaniko line in any of its formats; None otherwise."""
    first = line[:1]
    if first in _LEVEL_INITIALS and line[4:5] == "[":
        match = _TEXT_LINE.match(line)
        if match:
            level, message = match.group(1, 3)
            return level, message.rstrip()
    elif first == "t" and line.startswith('time="'):
        match = _LOGFMT_LINE.match(line)
        if match:
            message = match.group("msg")
            if message.startswith('"'):
                try:
                    message = json.loads(message)
                except ValueError:
                    message = message[1:-1]
                message = printable(message)
            return match.group("level"), message.rstrip()
    elif first == "{" and '"msg"' in line and len(line) < MAX_JSON_LINE:
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):  # deep nesting: `{"msg":[[[[...`
            return None
        if isinstance(data, dict):
            level, message = data.get("level", "info"), data.get("msg", "")
            if isinstance(level, str) and isinstance(message, str):
                # JSON escapes (\u001b) decode to controls: sanitise what was decoded.
                return printable(level), printable(message).rstrip()
    return None


class KanikoLogParser:
    """Turns Kaniko log lines into ``ProgressEvent``s, remembering only a bounded tail."""

    def __init__(
        self, instructions: Sequence[str] = (), tail: int = 200, destinations: Sequence[str] = ()
    ) -> None:
        self._steps = Steps(instructions)
        self.steps = self._steps.names
        # How the messages _interpret reads begin (others are only shown).
        words = tuple(f"{word} " for word in self._steps.words)
        self._prefixes = _KANIKO_PREFIXES[:1] + words + _KANIKO_PREFIXES[1:]
        self.tail: collections.deque[str] = collections.deque(maxlen=tail)
        self.error_line: str | None = None
        self.lines = 0
        self._pushes = Pushes(destinations)
        self._bases: set[str] = set()
        self._ended_in: int | None = None

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def step(self) -> int:
        """The step running (1-based; 0 before the first)."""
        return self._steps.current

    @step.setter
    def step(self, value: int) -> None:
        self._steps.current = value

    @property
    def running_step(self) -> int:
        """The step running when the log ended, or now if it goes on (1-based); 0 when none
        was: before the first, between stages, while the image is pushed."""
        return self._steps.running if self._ended_in is None else self._ended_in

    @property
    def digest(self) -> str | None:
        """The digest of the image pushed to the build's destinations, once pushed."""
        return self._pushes.digest

    @property
    def pushed(self) -> list[str]:
        """The references pushed (``repository@digest``), in order."""
        return self._pushes.pushed

    @property
    def destinations(self) -> tuple[str, ...]:
        return self._pushes.destinations

    def feed(self, raw: str, at: float | None = None) -> list[ProgressEvent]:
        """Events for one raw log line (ANSI codes allowed); the line is kept in the tail.
        ``at``: when it arrived (``time.monotonic()``; None: now), for step durations.

        Never raises: a line that cannot be read as Kaniko's is just shown (sanitised)."""
        return self.feed_lines((raw,), at)

    def feed_lines(
        self, lines: Sequence[str], at: float | Sequence[float] | None = None
    ) -> list[ProgressEvent]:
        """The events of several lines, in order: as ``feed`` for each, at a lower cost per
        line. ``at``: when they arrived, one time for all or one per line."""
        # The hot path of following a build (see benchmarks/bench_parser.py): Kaniko's own
        # coloured lines are read with slices and one dict lookup, and only messages whose
        # first word means something are interpreted.
        events: list[ProgressEvent] = []
        emit = events.append
        keep = self.tail.append
        prefixes = self._prefixes
        coloured = _COLOURED.get
        new = _new
        arrived = _time()  # the events' time: when they were read
        per_line = at if isinstance(at, Sequence) else None
        single = None if isinstance(at, Sequence) else at
        self.lines += len(lines)
        for index, raw in enumerate(lines):
            if len(raw) > CUT_AT:
                raw = cut_line(raw)
            level = "INFO" if raw.startswith(_INFO) else coloured(raw[:_COLOURED_PREFIX])
            if level is not None:
                rest = raw[_COLOURED_PREFIX - 1 :]  # `[clock] message`
                close = rest.find("] ")
                # isprintable: nothing to clean, and no whitespace but ASCII spaces.
                if 0 < close < 64 and rest.isprintable():
                    line = level + rest
                    keep(line)
                    log = new(ProgressEvent)
                    values = log.__dict__
                    values["kind"], values["message"], values["at"] = _LOG, line, arrived
                    emit(log)
                    start = close + 2
                    if level != "INFO" and level in _ERROR_LEVELS:
                        self.error_line = rest[start:].rstrip()
                    if rest.startswith(prefixes, start):
                        message = rest[start:].rstrip()
                        word = message.partition(" ")[0]
                        when = single if per_line is None else per_line[index]
                        event = self._interpret(word, message, line, when)
                        if event is not None:
                            emit(event)
                    continue
            when = single if per_line is None else per_line[index]
            self._feed_other(raw, when, emit, arrived)
        return events

    def _feed_other(
        self, raw: str, at: float | None, emit: Callable[[ProgressEvent], None], arrived: float
    ) -> None:
        """A line that is not in Kaniko's coloured form: RUN output, or another log format."""
        line = printable(raw.rstrip("\r\n"))
        self.tail.append(line)
        log = _new(ProgressEvent)
        values = log.__dict__
        values["kind"], values["message"], values["at"] = _LOG, line, arrived
        emit(log)
        found = _split_line(line)
        if found is None:
            started = startup_error(line)
            if started is not None:
                self.error_line = started
            elif line[:1] in _FATAL_INITIALS and line.lower().startswith(_FATAL_PREFIXES):
                self.error_line = line
            return
        level, message = found
        if level in _ERROR_LEVELS:
            self.error_line = message
        words = message.split(None, 1)
        event = self._interpret(words[0], message, line, at) if words else None
        if event is not None:
            emit(event)

    def finish(self, at: float | None = None) -> None:
        """The log ended: the step still running ends here (at ``at``, or now)."""
        if self._ended_in is None:
            self._ended_in = self._steps.running
        self._steps.close(self.tail[-1] if self.tail else "", at)

    def summary(self) -> tuple[BuildStep, ...]:
        """The steps the executor ran, in order, with their durations and cached marks."""
        return self._steps.summary()

    def _match_step(self, message: str) -> int | None:
        return self._steps.match(message)

    # -- what a message means ------------------------------------------------------------------

    def _interpret(
        self, word: str, message: str, line: str, at: float | None
    ) -> ProgressEvent | None:
        """The event a Kaniko message means, if any. ``word`` is its first word; ``line`` and
        ``at`` time a step that starts or ends here."""
        if word in _KANIKO_WORDS:
            if word == "Retrieving":
                return self._retrieving(message)
            if word == "Pushing" or word == "Pushed":
                event = self._pushes.read(message)
                if event is not None and event.kind is EventKind.PUSHING:
                    self._steps.close(line, at)
                return event
            if word == "Taking" or word == "Unpacking":
                if message.startswith(_SNAPSHOTS):
                    return new_event(EventKind.SNAPSHOTTING, message)
            elif word == "Using" and message.startswith(_USING_CACHE):
                self._steps.mark_cached(message[len(_USING_CACHE) :])
            elif word == "Building" and message.startswith("Building stage "):
                self._steps.close(line, at)
            elif word == "Found" and message.startswith("Found cached layer"):
                self._steps.found_cached_layer()
            return None
        step = self._steps.match(message)
        if step is None:
            return None
        return self._steps.start(step, message, line, at)

    def _retrieving(self, message: str) -> ProgressEvent | None:
        if message.startswith("Retrieving image manifest "):
            image = message[len("Retrieving image manifest ") :]
        elif message.startswith("Retrieving image ") and " from " in message:
            image = message[len("Retrieving image ") :].split(" from ", 1)[0]
        else:
            return None
        if image in self._bases or len(self._bases) >= MAX_IMAGES:
            return None
        self._bases.add(image)
        return new_event(EventKind.RETRIEVING_BASE, image)
