"""The machine-readable line ``freeze`` writes into its requirements file, naming the
distributions the notebook's code imported, and reading it back for the image's SBOM.

The line is a comment pip ignores, among the file's first lines::

    # polymagic-imported-by-kernel: attrs cattrs

Each name is a canonical distribution name (PEP 503: lowercase letters, digits and ``-``). Read
back, the line counts only when it is well formed, within the size bounds, and every name it
holds is pinned on an active line of the same file (so a stale or hand-edited line cannot claim
what the file does not install); anything else reads as nothing.

Pure: text in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["IMPORTED_PREFIX", "imported_line", "read_imported", "without_imported_line"]

IMPORTED_PREFIX = "# polymagic-imported-by-kernel: "
_CANONICAL = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LEADING_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_HEAD_LINES = 4
"""The line must be among the file's first lines."""
_MAX_NAMES = 5000
_MAX_LINE = 256 * 1024
_MAX_TEXT = 4 * 1024 * 1024
"""A requirements text longer than this is not read at all."""


def imported_line(keys: Iterable[str]) -> str | None:
    """The line naming ``keys`` (canonical names), or None when there are none to name."""
    names = sorted({key for key in keys if _CANONICAL.match(key)})
    return IMPORTED_PREFIX + " ".join(names) if names else None


def _pinned_names(text: str, wanted: frozenset[str]) -> set[str]:
    """Which of ``wanted`` the active lines pin (only lines starting with one are parsed)."""
    found: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        start = _LEADING_NAME.match(line)
        if start is None or len(line) > 4096:
            continue
        if canonicalize_name(start.group(0)) not in wanted:
            continue
        try:
            found.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
        if found >= wanted:
            break
    return found


def read_imported(text: str) -> frozenset[str]:
    """The canonical names a requirements file's line says were imported (and it pins)."""
    if len(text) > _MAX_TEXT:
        return frozenset()
    head = text.split("\n", _HEAD_LINES)[:_HEAD_LINES]
    lines = [line for line in head if line.startswith(IMPORTED_PREFIX)]
    if len(lines) != 1 or len(lines[0]) > _MAX_LINE:
        return frozenset()
    names = lines[0].removeprefix(IMPORTED_PREFIX).rstrip("\r").split(" ")
    if len(names) > _MAX_NAMES or not all(_CANONICAL.match(name) for name in names):
        return frozenset()
    named = frozenset(names)
    return named if named <= _pinned_names(text, named) else frozenset()


def without_imported_line(text: str) -> str:
    """``text`` without the line (what two freezes of the same packages share)."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith(IMPORTED_PREFIX)
    )
