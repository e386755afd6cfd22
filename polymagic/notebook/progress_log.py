"""The build progress widget's full log: every line in a temporary file, so that memory stays
bounded however long the build prints (the widget keeps only the tail in memory).

The file stays readable after the build (its path is shown) and is deleted by ``delete()``.
Not thread-safe by itself: the widget calls it under its state lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from typing import IO

__all__ = ["LogFile"]


class LogFile:
    """A temporary file that receives every log line of one build."""

    def __init__(self, name: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:40]
        self._file: IO[str] | None = tempfile.NamedTemporaryFile(  # noqa: SIM115  (kept open)
            "w", prefix=f"polymagic-{safe}-", suffix=".log", delete=False, encoding="utf-8"
        )
        self.path = self._file.name
        """Where the lines are (until ``delete()``)."""

    def write(self, line: str) -> None:
        """Append one line (already made printable); ignored once closed."""
        if self._file is not None:
            self._file.write(line + "\n")

    def flush(self) -> None:
        """Make the lines written so far readable from the file."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """No more lines: close the file (it stays on disk)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def delete(self) -> None:
        """Close and delete the file."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
