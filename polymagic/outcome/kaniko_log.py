"""Reading Kaniko's log into typed progress: phases, step i/N, the pushed digest, the error line,
and at the end the steps with their durations and cached marks.

Pure and incremental: ``LineSplitter`` turns the log's bytes into lines as they arrive,
``KanikoLogParser`` takes the lines one at a time (``feed``) or as they arrived together
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
parser remembers per build is bounded too: the tail, at most ``_MAX_IMAGES`` base images and
pushed references (and eight times as many announced cache layers), and one record per step of
the rendered Dockerfile.
"""

from __future__ import annotations

import collections
import datetime
import enum
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from polymagic.printable import printable, visible

__all__ = [
    "MAX_JSON_LINE",
    "MAX_LINE",
    "BuildStep",
    "EventKind",
    "KanikoLogParser",
    "LineSplitter",
    "ProgressEvent",
    "build_steps",
    "format_size",
    "format_steps",
    "repository_of",
    "startup_error",
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
_MAX_IMAGES = 32
"""Base images announced and pushed references kept: a Dockerfile has a few; a RUN step
printing Kaniko-looking lines must not grow them without bound."""
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
_FATAL_INITIALS = frozenset("eEyY")
_COBRA_ERROR = "Error: "
_LEVEL_INITIALS = frozenset("DTIWEFP")
_DOCKER_HUB = "index.docker.io"
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


def _event(kind: EventKind, message: str, **fields: object) -> ProgressEvent:
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
    return _size(count)


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
        if text[:4].upper() == "FROM" and text[4:5] in _COMMAND_END:
            seen_from = True
        elif seen_from:
            steps.append(text)
    # Without any FROM (a list given by hand), every instruction is a step.
    return steps if seen_from else list(instructions)


_COMMAND_END = ("", "\t", "\v", "\f", "\r", " ")


def startup_error(line: str) -> str | None:
    """The error of a flag or startup failure, printed by the executor's command line as
    ``Error: ...`` before its usage text (whose flag lines mention `error` too); None for any
    other line."""
    return line[len(_COBRA_ERROR) :] if line.startswith(_COBRA_ERROR) else None


def _normal(text: str) -> str:
    return " ".join(text.split())


def repository_of(reference: str) -> str:
    """``host/path`` of an image reference without tag or digest, with Docker Hub's names
    written one way (``index.docker.io/library/x``), as go-containerregistry prints them."""
    name = reference.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name = name[:colon]
    first, has_slash, rest = name.partition("/")
    if has_slash and ("." in first or ":" in first or first == "localhost"):
        if first not in ("docker.io", "registry-1.docker.io"):
            return name
        name = rest
    if "/" not in name:
        name = f"library/{name}"
    return f"{_DOCKER_HUB}/{name}"


def _clock_of(line: str) -> float | None:
    """Kaniko's clock on a (sanitised) line, in seconds: since the executor started
    (``INFO[0003]``) or since the epoch (``--log-timestamp``, the text and JSON formats)."""
    if line[4:5] == "[":
        clock = line[5 : line.find("]")]
    elif line.startswith('time="'):
        clock = line[6 : line.find('"', 6)]
    elif line.startswith("{"):
        try:
            data = json.loads(line) if len(line) < MAX_JSON_LINE else None
        except (ValueError, RecursionError):
            return None
        found = data.get("time") if isinstance(data, dict) else None
        if not isinstance(found, str):
            return None
        clock = found
    else:
        return None
    if clock.isdigit():
        return float(clock)
    try:
        return datetime.datetime.fromisoformat(clock).timestamp()
    except ValueError:
        return None


def _duration(arrived: float, clocked: float | None) -> float:
    # The clock truncates to whole seconds: the true time lies within one second of it.
    if clocked is not None and not clocked - 1 < arrived < clocked + 1:
        return clocked
    return max(arrived, 0.0)


def _moment(line: str, at: float | None) -> tuple[float, float | None]:
    """(arrival, Kaniko's clock) of ``line``."""
    return (time.monotonic() if at is None else at), _clock_of(line)


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


class _Steps:
    """The rendered Dockerfile's steps as the log runs them: which one runs (Kaniko echoes each
    instruction verbatim), which are cached, when each started and how long it took."""

    def __init__(self, instructions: Sequence[str]) -> None:
        self.names = build_steps(instructions)
        # Where each step's text is, and the words steps start with (see match).
        step_at: dict[str, list[int]] = {}
        words = set()
        for index, text in enumerate(self.names):
            # As the log shows it: sanitised like every log line (``\r`` is ``\x0d`` there).
            normal = _normal(printable(text))
            step_at.setdefault(normal, []).append(index)
            words.add(normal.partition(" ")[0])
        self.words = frozenset(words)
        self._step_at = step_at
        self._initials = frozenset(word[:1] for word in words)
        self.current = 0
        """The step running (1-based; 0 before the first)."""
        count = len(self.names)
        self._cached = [False] * count
        self._started: list[tuple[float, float | None] | None] = [None] * count
        self._durations: list[float | None] = [None] * count
        self._open: int | None = None

    def match(self, message: str) -> int | None:
        """The step (1-based) whose instruction ``message`` is, looking forward from the
        current one; None for any other message."""
        # Most messages do not start like a step's first word: they are ruled out unnormalised.
        first = message[:1]
        if first not in self._initials and not first.isspace():
            return None
        words = message.split()
        if not words or words[0] not in self.words:
            return None
        for index in self._step_at.get(" ".join(words), ()):
            if index >= self.current:
                return index + 1
        return None

    def start(self, step: int, message: str, line: str, at: float | None) -> ProgressEvent:
        """Step ``step`` starts at ``line``: the one before ends there. Its STEP event."""
        index = step - 1
        now = _moment(line, at)
        self._close(now)
        self._open = index
        self._started[index] = now
        self.current = step
        event: ProgressEvent = _new(ProgressEvent)
        event.__dict__.update(
            kind=EventKind.STEP,
            message=message,
            step=step,
            total=len(self.names),
            instruction=self.names[index],
            cached=self._cached[index],
            at=_time(),
        )
        return event

    @property
    def running(self) -> int:
        """The step running now (1-based), 0 when none is: before the first, between a stage's
        end and the next step, and once the image is being pushed."""
        return 0 if self._open is None else self._open + 1

    def mark_cached(self, instruction: str) -> None:
        """``Using caching version of cmd``: the next step of that instruction is cached."""
        for index in self._step_at.get(_normal(instruction), ()):
            if index >= self.current and not self._cached[index]:
                self._cached[index] = True
                return

    def found_cached_layer(self) -> None:
        """``Found cached layer``: the running step is cached."""
        if self._open is not None:
            self._cached[self._open] = True

    def close(self, line: str, at: float | None) -> None:
        """The running step (if any) ends at ``line``."""
        if self._open is not None:
            self._close(_moment(line, at))

    def _close(self, now: tuple[float, float | None]) -> None:
        index = self._open
        if index is None:
            return
        self._open = None
        start = self._started[index]
        if start is None:
            return
        at, clock = now
        started, began = start
        clocked = clock - began if clock is not None and began is not None else None
        self._durations[index] = _duration(at - started, clocked)

    def summary(self) -> tuple[BuildStep, ...]:
        total = len(self.names)
        return tuple(
            BuildStep(
                number=index + 1,
                total=total,
                name=self.names[index],
                duration=self._durations[index],
                cached=self._cached[index],
            )
            for index in range(total)
            if self._started[index] is not None
        )


class _Pushes:
    """The pushes in the log: the image's, to one of the build's destinations (its digest),
    told apart from the cache layers' pushes, which say the same words."""

    def __init__(self, destinations: Sequence[str]) -> None:
        self.destinations = tuple(destinations)
        self._repositories = frozenset(map(repository_of, self.destinations))
        self.digest: str | None = None
        self.pushed: list[str] = []
        # Cache layers announced (reference -> repository), and pushes of them not yet done.
        self._cache_refs: dict[str, str] = {}
        self._cache_pending: dict[str, int] = {}

    def read(self, message: str) -> ProgressEvent | None:
        """The PUSHING / PUSHED event a ``Pushing ...`` / ``Pushed ...`` message means, if any."""
        # A cache layer's push: `Pushing layer <ref> to cache now`, `Pushing image to <ref>`
        # (the same text), then `Pushed <repository>@<digest>` with the repository as
        # go-containerregistry names it. Layers are pushed while later steps run.
        if message.startswith("Pushing layer ") and message.endswith(" to cache now"):
            reference = message[len("Pushing layer ") : -len(" to cache now")]
            if len(self._cache_refs) < _MAX_IMAGES * 8:
                self._cache_refs[reference] = repository_of(reference)
            return None
        if message.startswith("Pushing image to "):
            reference = message[len("Pushing image to ") :]
            cache = self._cache_refs.pop(reference, None)
            if cache is not None:
                self._cache_pending[cache] = self._cache_pending.get(cache, 0) + 1
                return None
            if self._repositories and repository_of(reference) not in self._repositories:
                return None  # not one of this build's destinations: not the image
            return _event(EventKind.PUSHING, reference)
        if message.startswith("Pushed "):
            return self._pushed(message[len("Pushed ") :])
        return None

    def _pushed(self, reference: str) -> ProgressEvent | None:
        repository = reference.partition("@")[0]
        pending = self._cache_pending.get(repository)
        if pending:
            self._cache_pending[repository] = pending - 1
            return None
        if self._repositories and repository not in self._repositories:
            return None
        found = _DIGEST.search(reference)
        if found:
            self.digest = found.group("digest")
        if len(self.pushed) < _MAX_IMAGES:
            self.pushed.append(reference)
        return _event(EventKind.PUSHED, reference, digest=self.digest)


class KanikoLogParser:
    """Turns Kaniko log lines into ``ProgressEvent``s, remembering only a bounded tail."""

    def __init__(
        self, instructions: Sequence[str] = (), tail: int = 200, destinations: Sequence[str] = ()
    ) -> None:
        self._steps = _Steps(instructions)
        self.steps = self._steps.names
        # How the messages _interpret reads begin (others are only shown).
        words = tuple(f"{word} " for word in self._steps.words)
        self._prefixes = _KANIKO_PREFIXES[:1] + words + _KANIKO_PREFIXES[1:]
        self.tail: collections.deque[str] = collections.deque(maxlen=tail)
        self.error_line: str | None = None
        self.lines = 0
        self._pushes = _Pushes(destinations)
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
            if len(raw) > _CUT_AT:
                raw = _cut(raw)
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
                    return _event(EventKind.SNAPSHOTTING, message)
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
        if image in self._bases or len(self._bases) >= _MAX_IMAGES:
            return None
        self._bases.add(image)
        return _event(EventKind.RETRIEVING_BASE, image)
