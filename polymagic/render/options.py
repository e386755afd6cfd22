"""What a build is run with: ``BuildOptions``.

A plain value, kept apart from the code that talks to a cluster so that the notebook and the CLI
can describe a build (a dry run, a form) without importing the Kubernetes client. What a build
gives back (``BuildResult``, ``BuildStatus``) is ``polymagic.outcome.result``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from polymagic.render.build_objects import DEFAULT_TIMEOUT, KanikoOptions
from polymagic.setting_schema import default_seconds

__all__ = ["BuildOptions"]


@dataclass(frozen=True)
class BuildOptions:
    """How a build is run and watched. Times are in seconds; the defaults of those that are
    also settings come from ``polymagic.setting_schema``."""

    namespace: str | None = None
    executor_image: str | None = None
    keep: bool = False
    """Leave the pod and ConfigMap on the cluster afterwards (for debugging)."""
    timeout: float = DEFAULT_TIMEOUT
    """Overall deadline, from submission to the result; also the pod's ``activeDeadlineSeconds``,
    so a build whose client died stops on its own."""
    start_timeout: float = default_seconds("start_timeout")
    """Deadline for the pod to start running (slow clusters pull and schedule slowly)."""
    stuck_grace: float = default_seconds("stuck_grace")
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
    attest: bool = True
    """After the push, attach the image's SBOM and the build's provenance (setting ``attest``)."""
    sign_key: str | None = None
    """A cosign key to sign the image and its attestations with (setting ``sign_key``)."""
    built_from: tuple[tuple[str, str], ...] = ()
    """Where the operation came from, for the provenance's external parameters: the notebook
    and the SHA-256 of the cell, when a notebook built it."""
    allowed_pod_fields: tuple[str, ...] = ()
    """Widening pod fields the operation may set (``--allow-pod-field``; see
    :mod:`polymagic.render.pod_fields`); any other is refused before submission."""
