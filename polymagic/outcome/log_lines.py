"""The executor's log, from bytes to lines: ``LineSplitter`` turns the bytes as they arrive into
lines, each cut to ``MAX_LINE`` bytes with a marker saying how much was dropped, so no caller
ever holds more of a hostile line than that. Pure.
"""

from __future__ import annotations

__all__ = [
    "CUT_AT",
    "MAX_JSON_LINE",
    "MAX_LINE",
    "LineSplitter",
    "cut_line",
    "size_text",
    "truncation_marker",
]

MAX_LINE = 16 * 1024
"""Bytes of one log line that are kept, queued and shown; the rest is only counted."""
MAX_JSON_LINE = 64 * 1024
"""Longer lines are never handed to ``json.loads``."""
# A line cut by the splitter is MAX_LINE plus its marker: the parser must not cut it again.
_MARKER_ROOM = 64
CUT_AT = MAX_LINE + _MARKER_ROOM


def size_text(count: int) -> str:
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
    return f"… [truncated {size_text(dropped)}]"


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


def cut_line(line: str) -> str:
    """A line given as text, cut like ``LineSplitter`` cuts bytes."""
    if len(line) <= CUT_AT:
        return line
    kept = line[:MAX_LINE]
    dropped = len(line) - MAX_LINE
    if not line.isascii():
        dropped = len(line[MAX_LINE:].encode("utf-8", errors="surrogatepass"))
    return kept + truncation_marker(dropped)
