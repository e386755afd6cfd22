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
   could read differently from what it says ("Trojan Source");
4. invalid UTF-8 (and lone surrogates) become U+FFFD.

Pure: no I/O, never raises for any ``str`` or ``bytes``.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# What needs work at all: C0 but tab, DEL, C1, the bidirectional controls, and surrogates
# (never encodable as UTF-8).
_BIDI_CODES = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_BIDI = "".join(map(chr, _BIDI_CODES))  # none of them is special inside a regex class
_UNSAFE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
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
_RUN_BUT_NEWLINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]+")
_ESCAPES = {
    code: f"\\x{code:02x}" for code in (*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0))
}
_ESCAPES.update(dict.fromkeys(range(0xD800, 0xE000), "\ufffd"))
_ESCAPES.update({code: f"\\u{code:04x}" for code in _BIDI_CODES})


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
    if text.isprintable():  # most RUN output: nothing to do
        return text
    runs = _RUN
    if keep_newlines:
        text = text.replace("\r\n", "\n")
        runs = _RUN_BUT_NEWLINE
    if text.isascii():  # (O(1)): no C1 control, no surrogate
        stripped = _SEQUENCE_ASCII.sub("", text)
        if stripped.isprintable():  # Kaniko's coloured lines: done
            return stripped
    else:
        stripped = _SEQUENCE.sub("", text)
    return runs.sub(_escape, stripped)
