"""What a build gives back: ``BuildResult`` (a pushed image and how it was made) and
``BuildStatus`` (what a build's pod says, for ``status`` and ``list``).

Plain values: the session makes them, the terminal and the notebook show them.
"""

from __future__ import annotations

from dataclasses import dataclass

from polymagic.outcome.events import BuildStep, format_size

__all__ = ["BuildResult", "BuildStatus"]


@dataclass(frozen=True)
class BuildResult:
    """A successful build: the pushed image and how it was made."""

    name: str
    namespace: str
    image: str
    """The pushed reference with its digest: ``registry/repo[:tag]@sha256:...``."""
    digest: str
    tags: tuple[str, ...]
    duration: float
    pod_name: str
    spec_hash: str
    executor_image: str
    log_tail: tuple[str, ...]
    steps: tuple[BuildStep, ...] = ()
    """The steps the executor ran, with their durations and cached marks (none when reused)."""
    size: int | None = None
    """Bytes of the pushed image as its registry stores it (config plus compressed layers, from
    the manifest); None when the registry could not tell, with the reason in ``notes``."""
    notes: tuple[str, ...] = ()
    """What the user should know about this result (why the size is unknown, what was tagged)."""
    reused: bool = False
    """True when the registry already held an image built from this spec: nothing was built."""
    context_sha256: str | None = None
    """SHA-256 of the local build context's archive the build sent (None: it sent none)."""
    executor_digest: str | None = None
    """The digest of the executor image the pod ran, as the kubelet reported it (``imageID``)."""

    def __str__(self) -> str:
        return self.image

    def summary(self, width: int = 60) -> list[str]:
        """What a finished build shows, one line each: its steps BuildKit's way
        (``[2/4] RUN pip install ...  12.3s`` or ``CACHED``), then the pushed image's size
        from its registry, then the notes."""
        lines = [step.describe(width) for step in self.steps]
        if self.size is not None:
            lines.append(
                f"image size: {format_size(self.size)} ({self.size:,} bytes: config and layers,"
                " from the registry's manifest)"
            )
        else:
            lines.append("image size: unknown")
        lines += self.notes
        return lines


@dataclass
class BuildStatus:
    """What a build's pod says about it, for ``status`` and ``list``."""

    name: str
    namespace: str
    phase: str
    detail: str
    created: str
    destinations: tuple[str, ...] = ()
    digest: str | None = None
