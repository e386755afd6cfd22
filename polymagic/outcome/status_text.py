"""Short texts about builds that every front end words alike: how long a build took, what a
reused build says instead, and what an empty build list says.

Pure: the terminal, the notebook's widget and views and the command line's ``list`` all call
these, so the same build reads the same everywhere.
"""

from __future__ import annotations

__all__ = ["REUSED", "duration_text", "no_builds_text", "reused_text"]

REUSED = "reused — built earlier (no pod)"
"""What a build that found its image in the registry says instead of a duration."""


def duration_text(seconds: float) -> str:
    """``0.3 s`` under a minute (a tenth of a second: a fast build is not ``00:00``), else
    ``MM:SS`` (minutes keep counting past an hour)."""
    seconds = max(0.0, seconds)
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    whole = max(60, int(seconds))  # 59.96 s rounds to a minute: not 00:59
    return f"{whole // 60:02d}:{whole % 60:02d}"


def reused_text(built_at: str = "") -> str:
    """What a reused build says, with when the image was built when that is known."""
    return f"reused — built {built_at} (no pod)" if built_at else REUSED


def no_builds_text(namespace: str | None) -> str:
    """The one line ``list`` prints when there is no build (``namespace`` None: all of them)."""
    where = f"in namespace `{namespace}`" if namespace else "in any namespace"
    return (
        f"no polymagic builds {where}: finished builds are deleted with their pods"
        " unless built with --keep"
    )
