"""Docker's ``.dockerignore``: reading the file, and deciding paths against it in linear time.

This module owns the semantics of moby's ``patternmatcher`` and ``ignorefile`` (shared by
Docker, BuildKit and Kaniko): ``*``, ``?``, ``[...]`` classes, ``**``, ``\\`` escapes, ``!``
exceptions, the last matching pattern wins, and a pattern that matches a parent directory
matches everything below it. It also owns COPY wildcards (``glob_segment``, Go's
``filepath.Match`` on one path segment).

Why not Python's ``re``: moby translates each pattern into a Go regular expression, and Go runs
those in time linear in the input. Python's backtracking ``re`` takes exponential time on the
same expressions (``*a*a*a*a*a*a*a*a*a*a*a*a*b`` against 40 ``a``s runs for minutes; so does a
run of ``**/`` against a deep path), and a cloned repository's ``.dockerignore`` is enough to
trigger that. Here each pattern is translated exactly as moby translates it, the expression is
parsed (the part of RE2's syntax a translation can produce) into a Thompson automaton, and all
the patterns run together as one DFA built lazily from the automaton's state sets, as RE2 does:
a path costs one dictionary step per character once its states are cached, and building a state
costs time linear in the size of the patterns. ``PathMatcher.step`` lets a directory walk carry
the state of a folder to its children, so each name is read once. The expressions and their
parser live in ``ignore_syntax``, the automaton in ``ignore_automaton``.

Bounds: a ``.dockerignore`` holds at most ``MAX_BYTES`` and ``MAX_PATTERNS`` patterns of at
most ``MAX_PATTERN_LENGTH`` characters; a matcher does at most ``MAX_STEPS`` automaton steps
when building states (a budget only hostile files reach) and caches at most ``_CACHE_LIMIT``
automaton states. Refused although Docker accepts them: the RE2 escapes ``\\b``, ``\\B``,
``\\Q``, ``\\p``, ``\\P`` that a pattern's ``\\`` can produce (Docker reads ``\\d`` as a digit
class, which is kept).

Pure, except ``load_dockerignore``, which reads one file.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path

from polymagic.errors import SpecError
from polymagic.render.ignore_automaton import MAX_STEPS, MatcherState, PathMatcher
from polymagic.render.ignore_syntax import (
    ANYTHING,
    NOT_SLASH,
    Alt,
    Assert,
    Cat,
    CharSet,
    Lit,
    Node,
    Op,
    PatternError,
    RegexParser,
    Repeat,
    Rule,
    literal_nodes,
)

__all__ = [
    "DOCKERIGNORE",
    "MAX_BYTES",
    "MAX_PATTERNS",
    "MAX_PATTERN_LENGTH",
    "MAX_STEPS",
    "DockerIgnore",
    "MatcherState",
    "PathMatcher",
    "Rule",
    "compile_rule",
    "glob_segment",
    "load_dockerignore",
    "parse_dockerignore",
]

DOCKERIGNORE = ".dockerignore"

MAX_BYTES = 64 * 1024
"""The largest ``.dockerignore`` read (real ones are a few KB; reading and compiling this much
takes about 0.2 s)."""
MAX_PATTERNS = 10_000
"""The most patterns a ``.dockerignore`` may hold."""
MAX_PATTERN_LENGTH = 4096
"""The longest pattern (a path on Linux is at most 4096 bytes)."""


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash path (``posixpath.normpath`` keeps a leading ``//``)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


# -- Go's filepath.Match syntax check (what moby runs on every pattern) ----------------------


def _scan_chunk(pattern: str) -> tuple[str, str]:
    """Go's ``scanChunk`` after the leading stars: the chunk up to the next ``*`` outside a class."""
    in_range, i = False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif char == "[":
            in_range = True
        elif char == "]":
            in_range = False
        elif char == "*" and not in_range:
            break
        i += 1
    return pattern[:i], pattern[i:]


def _class_char(chunk: str, i: int) -> int:
    """Go's ``getEsc``: the index after one class character, or -1 when the syntax is bad."""
    if i >= len(chunk) or chunk[i] in "-]":
        return -1
    if chunk[i] == "\\":
        i += 1
        if i >= len(chunk):
            return -1
    i += 1
    return i if i < len(chunk) else -1


def _chunk_problem(chunk: str) -> str | None:
    """What Go's ``matchChunk`` finds wrong with a chunk's syntax, or None."""
    i = 0
    while i < len(chunk):
        char = chunk[i]
        if char == "[":
            i += 1
            if i < len(chunk) and chunk[i] == "^":
                i += 1
            ranges = 0
            while not (i < len(chunk) and chunk[i] == "]" and ranges > 0):
                i = _class_char(chunk, i)
                if i >= 0 and chunk[i] == "-":
                    i = _class_char(chunk, i + 1)
                if i < 0:
                    return "a `[...]` class is unclosed, empty, or has `-` or `]` where a character belongs"
                ranges += 1
            i += 1
        elif char == "\\":
            if i + 1 >= len(chunk):
                return "a trailing `\\` escapes nothing"
            i += 2
        else:
            i += 1
    return None


def _glob_problem(pattern: str) -> str | None:
    """The syntax error Go's ``filepath.Match(pattern, ".")`` reports, or None."""
    rest = pattern
    while rest:
        chunk, rest = _scan_chunk(rest.lstrip("*"))
        problem = _chunk_problem(chunk)
        if problem:
            return problem
    return None


# -- moby's translation, and the parse of the expression it makes ---------------------------


class _Kind(enum.Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEXP = "regexp"


_ESCAPED = frozenset(".+()|{}$")


def _translate(text: str) -> tuple[_Kind, str]:
    """moby's ``Pattern.compile``: the match type and the Go regular expression of a pattern."""
    regex, kind, pos, first = "^", _Kind.EXACT, 0, True
    while pos < len(text):
        char = text[pos]
        pos += 1
        if char == "*" and text[pos : pos + 1] == "*":
            pos += 1
            if text[pos : pos + 1] == "/":
                pos += 1  # ``**/`` is ``**``
            if pos == len(text):
                if kind is _Kind.EXACT:
                    kind = _Kind.PREFIX
                else:
                    regex, kind = regex + ".*", _Kind.REGEXP
            else:
                regex, kind = regex + "(.*/)?", _Kind.REGEXP
            if first:
                kind = _Kind.SUFFIX
        elif char == "*":
            regex, kind = regex + "[^/]*", _Kind.REGEXP
        elif char == "?":
            regex, kind = regex + "[^/]", _Kind.REGEXP
        elif char in _ESCAPED:
            regex += "\\" + char
        elif char == "\\":
            if pos < len(text):
                regex, kind = regex + "\\" + text[pos], _Kind.REGEXP
                pos += 1
            else:
                regex += "\\"
        elif char in "[]":
            regex, kind = regex + char, _Kind.REGEXP
        else:
            regex += char
        first = False
    return kind, regex + "$"


# -- rules ----------------------------------------------------------------------------------


def compile_rule(text: str, *, exclusion: bool = False, source: str = DOCKERIGNORE) -> Rule:
    """A pattern as moby compiles it; raises ValueError when Docker would reject it."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise PatternError(f"longer than {MAX_PATTERN_LENGTH} characters")
    problem = _glob_problem(text)
    if problem:
        raise PatternError(problem)
    kind, regex = _translate(text)
    end = Assert(Op.END)
    node: Node
    if kind is _Kind.EXACT:
        node = Cat((*literal_nodes(text), end))
    elif kind is _Kind.PREFIX:  # strings.HasPrefix(path, text[:-2])
        node = Cat((*literal_nodes(text[:-2]), Repeat(Lit(ANYTHING), "*"), end))
    elif kind is _Kind.SUFFIX:  # strings.HasSuffix(path, text[2:]), or ``**/foo`` is ``foo``
        suffix = text[2:]
        ends_with = Cat((Repeat(Lit(ANYTHING), "*"), *literal_nodes(suffix), end))
        node = ends_with
        if suffix.startswith("/"):
            node = Alt((ends_with, Cat((*literal_nodes(suffix[1:]), end))))
    else:
        node = RegexParser(regex).parse()
    return Rule(text, exclusion, source, node)


# -- .dockerignore --------------------------------------------------------------------------


class DockerIgnore:
    """Docker's ``.dockerignore`` matcher: ``ignore("a/b.txt")`` is True when the path is excluded.

    Paths are slash-separated and relative to the context root. The last matching pattern
    wins; ``!`` patterns re-include; a pattern that matches a parent directory excludes
    everything below it unless a later ``!`` pattern re-includes it. ``patterns`` are the lines
    as Docker reads them (see :func:`parse_dockerignore`); ``lines`` their line numbers.
    """

    def __init__(
        self,
        patterns: Iterable[str] = (),
        *,
        source: str = DOCKERIGNORE,
        lines: Sequence[int] | None = None,
    ) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        self.source = source
        if len(self.patterns) > MAX_PATTERNS:
            raise SpecError(
                f"{source} has {len(self.patterns)} patterns, more than the {MAX_PATTERNS:,}"
                " polymagic reads: leave out whole folders with fewer, shorter patterns"
            )
        rules: list[Rule] = []
        for index, raw in enumerate(self.patterns):
            text = raw.strip()
            if not text:
                continue
            where = f"{source}, line {lines[index]}" if lines else source
            text = go_clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                text = text[1:]
                if not text:
                    raise SpecError(f'{where}: illegal exclusion pattern: "!"')
            try:
                rules.append(compile_rule(text, exclusion=exclusion, source=where))
            except ValueError as error:
                raise SpecError(f"{where}: invalid pattern `{raw}`: {error}") from None
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.has_exceptions = any(rule.exclusion for rule in rules)
        self._matcher: PathMatcher | None = None

    def excludes(self, path: str) -> bool:
        """True when ``path`` (or a directory above it) is excluded and not re-included."""
        path = go_clean(path)
        if path == ".":
            return False  # Docker never excludes the context root itself
        if self._matcher is None:
            self._matcher = PathMatcher(self.rules, source=self.source)
        return self._matcher.excluded(self._matcher.mask(path))

    __call__ = excludes

    def __repr__(self) -> str:
        return f"DockerIgnore({list(self.patterns)!r})"


def _too_large(source: str) -> SpecError:
    return SpecError(
        f"{source} is larger than {MAX_BYTES // 1024} KiB, more than polymagic reads: leave out"
        " whole folders with fewer patterns"
    )


def parse_dockerignore(text: str, *, source: str = DOCKERIGNORE) -> DockerIgnore:
    """A matcher from ``.dockerignore`` text, read as Docker reads it.

    A line starting with ``#`` is a comment (only in the first column); lines are trimmed,
    blank ones skipped; each pattern is cleaned like a path and a leading ``/`` dropped.
    """
    if len(text) > MAX_BYTES:
        raise _too_large(source)
    patterns: list[str] = []
    lines: list[int] = []
    for index, line in enumerate(text.split("\n")):
        if index == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append(f"!{pattern}" if invert else pattern)
        lines.append(index + 1)
    return DockerIgnore(patterns, source=source, lines=lines)


def load_dockerignore(base: Path, dockerfile: str = "Dockerfile") -> DockerIgnore:
    """The ignore rules of the context folder ``base``: ``<dockerfile>.dockerignore`` when it
    exists (as BuildKit and Kaniko prefer), else ``.dockerignore``, else nothing ignored."""
    for name in (f"{dockerfile}.dockerignore", DOCKERIGNORE):
        path = Path(base) / name
        if path.is_file():
            try:
                with path.open("rb") as handle:
                    data = handle.read(MAX_BYTES + 1)
                if len(data) > MAX_BYTES:
                    raise _too_large(str(path))
                text = data.decode("utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise SpecError(f"cannot read {path}: {error}") from error
            return parse_dockerignore(text, source=str(path))
    return DockerIgnore()


# -- COPY wildcards -------------------------------------------------------------------------


def _glob_node(segment: str) -> Node:
    """Go's ``filepath.Match`` pattern for one path segment, as a syntax tree."""
    items: list[Node] = []
    pos = 0
    while pos < len(segment):
        char = segment[pos]
        pos += 1
        if char == "*":
            items.append(Repeat(Lit(NOT_SLASH), "*"))
        elif char == "?":
            items.append(Lit(NOT_SLASH))
        elif char == "\\":
            items.append(Lit(segment[pos]))
            pos += 1
        elif char == "[":
            negated = segment[pos] == "^"
            pos += 1 if negated else 0
            ranges: list[tuple[int, int]] = []
            while segment[pos] != "]" or not ranges:
                if segment[pos] == "\\":
                    pos += 1
                low = high = ord(segment[pos])
                pos += 1
                if segment[pos] == "-":
                    pos += 1
                    if segment[pos] == "\\":
                        pos += 1
                    high = ord(segment[pos])
                    pos += 1
                ranges.append((low, high))
            pos += 1
            items.append(Lit(CharSet(ranges, negated=negated)))
        else:
            items.append(Lit(char))
    return Cat((*items, Assert(Op.END)))


def glob_segment(segment: str) -> PathMatcher:
    """A matcher for the names one COPY wildcard segment (``*.txt``, ``data?``) matches, as
    Go's ``filepath.Match``: ``matcher.step(matcher.start, name).accepts`` is true for a match.
    Raises ValueError for a malformed wildcard."""
    problem = _glob_problem(segment)
    if problem:
        raise PatternError(problem)
    return PathMatcher([Rule(segment, False, "COPY", _glob_node(segment))], source="COPY")
