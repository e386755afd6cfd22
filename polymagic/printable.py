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
3. invalid UTF-8 (and lone surrogates) become U+FFFD.

Pure: no I/O, never raises for any ``str`` or ``bytes``.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# What needs work at all: C0 but tab, DEL, C1, and surrogates (never encodable as UTF-8).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_SEQUENCE = re.compile(
    # CSI: parameter bytes, intermediate bytes, a final byte (missing: cut where it stops).
    "(?:\x1b\\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    # OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \\ or 0x9c), else to the line's end.
    "|(?:\x1b[\\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\\\|\x9c)?"
    # The other escapes: ESC, intermediate bytes, one final byte (ESC c, ESC 7, ESC ( B).
    "|\x1b[\x20-\x2f]*[\x30-\x7e]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"
    return f"\\x{ord(char):02x}"


def printable(text: str | bytes, *, keep_newlines: bool = False) -> str:
    """``text`` with no terminal control left: sequences removed, other controls but tab
    escaped as ``\\xNN``, invalid UTF-8 replaced. With ``keep_newlines``, line breaks
    (``\\n``, ``\\r\\n``) stay and each line is cleaned on its own."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if _UNSAFE.search(text) is None:  # most lines: nothing to do
        return text
    if keep_newlines:
        return "\n".join(_clean(line) for line in text.replace("\r\n", "\n").split("\n"))
    return _clean(text)


def _clean(line: str) -> str:
    stripped = _SEQUENCE.sub("", line)
    if _UNSAFE.search(stripped) is None:
        return stripped
    return _UNSAFE.sub(_escape, stripped)
