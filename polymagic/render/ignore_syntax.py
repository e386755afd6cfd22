"""The expressions ``.dockerignore`` patterns become: character sets, a small syntax tree, and
the part of Go's ``regexp/syntax`` parser that moby's translation of a pattern can produce.

``polymagic.render.dockerignore`` translates patterns as moby does and parses the result here;
``polymagic.render.ignore_automaton`` runs the trees. Pure.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "ANYTHING",
    "NOT_SLASH",
    "Alt",
    "Assert",
    "Cat",
    "CharSet",
    "Lit",
    "Node",
    "Op",
    "PatternError",
    "Predicate",
    "RegexParser",
    "Repeat",
    "Rule",
    "literal_nodes",
]


class PatternError(ValueError):
    """A pattern Docker rejects (or that polymagic does not support)."""


# -- character sets ------------------------------------------------------------------------

_MAX_RUNE = 0x10FFFF


class CharSet:
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
        return isinstance(other, CharSet) and self._los == other._los and self._his == other._his

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


NOT_SLASH = CharSet([(ord("/"), ord("/"))], negated=True)
_NOT_NEWLINE = CharSet([(10, 10)], negated=True)  # RE2's ``.``
ANYTHING = CharSet([(0, _MAX_RUNE)])
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

Predicate: TypeAlias = "str | CharSet"
"""What one character step accepts: that character, or a set."""


class Op(enum.IntEnum):
    CHAR = 0
    SPLIT = 1
    BEGIN = 2
    END = 3
    MATCH = 4


@dataclass(frozen=True)
class Lit:
    pred: Predicate


@dataclass(frozen=True)
class Assert:
    op: Op  # BEGIN or END


@dataclass(frozen=True)
class Cat:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    item: Node
    kind: str  # "*", "+" or "?"


Node: TypeAlias = "Lit | Assert | Cat | Alt | Repeat"


def literal_nodes(text: str) -> list[Node]:
    return [Lit(char) for char in text]


_HEX = frozenset("0123456789abcdefABCDEF")
_CLASSES: dict[str, CharSet] = {}
"""Parsed classes by their text between ``[`` and ``]``; cleared past ``_CLASS_CACHE_LIMIT``."""
_CLASS_CACHE_LIMIT = 4096


class RegexParser:
    """Go's ``regexp/syntax`` parser (Perl flags) for the expressions moby's translation makes.

    Escapes, classes (ranges, ``^``, POSIX ``[:name:]`` and Perl ``\\d\\s\\w`` classes),
    ``.``, ``^``, ``$``, groups, ``*``, ``+``, ``?`` and ``|`` are read as RE2 reads them.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> Node:
        node = self._alternation()
        if self.pos < len(self.text):
            raise PatternError("unexpected `)`")
        return node

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _alternation(self) -> Node:
        branches = [self._concatenation()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._concatenation())
        return branches[0] if len(branches) == 1 else Alt(tuple(branches))

    def _concatenation(self) -> Node:
        items: list[Node] = []
        repeated = False
        while self.pos < len(self.text) and self.text[self.pos] not in "|)":
            char = self.text[self.pos]
            if char in "*+?":
                self.pos += 1
                if repeated and char == "?":
                    continue  # a lazy repetition matches the same strings
                if repeated:
                    raise PatternError("invalid nested repetition operator")
                if not items:
                    raise PatternError("missing argument to repetition operator")
                items[-1] = Repeat(items[-1], char)
                repeated = True
                continue
            repeated = False
            items += self._atom()
        return items[0] if len(items) == 1 else Cat(tuple(items))

    def _atom(self) -> list[Node]:
        char = self.text[self.pos]
        self.pos += 1
        if char == "(":
            if self._peek() == "?":
                raise PatternError("unsupported group syntax `(?`")
            inner = self._alternation()
            if self._peek() != ")":
                raise PatternError("missing closing `)`")
            self.pos += 1
            return [inner]
        if char == "[":
            return [Lit(self._cached_class())]
        if char == ".":
            return [Lit(_NOT_NEWLINE)]
        if char == "^":
            return [Assert(Op.BEGIN)]
        if char == "$":
            return [Assert(Op.END)]
        if char == "\\":
            return self._escape_atom()
        return [Lit(char)]

    def _escape_atom(self) -> list[Node]:
        letter = self._peek()
        if letter == "A":
            self.pos += 1
            return [Assert(Op.BEGIN)]
        if letter == "z":
            self.pos += 1
            return [Assert(Op.END)]
        if letter in ("b", "B", "Q", "p", "P"):
            raise PatternError(
                f"`\\{letter}` is a regular-expression escape to Docker, which polymagic does not"
                " support; escape only punctuation"
            )
        if letter == "C":
            raise PatternError("invalid escape sequence `\\C`")
        perl = self._perl_class()
        if perl is not None:
            return [Lit(CharSet(perl))]
        return [Lit(chr(self._escaped_char()))]

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
            raise PatternError("trailing backslash at end of expression")
        char = self.text[self.pos]
        self.pos += 1
        if ord(char) < 0x80 and not char.isalnum():
            return ord(char)
        if char in "01234567":
            nxt = self._peek()
            if char != "0" and not (nxt and nxt in "01234567"):
                raise PatternError(f"invalid escape sequence `\\{char}` (a back-reference)")
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
        raise PatternError(f"invalid escape sequence `\\{char}`")

    def _hex_escape(self) -> int:
        if self._peek() == "{":
            end = self.text.find("}", self.pos)
            digits = self.text[self.pos + 1 : end] if end > 0 else ""
            if not digits or not set(digits) <= _HEX or int(digits, 16) > _MAX_RUNE:
                raise PatternError("invalid escape sequence `\\x{...}`")
            self.pos = end + 1
            return int(digits, 16)
        digits = self.text[self.pos : self.pos + 2]
        if len(digits) < 2 or not set(digits) <= _HEX:
            raise PatternError("invalid escape sequence `\\x`")
        self.pos += 2
        return int(digits, 16)

    def _cached_class(self) -> CharSet:
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

    def _class(self) -> CharSet:
        """Go's ``parseClass``, after the ``[``."""
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while first or self._peek() != "]":
            if self.pos >= len(self.text):
                raise PatternError("missing closing `]`")
            first = False
            text, pos = self.text, self.pos
            if len(text) - pos > 2 and text.startswith("[:", pos):
                end = text.find(":]", pos + 2)
                if end >= 0:
                    name = text[pos + 2 : end]
                    group = _POSIX.get(name.removeprefix("^"))
                    if group is None:
                        raise PatternError(f"invalid character class range `[:{name}:]`")
                    ranges += _complement(group) if name.startswith("^") else group
                    self.pos = end + 2
                    continue
            rest = text[pos : pos + 2]  # what decides the next step; never the whole remainder
            if rest.startswith(("\\p", "\\P")):
                raise PatternError(
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
                    raise PatternError("invalid character class range")
            ranges.append((low, high))
        self.pos += 1  # the ``]``
        return CharSet(ranges, negated=negated)


@dataclass(frozen=True)
class Rule:
    """One compiled pattern: its text (without ``!``), whether it is an exception, where it came
    from (for messages) and its syntax tree."""

    text: str
    exclusion: bool
    source: str
    node: Node
