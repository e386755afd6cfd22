"""What a build is run with and what it gives back: ``BuildOptions``, ``BuildResult``,
``BuildStatus``.

Plain values, kept apart from the code that talks to a cluster so that the notebook and the CLI can
describe a build (a dry run, a form, a status list) without importing the Kubernetes client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from polymagic.render.build_objects import DEFAULT_TIMEOUT, KanikoOptions
from polymagic.render.kaniko_log import BuildStep, format_size

__all__ = ["BuildOptions", "BuildResult", "BuildStatus"]


@dataclass(frozen=True)
class BuildOptions:
    """How a build is run and watched. Times are in seconds."""

    namespace: str | None = None
    executor_image: str | None = None
    keep: bool = False
    """Leave the pod and ConfigMap on the cluster afterwards (for debugging)."""
    timeout: float = DEFAULT_TIMEOUT
    """Overall deadline, from submission to the result; also the pod's ``activeDeadlineSeconds``,
    so a build whose client died stops on its own."""
    start_timeout: float = 600.0
    """Deadline for the pod to start running (slow clusters pull and schedule slowly)."""
    stuck_grace: float = 30.0
    """How long a pod may sit in a state that does not fix itself (ImagePullBackOff,
    FailedMount, Unschedulable) before the build fails."""
    log_idle_timeout: float | None = None
    """Fail when the executor prints nothing for this long (None: no such deadline)."""
    log_tail: int = 200
    watch_timeout: int = 5
    """Server-side timeout of each watch request; bounds how late a deadline is noticed."""
    kaniko: KanikoOptions = field(default_factory=KanikoOptions)
    """Executor options: build args, target, tags, insecure registries, resources, ..."""
    force: bool = False
    """Build even when the registry already holds an image built from this spec."""
    context_dir: Path | None = None
    """The folder ``COPY`` sources are taken from (None: the build copies no local files)."""
    allowed_pod_fields: tuple[str, ...] = ()
    """Widening pod fields the operation may set (``--allow-pod-field``; see
    :mod:`polymagic.render.pod_fields`); any other is refused before submission."""


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
