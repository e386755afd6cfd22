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
the state of a folder to its children, so each name is read once.

Bounds: a ``.dockerignore`` holds at most ``MAX_BYTES`` and ``MAX_PATTERNS`` patterns of at
most ``MAX_PATTERN_LENGTH`` characters; a matcher does at most ``MAX_STEPS`` automaton steps
when building states (a budget only hostile files reach) and caches at most ``_CACHE_LIMIT``
automaton states. Refused although Docker accepts them: the RE2 escapes ``\\b``, ``\\B``,
``\\Q``, ``\\p``, ``\\P`` that a pattern's ``\\`` can produce (Docker reads ``\\d`` as a digit
class, which is kept).

Pure, except ``load_dockerignore``, which reads one file.
"""

from __future__ import annotations

import bisect
import enum
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from polymagic.errors import SpecError

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
MAX_STEPS = 10_000_000
"""Set operations a matcher may spend building DFA states, each charged before it runs: about
0.6 s of work on the worst input measured (README); a .dockerignore of 320 patterns against
100,000 paths takes 4.7 million."""
_CACHE_LIMIT = 500_000
"""Automaton states held by cached DFA states before the cache is dropped (as RE2 does)."""


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash path (``posixpath.normpath`` keeps a leading ``//``)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


class _PatternError(ValueError):
    """A pattern Docker rejects (or that polymagic does not support)."""


# -- character sets ------------------------------------------------------------------------

_MAX_RUNE = 0x10FFFF


class _CharSet:
    """A set of characters as sorted, disjoint code point ranges."""

    __slots__ = ("_his", "_los")

    def __init__(self, ranges: Iterable[tuple[int, int]], *, negated: bool = False) -> None:
        merged: list[list[int]] = []
        for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        if negated:
            inverted, start = [], 0
            for lo, hi in merged:
                if lo > start:
                    inverted.append([start, lo - 1])
                start = hi + 1
            if start <= _MAX_RUNE:
                inverted.append([start, _MAX_RUNE])
            merged = inverted
        self._los = [lo for lo, _ in merged]
        self._his = [hi for _, hi in merged]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _CharSet) and self._los == other._los and self._his == other._his

    def __hash__(self) -> int:
        return hash((tuple(self._los), tuple(self._his)))

    def __contains__(self, char: object) -> bool:
        if not isinstance(char, str):
            return False
        code = ord(char)
        index = bisect.bisect_right(self._los, code) - 1
        return index >= 0 and code <= self._his[index]


def _ranges(text: str) -> list[tuple[int, int]]:
    """``"09AZ"`` → ``[(48, 57), (65, 90)]``: pairs of characters as inclusive ranges."""
    return [(ord(text[i]), ord(text[i + 1])) for i in range(0, len(text), 2)]


_NOT_SLASH = _CharSet([(ord("/"), ord("/"))], negated=True)
_NOT_NEWLINE = _CharSet([(10, 10)], negated=True)  # RE2's ``.``
_ANYTHING = _CharSet([(0, _MAX_RUNE)])
# RE2's ASCII classes (Go's regexp/syntax perl_groups.go).
_PERL = {"d": _ranges("09"), "s": _ranges("\t\n\f\r  "), "w": _ranges("09AZ__az")}
_POSIX = {
    "alnum": _ranges("09AZaz"),
    "alpha": _ranges("AZaz"),
    "ascii": _ranges("\x00\x7f"),
    "blank": _ranges("\t\t  "),
    "cntrl": _ranges("\x00\x1f\x7f\x7f"),
    "digit": _ranges("09"),
    "graph": _ranges("!~"),
    "lower": _ranges("az"),
    "print": _ranges(" ~"),
    "punct": _ranges("!/:@[`{~"),
    "space": _ranges("\t\r  "),
    "upper": _ranges("AZ"),
    "word": _ranges("09AZ__az"),
    "xdigit": _ranges("09AFaf"),
}


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, start = [], 0
    for lo, hi in sorted(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= _MAX_RUNE:
        out.append((start, _MAX_RUNE))
    return out


# -- a small regular-expression syntax tree -------------------------------------------------

Predicate: TypeAlias = "str | _CharSet"
"""What one character step accepts: that character, or a set."""


class _Op(enum.IntEnum):
    CHAR = 0
    SPLIT = 1
    BEGIN = 2
    END = 3
    MATCH = 4


@dataclass(frozen=True)
class _Lit:
    pred: Predicate


@dataclass(frozen=True)
class _Assert:
    op: _Op  # BEGIN or END


@dataclass(frozen=True)
class _Cat:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Alt:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Repeat:
    item: _Node
    kind: str  # "*", "+" or "?"


_Node: TypeAlias = "_Lit | _Assert | _Cat | _Alt | _Repeat"


def _literal(text: str) -> list[_Node]:
    return [_Lit(char) for char in text]


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


_HEX = frozenset("0123456789abcdefABCDEF")
_CLASSES: dict[str, _CharSet] = {}
"""Parsed classes by their text between ``[`` and ``]``; cleared past ``_CLASS_CACHE_LIMIT``."""
_CLASS_CACHE_LIMIT = 4096


class _RegexParser:
    """Go's ``regexp/syntax`` parser (Perl flags) for the expressions moby's translation makes.

    Escapes, classes (ranges, ``^``, POSIX ``[:name:]`` and Perl ``\\d\\s\\w`` classes),
    ``.``, ``^``, ``$``, groups, ``*``, ``+``, ``?`` and ``|`` are read as RE2 reads them.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> _Node:
        node = self._alternation()
        if self.pos < len(self.text):
            raise _PatternError("unexpected `)`")
        return node

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _alternation(self) -> _Node:
        branches = [self._concatenation()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._concatenation())
        return branches[0] if len(branches) == 1 else _Alt(tuple(branches))

    def _concatenation(self) -> _Node:
        items: list[_Node] = []
        repeated = False
        while self.pos < len(self.text) and self.text[self.pos] not in "|)":
            char = self.text[self.pos]
            if char in "*+?":
                self.pos += 1
                if repeated and char == "?":
                    continue  # a lazy repetition matches the same strings
                if repeated:
                    raise _PatternError("invalid nested repetition operator")
                if not items:
                    raise _PatternError("missing argument to repetition operator")
                items[-1] = _Repeat(items[-1], char)
                repeated = True
                continue
            repeated = False
            items += self._atom()
        return items[0] if len(items) == 1 else _Cat(tuple(items))

    def _atom(self) -> list[_Node]:
        char = self.text[self.pos]
        self.pos += 1
        if char == "(":
            if self._peek() == "?":
                raise _PatternError("unsupported group syntax `(?`")
            inner = self._alternation()
            if self._peek() != ")":
                raise _PatternError("missing closing `)`")
            self.pos += 1
            return [inner]
        if char == "[":
            return [_Lit(self._cached_class())]
        if char == ".":
            return [_Lit(_NOT_NEWLINE)]
        if char == "^":
            return [_Assert(_Op.BEGIN)]
        if char == "$":
            return [_Assert(_Op.END)]
        if char == "\\":
            return self._escape_atom()
        return [_Lit(char)]

    def _escape_atom(self) -> list[_Node]:
        letter = self._peek()
        if letter == "A":
            self.pos += 1
            return [_Assert(_Op.BEGIN)]
        if letter == "z":
            self.pos += 1
            return [_Assert(_Op.END)]
        if letter in ("b", "B", "Q", "p", "P"):
            raise _PatternError(
                f"`\\{letter}` is a regular-expression escape to Docker, which polymagic does not"
                " support; escape only punctuation"
            )
        if letter == "C":
            raise _PatternError("invalid escape sequence `\\C`")
        perl = self._perl_class()
        if perl is not None:
            return [_Lit(_CharSet(perl))]
        return [_Lit(chr(self._escaped_char()))]

    def _perl_class(self) -> list[tuple[int, int]] | None:
        """``\\d``, ``\\D``, ``\\s``... after the backslash, or None."""
        letter = self._peek()
        if letter.lower() not in _PERL:
            return None
        self.pos += 1
        ranges = _PERL[letter.lower()]
        return _complement(ranges) if letter.isupper() else list(ranges)

    def _escaped_char(self) -> int:
        """Go's ``parseEscape`` after the backslash: the character an escape stands for."""
        if self.pos >= len(self.text):
            raise _PatternError("trailing backslash at end of expression")
        char = self.text[self.pos]
        self.pos += 1
        if ord(char) < 0x80 and not char.isalnum():
            return ord(char)
        if char in "01234567":
            nxt = self._peek()
            if char != "0" and not (nxt and nxt in "01234567"):
                raise _PatternError(f"invalid escape sequence `\\{char}` (a back-reference)")
            value = int(char)
            for _ in range(2):
                nxt = self._peek()
                if not (nxt and nxt in "01234567"):
                    break
                value = value * 8 + int(nxt)
                self.pos += 1
            return value
        if char == "x":
            return self._hex_escape()
        controls = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
        if char in controls:
            return controls[char]
        raise _PatternError(f"invalid escape sequence `\\{char}`")

    def _hex_escape(self) -> int:
        if self._peek() == "{":
            end = self.text.find("}", self.pos)
            digits = self.text[self.pos + 1 : end] if end > 0 else ""
            if not digits or not set(digits) <= _HEX or int(digits, 16) > _MAX_RUNE:
                raise _PatternError("invalid escape sequence `\\x{...}`")
            self.pos = end + 1
            return int(digits, 16)
        digits = self.text[self.pos : self.pos + 2]
        if len(digits) < 2 or not set(digits) <= _HEX:
            raise _PatternError("invalid escape sequence `\\x`")
        self.pos += 2
        return int(digits, 16)

    def _cached_class(self) -> _CharSet:
        """A class, shared when its text holds no escape or nested ``[`` (``[^/]``, which every
        ``*`` and ``?`` translates to, is parsed once, not once per character of a pattern)."""
        end = self.text.find("]", self.pos + 1)
        key = self.text[self.pos : end]
        if end < 0 or "\\" in key or "[" in key:
            return self._class()
        found = _CLASSES.get(key)
        if found is not None:
            self.pos = end + 1
            return found
        parsed = self._class()
        if self.pos == end + 1:  # the class ended at that `]` (`[^]a]` does not)
            if len(_CLASSES) >= _CLASS_CACHE_LIMIT:
                _CLASSES.clear()
            _CLASSES[key] = parsed
        return parsed

    def _class(self) -> _CharSet:
        """Go's ``parseClass``, after the ``[``."""
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while first or self._peek() != "]":
            if self.pos >= len(self.text):
                raise _PatternError("missing closing `]`")
            first = False
            text, pos = self.text, self.pos
            if len(text) - pos > 2 and text.startswith("[:", pos):
                end = text.find(":]", pos + 2)
                if end >= 0:
                    name = text[pos + 2 : end]
                    group = _POSIX.get(name.removeprefix("^"))
                    if group is None:
                        raise _PatternError(f"invalid character class range `[:{name}:]`")
                    ranges += _complement(group) if name.startswith("^") else group
                    self.pos = end + 2
                    continue
            rest = text[pos : pos + 2]  # what decides the next step; never the whole remainder
            if rest.startswith(("\\p", "\\P")):
                raise _PatternError(
                    "`\\p` is a regular-expression escape to Docker, which polymagic does not"
                    " support; escape only punctuation"
                )
            if rest.startswith("\\"):
                self.pos += 1
                perl = self._perl_class()
                if perl is not None:
                    ranges += perl
                    continue
                low = self._escaped_char()
            else:
                low = ord(rest[0])
                self.pos += 1
            high = low
            after = self.text[self.pos : self.pos + 2]
            if len(after) == 2 and after[0] == "-" and after[1] != "]":
                self.pos += 1
                if self.text[self.pos] == "\\":
                    self.pos += 1
                    high = self._escaped_char()
                else:
                    high = ord(self.text[self.pos])
                    self.pos += 1
                if high < low:
                    raise _PatternError("invalid character class range")
            ranges.append((low, high))
        self.pos += 1  # the ``]``
        return _CharSet(ranges, negated=negated)


# -- rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One compiled pattern: its text (without ``!``), whether it is an exception, where it came
    from (for messages) and its syntax tree."""

    text: str
    exclusion: bool
    source: str
    node: _Node


def compile_rule(text: str, *, exclusion: bool = False, source: str = DOCKERIGNORE) -> Rule:
    """A pattern as moby compiles it; raises ValueError when Docker would reject it."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise _PatternError(f"longer than {MAX_PATTERN_LENGTH} characters")
    problem = _glob_problem(text)
    if problem:
        raise _PatternError(problem)
    kind, regex = _translate(text)
    end = _Assert(_Op.END)
    node: _Node
    if kind is _Kind.EXACT:
        node = _Cat((*_literal(text), end))
    elif kind is _Kind.PREFIX:  # strings.HasPrefix(path, text[:-2])
        node = _Cat((*_literal(text[:-2]), _Repeat(_Lit(_ANYTHING), "*"), end))
    elif kind is _Kind.SUFFIX:  # strings.HasSuffix(path, text[2:]), or ``**/foo`` is ``foo``
        suffix = text[2:]
        ends_with = _Cat((_Repeat(_Lit(_ANYTHING), "*"), *_literal(suffix), end))
        node = ends_with
        if suffix.startswith("/"):
            node = _Alt((ends_with, _Cat((*_literal(suffix[1:]), end))))
    else:
        node = _RegexParser(regex).parse()
    return Rule(text, exclusion, source, node)


# -- the automaton --------------------------------------------------------------------------


class MatcherState:
    """A DFA state: the set of automaton states a path prefix leads to, and its cached moves."""

    __slots__ = ("_exceptions", "accepts", "chars", "kernel", "moves")

    def __init__(self, kernel: frozenset[int], chars: frozenset[int], accepts: int) -> None:
        self.kernel = kernel
        self.chars = chars
        """The automaton states in ``kernel`` that read a character."""
        self.accepts = accepts
        """Bit i is set when rule i matches the text read so far, as a whole."""
        self.moves: dict[str, MatcherState] = {}
        self._exceptions: bool | None = None


class PathMatcher:
    """Decides paths against ``rules`` (in order) in one pass over each path.

    ``step(state, text)`` reads ``text`` from ``state``; ``state.accepts`` tells which rules
    match what was read; ``excluded(mask)`` applies "the last match wins" to the rules that
    matched a path or one of its parents.
    """

    def __init__(self, rules: Sequence[Rule], *, source: str = DOCKERIGNORE) -> None:
        self.rules = tuple(rules)
        self.source = source
        self._exclusion = [rule.exclusion for rule in self.rules]
        self._op: list[_Op] = []
        self._pred: list[Predicate] = []
        self._out: list[int] = []
        self._out2: list[int] = []
        self._owner: list[int] = []
        starts = [self._compile_rule(index, rule) for index, rule in enumerate(self.rules)]
        ops = self._op
        self._reading = frozenset(i for i, op in enumerate(ops) if op is _Op.CHAR)
        self._final = frozenset(i for i, op in enumerate(ops) if op in (_Op.END, _Op.MATCH))
        self._exception_states = frozenset(
            i for i, owner in enumerate(self._owner) if self._exclusion[owner]
        )
        # The reading states grouped by what they accept: one group per literal character,
        # one per character set (most are shared: "any but /", "any but a line break").
        literal: dict[str, set[int]] = {}
        sets: dict[_CharSet, set[int]] = {}
        for i in self._reading:
            pred = self._pred[i]
            if isinstance(pred, str):
                literal.setdefault(pred, set()).add(i)
            else:
                sets.setdefault(pred, set()).add(i)
        self._literal = {char: frozenset(ids) for char, ids in literal.items()}
        self._sets = [(pred, frozenset(ids)) for pred, ids in sets.items()]
        self._groups: dict[str, list[frozenset[int]]] = {}
        self._successors: dict[int, frozenset[int]] = {}
        self._end_accepts: dict[int, int] = {}
        self._table: dict[frozenset[int], MatcherState] = {}
        self._cached = 0
        self.steps = 0
        self.start = self._state(self._closure(starts, at_start=True))

    # -- building the automaton

    def _add(self, op: _Op, pred: Predicate, out: int, owner: int) -> int:
        self._op.append(op)
        self._pred.append(pred)
        self._out.append(out)
        self._out2.append(-1)
        self._owner.append(owner)
        return len(self._op) - 1

    def _compile_rule(self, index: int, rule: Rule) -> int:
        match = self._add(_Op.MATCH, "", -1, index)
        return self._compile(rule.node, match, index)

    def _compile(self, node: _Node, nxt: int, owner: int) -> int:
        """The start of ``node``'s instructions, which continue at ``nxt`` (built backwards)."""
        if isinstance(node, _Lit):
            return self._add(_Op.CHAR, node.pred, nxt, owner)
        if isinstance(node, _Assert):
            return self._add(node.op, "", nxt, owner)
        if isinstance(node, _Cat):
            for item in reversed(node.items):
                nxt = self._compile(item, nxt, owner)
            return nxt
        if isinstance(node, _Alt):
            starts = [self._compile(item, nxt, owner) for item in node.items]
            start = starts[-1]
            for other in reversed(starts[:-1]):
                split = self._add(_Op.SPLIT, "", other, owner)
                self._out2[split] = start
                start = split
            return start
        if node.kind == "?":
            split = self._add(_Op.SPLIT, "", self._compile(node.item, nxt, owner), owner)
            self._out2[split] = nxt
            return split
        split = self._add(_Op.SPLIT, "", -1, owner)  # "*" and "+": the loop back
        self._out2[split] = nxt
        body = self._compile(node.item, split, owner)
        self._out[split] = body
        return split if node.kind == "*" else body

    def _closure(self, starts: Iterable[int], *, at_start: bool) -> frozenset[int]:
        """The states reachable without reading: characters to read, ``$`` checks and matches."""
        kernel: set[int] = set()
        seen: set[int] = set()
        pending = list(starts)
        ops, out, out2 = self._op, self._out, self._out2
        while pending:
            i = pending.pop()
            if i in seen:
                continue
            seen.add(i)
            op = ops[i]
            if op is _Op.SPLIT:
                pending += (out[i], out2[i])
            elif op is _Op.BEGIN:
                if at_start:
                    pending.append(out[i])
            else:
                kernel.add(i)
        self.steps += len(seen)
        return frozenset(kernel)

    def _accepts_after_end(self, end: int) -> int:
        """The rules that match when the text ends at an ``$`` state."""
        cached = self._end_accepts.get(end)
        if cached is None:
            cached, seen, pending = 0, set(), [self._out[end]]
            while pending:
                i = pending.pop()
                if i in seen:
                    continue
                seen.add(i)
                op = self._op[i]
                if op is _Op.SPLIT:
                    pending += (self._out[i], self._out2[i])
                elif op is _Op.END:
                    pending.append(self._out[i])
                elif op is _Op.MATCH:
                    cached |= 1 << self._owner[i]
            self._end_accepts[end] = cached
        return cached

    def _state(self, kernel: frozenset[int]) -> MatcherState:
        found = self._table.get(kernel)
        if found is not None:
            return found
        if self.steps > MAX_STEPS:
            raise SpecError(
                f"{self.source}: matching its patterns against the folder's paths takes more"
                f" than {MAX_STEPS:,} steps, so polymagic stops: use fewer or simpler patterns"
                " (long runs of `*` and `**`), or leave large folders out near the top"
            )
        if self._cached > _CACHE_LIMIT:
            for state in self._table.values():
                state.moves.clear()
            self._table.clear()
            self._cached = 0
        accepts = 0
        for i in kernel & self._final:
            if self._op[i] is _Op.END:
                accepts |= self._accepts_after_end(i)
            else:
                accepts |= 1 << self._owner[i]
        state = MatcherState(kernel, kernel & self._reading, accepts)
        self._table[kernel] = state
        self._cached += len(kernel) + 1
        return state

    def _groups_for(self, char: str) -> list[frozenset[int]]:
        """The groups of reading states that accept ``char``."""
        groups = [ids for pred, ids in self._sets if char in pred]
        if char in self._literal:
            groups.append(self._literal[char])
        self.steps += len(self._sets)
        self._groups[char] = groups
        return groups

    def _move(self, state: MatcherState, char: str) -> MatcherState:
        groups = self._groups.get(char)
        if groups is None:
            groups = self._groups_for(char)
        chars = state.chars
        # Each step below is charged what it costs (an intersection walks the smaller set, a
        # union every member of its inputs), before the next one runs.
        self.steps += sum(min(len(chars), len(ids)) for ids in groups)
        survivors = frozenset().union(*[chars & ids for ids in groups])
        successors = self._successors
        for i in survivors:
            if i not in successors:
                successors[i] = self._closure([self._out[i]], at_start=False)
        # Set operations in C: this runs once per new (state, character) pair.
        parts = list(map(successors.__getitem__, survivors))
        self.steps += len(survivors) + sum(map(len, parts))
        kernel = frozenset().union(*parts)
        self.steps += 3 * len(kernel)  # hashing it, and the two intersections of _state
        nxt = self._state(kernel)
        state.moves[char] = nxt
        return nxt

    # -- reading paths

    def step(self, state: MatcherState, text: str) -> MatcherState:
        """The state after reading ``text`` from ``state``."""
        for char in text:
            nxt = state.moves.get(char)
            state = nxt if nxt is not None else self._move(state, char)
        return state

    def exceptions_possible(self, state: MatcherState) -> bool:
        """Whether some ``!`` rule may still match a path that continues from ``state``."""
        if state._exceptions is None:
            state._exceptions = not state.kernel.isdisjoint(self._exception_states)
        return state._exceptions

    def excluded(self, mask: int) -> bool:
        """Docker's verdict for a path the rules in ``mask`` match (it or a parent): the last
        matching rule wins, and a path no rule matches is kept."""
        return mask != 0 and not self._exclusion[mask.bit_length() - 1]

    def mask(self, path: str) -> int:
        """The rules that match the clean relative ``path`` or one of its parent folders."""
        state, mask = self.start, 0
        parts = path.split("/")
        for index, part in enumerate(parts):
            state = self.step(state, part)
            if index < len(parts) - 1:
                mask |= state.accepts
                state = self.step(state, "/")
        return mask | state.accepts


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


def _glob_node(segment: str) -> _Node:
    """Go's ``filepath.Match`` pattern for one path segment, as a syntax tree."""
    items: list[_Node] = []
    pos = 0
    while pos < len(segment):
        char = segment[pos]
        pos += 1
        if char == "*":
            items.append(_Repeat(_Lit(_NOT_SLASH), "*"))
        elif char == "?":
            items.append(_Lit(_NOT_SLASH))
        elif char == "\\":
            items.append(_Lit(segment[pos]))
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
            items.append(_Lit(_CharSet(ranges, negated=negated)))
        else:
            items.append(_Lit(char))
    return _Cat((*items, _Assert(_Op.END)))


def glob_segment(segment: str) -> PathMatcher:
    """A matcher for the names one COPY wildcard segment (``*.txt``, ``data?``) matches, as
    Go's ``filepath.Match``: ``matcher.step(matcher.start, name).accepts`` is true for a match.
    Raises ValueError for a malformed wildcard."""
    problem = _glob_problem(segment)
    if problem:
        raise _PatternError(problem)
    return PathMatcher([Rule(segment, False, "COPY", _glob_node(segment))], source="COPY")
