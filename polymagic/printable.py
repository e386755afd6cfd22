"""Text from outside made safe to show on a terminal or in a widget.

This module owns the one sanitiser every printer uses for text polymagic did not write itself:
executor log lines, pod events and messages, termination messages, registry answers and error
codes. Any RUN step of a build (or a misbehaving registry) can print bytes that a terminal
obeys: clear the screen (``ESC c``), move the cursor (``ESC 7`` / ``ESC 8``, CSI), switch the
character set (``ESC ( 0``), set the window title or a clipboard (OSC), ring the bell. What the
sanitiser returns contains none of them:

1. whole control sequences are removed: CSI (``ESC [`` or ``0x9b``), OSC / DCS / SOS / PM / APC
   strings up to their terminator (BEL or ST, or the end of the line when unterminated), and
   the two- and three-byte escapes (``ESC c``, ``ESC 7``, ``ESC ( B``, ...);
2. every other C0 / C1 control character (and DEL) except tab is escaped as a visible ``\\xNN``;
3. the bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) are
   escaped as a visible ``\\uNNNN``: they reorder what a terminal or browser shows, so a line
   could read differently from what it says ("Trojan Source"); so are the other characters that
   show nothing or change what is around them (``HIDDEN``): every format character (Unicode
   category Cf: zero-width space and joiners, word joiner, BOM, soft hyphen, the interlinear
   annotation marks U+FFF9-U+FFFB, tag characters U+E0000-U+E007F, ...), the line and paragraph
   separators U+2028 / U+2029, the Hangul fillers and the other default-ignorable code points
   but the variation selectors (emoji and Mongolian need those); letters of every script stay;
4. invalid UTF-8 (and lone surrogates) become U+FFFD.

:func:`visible` is the other half, for *views* of what polymagic made from its user's input (a
Dockerfile, an image reference, a form's preview): it removes nothing, so a Dockerfile reading
``# \\x1b[2KRUN ...`` shows every byte the executor will read, and keeps only tab and newline
as they are. (A literal backslash sequence in the text reads the same as an escape: the lint
rule PM007 names the lines that hold a real one.)

Pure: no I/O, never raises for any ``str`` or ``bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["HIDDEN", "has_hidden", "hidden_characters", "printable", "visible"]

# What needs work at all: C0 but tab, DEL, C1, the bidirectional controls, the other hidden
# characters, and surrogates (never encodable as UTF-8).
_HIDDEN_RANGES = (
    # Format characters (Cf) as of Unicode 15.1, a little wider where a block is reserved for
    # more of them (U+2060-U+206F, U+13430-U+1343F, the tags), and the line/paragraph separators.
    (0x00AD, 0x00AD),  # soft hyphen
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; LRM, RLM
    (0x2028, 0x202E),  # line and paragraph separators; bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0xFEFF, 0xFEFF),  # byte order mark (zero-width no-break space)
    (0xFFF0, 0xFFFB),  # reserved specials, interlinear annotation marks
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE00FF),  # tag characters (and the reserved rest of their block)
    (0xE01F0, 0xE0FFF),  # reserved default-ignorable (not the variation selectors before it)
    # Printable by Python's rules, yet shown as nothing: the Hangul fillers, the combining
    # grapheme joiner and the two Khmer inherent vowels.
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
)
HIDDEN = frozenset(code for low, high in _HIDDEN_RANGES for code in range(low, high + 1))
"""Code points (beyond the C0/C1 controls) that are escaped: the bidirectional controls and
every other character that shows as nothing or changes what is shown around it."""


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(chr(low) if low == high else f"{chr(low)}-{chr(high)}" for low, high in ranges)


_HIDDEN_CLASS = _class(_HIDDEN_RANGES)  # none of them is special inside a regex class
# The hidden characters str.isprintable lets through (the quick test misses them).
_HIDDEN_PRINTABLE = re.compile(
    f"[{_class(tuple(r for r in _HIDDEN_RANGES if chr(r[0]).isprintable()))}]"
)
_UNSAFE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_HIDDEN_CLASS}\ud800-\udfff]")
_CSI_BODY = "[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
_STRING_BODY = "[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\\\|\x9c)?"
_SEQUENCE = re.compile(
    "|".join(
        [
            # CSI: parameter bytes, intermediate bytes, a final byte (missing: cut where it stops).
            "\x1b\\[" + _CSI_BODY,
            "\x9b" + _CSI_BODY,
            # OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \\ or 0x9c), else to the
            # line's end; in 7-bit (ESC ] P X ^ _) and 8-bit (0x9d 0x90 0x98 0x9e 0x9f) forms.
            "\x1b[\\]PX^_]" + _STRING_BODY,
            *(f"{c}{_STRING_BODY}" for c in "\x9d\x90\x98\x9e\x9f"),
            # The other escapes: ESC, intermediate bytes, one final byte (ESC c, ESC 7, ESC ( B).
            "\x1b[\x20-\x2f]*[\x30-\x7e]",
        ]
    )
)
# The same for ASCII text (no C1 possible), as one literal ESC and its continuations: the regex
# engine then jumps from ESC to ESC, as fast as a plain colour-code strip. (In the full pattern
# each alternative starts with one literal character, so it skips ahead too, a little slower.)
_SEQUENCE_ASCII = re.compile(
    f"\x1b(?:\\[{_CSI_BODY}|[\\]PX^_]{_STRING_BODY}|[\x20-\x2f]*[\x30-\x7e])"
)


# Runs of what is escaped (all of _UNSAFE; without \n when line breaks are kept).
_RUN = re.compile(f"{_UNSAFE.pattern}+")
_RUN_BUT_NEWLINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_HIDDEN_CLASS}\ud800-\udfff]+")
_RUN_BUT_NEWLINE_CHAR = re.compile(_RUN_BUT_NEWLINE.pattern[:-1])


def _written(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_ESCAPES = {code: _written(code) for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({code: _written(code) for code in HIDDEN})
# What visible() shows a lone surrogate as (an escape), and what printable() does (U+FFFD).
_VISIBLE_ESCAPES = {**_ESCAPES, **{code: _written(code) for code in range(0xD800, 0xE000)}}
_ESCAPES.update(dict.fromkeys(range(0xD800, 0xE000), "\ufffd"))
del _ESCAPES[0x09], _VISIBLE_ESCAPES[0x09], _VISIBLE_ESCAPES[0x0A]  # tab stays; newline too
_ESCAPES_BUT_NEWLINE = {code: text for code, text in _ESCAPES.items() if code != 0x0A}


def _escape(run: re.Match[str]) -> str:
    # A whole run at once: megabytes of controls cost one call, not one per character.
    return run.group().translate(_ESCAPES)


def printable(text: str | bytes, *, keep_newlines: bool = False) -> str:
    """``text`` with no terminal control left: sequences removed, other controls but tab
    escaped as ``\\xNN``, invalid UTF-8 replaced. With ``keep_newlines``, line breaks
    (``\\n``, ``\\r\\n``) stay: no sequence spans a line break, so each line is cleaned as
    if on its own."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # str.isprintable is a quick first answer (False also for a tab or U+00A0: they go on).
    if text.isprintable() and (text.isascii() or not _HIDDEN_PRINTABLE.search(text)):
        return text  # most RUN output: nothing to do
    runs, table = _RUN, _ESCAPES
    if keep_newlines:
        text = text.replace("\r\n", "\n")
        runs, table = _RUN_BUT_NEWLINE, _ESCAPES_BUT_NEWLINE
    if text.isascii():  # (O(1)): no C1 control, no surrogate
        stripped = _SEQUENCE_ASCII.sub("", text)
        if stripped.isprintable():  # Kaniko's coloured lines: done
            return stripped
    else:
        stripped = _SEQUENCE.sub("", text)
    return _escaped(stripped, runs, _escape, table)


_FEW_RUNS = 4096
"""Runs escaped one call each; past that many, the rest of the text is translated at once."""


def _escaped(
    text: str, runs: re.Pattern[str], escape: Callable[[re.Match[str]], str], table: dict[int, str]
) -> str:
    # One call per run is cheapest when runs are few (most text), but millions of short runs
    # (a control between every two letters) cost seconds: then one translate of the whole text
    # finishes the job (what was escaped already is printable ASCII, which it leaves alone).
    done, count = runs.subn(escape, text, count=_FEW_RUNS)
    return done.translate(table) if count == _FEW_RUNS else done


def _escape_visible(run: re.Match[str]) -> str:
    return run.group().translate(_VISIBLE_ESCAPES)


def visible(text: str) -> str:
    """``text`` with nothing removed and nothing hidden: every control character but tab and
    newline, and every ``HIDDEN`` one, written as its escape (``\\x1b``, ``\\x0d``,
    ``\\u202e``, ``\\U000e0041``). For views of a Dockerfile, an image name, a YAML text."""
    if text.isascii() and text.isprintable():
        return text
    return _escaped(text, _RUN_BUT_NEWLINE, _escape_visible, _VISIBLE_ESCAPES)


def hidden_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` that :func:`visible` escapes, in order of first
    appearance (tab and newline are not among them)."""
    return list(dict.fromkeys(_RUN_BUT_NEWLINE_CHAR.findall(text)))


def has_hidden(text: str) -> bool:
    """Whether :func:`visible` would change ``text``."""
    return _RUN_BUT_NEWLINE_CHAR.search(text) is not None
