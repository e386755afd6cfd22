"""What the executor's log says about a build's progress, kept as it reads: the steps
(``Steps``: which instruction runs, when it started, whether it came from the cache) and the
pushes (``Pushes``: which pushes are the image's and which a cache layer's, and the pushed
digest), with the executor's clock read from a line. ``kaniko_log.KanikoLogParser`` feeds them.
Pure; what they remember is bounded (``MAX_IMAGES``, one record per step).
"""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Sequence

from polymagic.outcome.events import BuildStep, EventKind, ProgressEvent, build_steps, new_event
from polymagic.outcome.log_lines import MAX_JSON_LINE
from polymagic.printable import printable

__all__ = [
    "DIGEST",
    "MAX_IMAGES",
    "Pushes",
    "Steps",
    "clock_of",
    "moment_of",
    "normal_text",
    "repository_of",
    "step_duration",
]

MAX_IMAGES = 32
"""Base images announced and pushed references kept: a Dockerfile has a few; a RUN step
printing Kaniko-looking lines must not grow them without bound."""
DIGEST = re.compile(r"@(?P<digest>sha256:[0-9a-f]{64})")
_DOCKER_HUB = "index.docker.io"
_new = object.__new__
_time = time.time


def normal_text(text: str) -> str:
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


def clock_of(line: str) -> float | None:
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


def step_duration(arrived: float, clocked: float | None) -> float:
    # The clock truncates to whole seconds: the true time lies within one second of it.
    if clocked is not None and not clocked - 1 < arrived < clocked + 1:
        return clocked
    return max(arrived, 0.0)


def moment_of(line: str, at: float | None) -> tuple[float, float | None]:
    """(arrival, Kaniko's clock) of ``line``."""
    return (time.monotonic() if at is None else at), clock_of(line)


class Steps:
    """The rendered Dockerfile's steps as the log runs them: which one runs (Kaniko echoes each
    instruction verbatim), which are cached, when each started and how long it took."""

    def __init__(self, instructions: Sequence[str]) -> None:
        self.names = build_steps(instructions)
        # Where each step's text is, and the words steps start with (see match).
        step_at: dict[str, list[int]] = {}
        words = set()
        for index, text in enumerate(self.names):
            # As the log shows it: sanitised like every log line (``\r`` is ``\x0d`` there).
            normal = normal_text(printable(text))
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
        now = moment_of(line, at)
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
        for index in self._step_at.get(normal_text(instruction), ()):
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
            self._close(moment_of(line, at))

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
        self._durations[index] = step_duration(at - started, clocked)

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


class Pushes:
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
            if len(self._cache_refs) < MAX_IMAGES * 8:
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
            return new_event(EventKind.PUSHING, reference)
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
        found = DIGEST.search(reference)
        if found:
            self.digest = found.group("digest")
        if len(self.pushed) < MAX_IMAGES:
            self.pushed.append(reference)
        return new_event(EventKind.PUSHED, reference, digest=self.digest)
