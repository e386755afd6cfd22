"""What every image polymagic builds says about where it came from: OCI annotations on its
manifest (the executor's ``--annotation``, v1.25.3 and later) and the matching labels in its
config (``--label``). Pure: the facts read elsewhere (the source's git state, the base image's
digest) come in as an :class:`ImageProvenance`.

The keys (the OCI image spec's pre-defined annotations, and polymagic's own):

- ``org.opencontainers.image.created``: fixed by the spec, never the wall clock, so that
  building the same spec twice gives the same manifest: the Unix epoch with ``--reproducible``
  (Kaniko then sets every timestamp in the image to it), else the source commit's time when the
  source is a git checkout, else left out;
- ``org.opencontainers.image.source``: the git remote of the folder the build came from (a
  notebook's, an operation file's), with any user and password taken out;
- ``org.opencontainers.image.revision``: its commit, ``-dirty`` when the tree had changes;
- ``org.opencontainers.image.title``: the operation's name;
- ``org.opencontainers.image.base.name`` / ``.base.digest``: the base image (the last stage's
  ``FROM``, followed through stage names) and, when it was resolved, its digest;
- ``io.polymagic.spec-hash``: the spec hash (the reuse check's key).

``created``, ``source``, ``revision`` and ``title`` are also config labels, where
``docker inspect`` and registries' UIs look; the base image keys are manifest-only, as the
spec defines them. A key the user sets with ``--annotation``/``--label`` wins over ours.

These values do not join the spec hash: a new commit that changes nothing the image is made
of still finds (and reuses) the image built before, which then honestly says the commit it was
built from, not the current one. What they add to the pod's arguments does change the pod's
name, as any argument does.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from polymagic.render.executor_flags import executor_version

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild

__all__ = [
    "ANNOTATIONS_SINCE",
    "KEY_BASE_DIGEST",
    "KEY_BASE_NAME",
    "KEY_CREATED",
    "KEY_REVISION",
    "KEY_SOURCE",
    "KEY_SPEC_HASH",
    "KEY_TITLE",
    "ImageProvenance",
    "SourceInfo",
    "base_image_of",
    "clean_remote",
    "image_annotations",
    "pin_base",
    "provenance_arguments",
    "record_annotations",
    "with_provenance",
]

KEY_CREATED = "org.opencontainers.image.created"
KEY_SOURCE = "org.opencontainers.image.source"
KEY_REVISION = "org.opencontainers.image.revision"
KEY_TITLE = "org.opencontainers.image.title"
KEY_BASE_NAME = "org.opencontainers.image.base.name"
KEY_BASE_DIGEST = "org.opencontainers.image.base.digest"
KEY_SPEC_HASH = "io.polymagic.spec-hash"

_LABEL_KEYS = (KEY_CREATED, KEY_SOURCE, KEY_REVISION, KEY_TITLE)
ANNOTATIONS_SINCE = (1, 25, 3)
"""The first executor release with ``--annotation``."""

_EPOCH = "1970-01-01T00:00:00Z"
_MAX_VALUE = 1024  # what KanikoOptions accepts for a user's own label or annotation


@dataclass(frozen=True)
class SourceInfo:
    """The git state of the folder a build came from (read by ``polymagic.app.source_info``)."""

    remote: str | None = None
    """The remote's URL, credentials already removed (:func:`clean_remote`)."""
    revision: str | None = None
    """The commit's full hash."""
    dirty: bool = False
    """The tree had changes the commit does not hold."""
    commit_time: int | None = None
    """The commit's time, in seconds since the epoch (the committer's)."""


@dataclass(frozen=True)
class ImageProvenance:
    """What polymagic says on an image besides what the spec gives (title, base, spec hash)."""

    source: SourceInfo | None = None
    base_digest: str | None = None
    """The base image's digest (``sha256:...``), when it was resolved before the build."""
    annotate: bool = True
    """Put the annotations and labels on the image (False: ``--no-annotations``; the build's
    own record still keeps the base digest)."""


_SCHEME_USER = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@")
_SCP_USER = re.compile(r"^[^/@:]+@(?=[^/:]+:)")


def clean_remote(url: str) -> str | None:
    """A git remote's URL without a user or password (``https://user:token@host/x`` is
    ``https://host/x``; ``git@github.com:org/x`` is ``github.com:org/x``), without a query or
    fragment; None when it is no URL to publish (empty, a local path, not printable)."""
    text = url.strip()
    if not text or len(text) > _MAX_VALUE or not text.isprintable() or " " in text:
        return None
    text = text.split("#", 1)[0].split("?", 1)[0]
    if text.startswith("file:") or text.startswith(("/", ".", "~")):
        return None
    scheme = _SCHEME_USER.match(text)
    if scheme:
        return scheme.group(1) + text[scheme.end() :]
    if "://" in text:
        return text
    if _SCP_USER.match(text):
        return text[_SCP_USER.match(text).end() :]  # type: ignore[union-attr]
    return text if re.match(r"^[^/:]+:", text) else None


def base_image_of(dockerfile: str) -> str | None:
    """The base image of a Dockerfile's last stage: its ``FROM``, followed through the names
    of earlier stages (``FROM build AS final`` is ``build``'s base); None for ``scratch``, a
    ``FROM`` with a build arg in it, or no ``FROM``."""
    from polymagic.render.dockerfile import dockerfile_instructions

    stages: dict[str, str | None] = {}
    last: str | None = None
    for step in dockerfile_instructions(dockerfile):
        words = step.split()
        if not words or words[0].upper() != "FROM":
            continue
        operands = [w for w in words[1:] if not w.startswith("--")]
        if not operands:
            continue
        image = operands[0]
        resolved = stages.get(image.lower(), image) if image.lower() in stages else image
        if resolved is not None and ("$" in resolved or resolved == "scratch"):
            resolved = None
        if len(operands) >= 3 and operands[1].upper() == "AS":
            stages[operands[2].lower()] = resolved
        last = resolved
    return last


def _created(reproducible: bool, source: SourceInfo | None) -> str | None:
    if reproducible:
        return _EPOCH
    if source is not None and source.commit_time is not None:
        when = datetime.datetime.fromtimestamp(source.commit_time, tz=datetime.timezone.utc)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def image_annotations(
    *,
    title: str,
    base_image: str | None,
    spec_hash: str,
    reproducible: bool,
    provenance: ImageProvenance,
) -> dict[str, str]:
    """Every annotation polymagic puts on the image, in a fixed order (unset ones left out)."""
    source = provenance.source
    revision = None
    if source is not None and source.revision:
        revision = source.revision + ("-dirty" if source.dirty else "")
    values = {
        KEY_CREATED: _created(reproducible, source),
        KEY_SOURCE: source.remote if source is not None else None,
        KEY_REVISION: revision,
        KEY_TITLE: title,
        KEY_BASE_NAME: base_image,
        KEY_BASE_DIGEST: provenance.base_digest if base_image else None,
        KEY_SPEC_HASH: spec_hash,
    }
    return {
        key: value
        for key, value in values.items()
        if value and value.isprintable() and len(value) <= _MAX_VALUE
    }


def provenance_arguments(
    *,
    title: str,
    dockerfile: str | None,
    spec_hash: str,
    executor_image: str,
    reproducible: bool,
    provenance: ImageProvenance,
    user_labels: tuple[tuple[str, str], ...] = (),
    user_annotations: tuple[tuple[str, str], ...] = (),
) -> tuple[list[str], list[str]]:
    """The executor arguments that put :func:`image_annotations` on the image, and notes.

    An executor older than v1.25.3 has no ``--annotation``: the labels are still written and
    a note says the annotations were left out (refusing the build would stop every build on
    an older executor for something the user did not ask for)."""
    values = image_annotations(
        title=title,
        base_image=base_image_of(dockerfile) if dockerfile is not None else None,
        spec_hash=spec_hash,
        reproducible=reproducible,
        provenance=provenance,
    )
    taken_labels = {key for key, _ in user_labels}
    taken_annotations = {key for key, _ in user_annotations}
    args = [
        f"--label={key}={value}"
        for key, value in values.items()
        if key in _LABEL_KEYS and key not in taken_labels
    ]
    notes: list[str] = []
    version = executor_version(executor_image)
    if version is not None and version < ANNOTATIONS_SINCE:
        notes.append(
            f"the executor image `{executor_image[:200]}` has no --annotation (it came in"
            " v1.25.3): the image gets polymagic's labels but not its annotations; choose a"
            " newer executor (--executor-image) for them, or pass --no-annotations"
        )
    else:
        args += [
            f"--annotation={key}={value}"
            for key, value in values.items()
            if key not in taken_annotations
        ]
    return args, notes


class _Asked(Protocol):
    """What :func:`with_provenance` reads of the executor options (``KanikoOptions``, which
    imports this module)."""

    @property
    def provenance(self) -> ImageProvenance | None: ...
    @property
    def reproducible(self) -> bool: ...
    @property
    def labels(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def annotations(self) -> tuple[tuple[str, str], ...]: ...


def with_provenance(
    build: CompiledBuild,
    executor_image: str,
    options: _Asked,
    spec_hash: str,
    args: list[str],
    warnings: list[str],
) -> tuple[list[str], list[str]]:
    """``args`` and ``warnings`` with polymagic's annotations (``options.provenance``) added."""
    if options.provenance is None or not options.provenance.annotate:
        return args, warnings
    more, notes = provenance_arguments(
        title=build.name,
        dockerfile=build.dockerfiles[0].text if build.dockerfiles else None,
        spec_hash=spec_hash,
        executor_image=executor_image,
        reproducible=options.reproducible,
        provenance=options.provenance,
        user_labels=options.labels,
        user_annotations=options.annotations,
    )
    return [*args, *(a for a in more if a not in args)], [*warnings, *notes]


def record_annotations(provenance: ImageProvenance | None, prefix: str) -> dict[str, str]:
    """What the build's own objects (the pod and ConfigMap) keep of the base: its digest."""
    if provenance is None or provenance.base_digest is None:
        return {}
    return {f"{prefix}base-digest": provenance.base_digest}


def pin_base(dockerfile: str, image: str, digest: str) -> str:
    """``dockerfile`` with every ``FROM image`` (the tag kept) naming ``image@digest``; the rest
    of the text byte for byte as it was."""
    pinned = f"{image.split('@', 1)[0]}@{digest}"
    pattern = re.compile(
        rf"^([ \t]*FROM[ \t]+(?:--\S+[ \t]+)*){re.escape(image)}(?=[ \t\r]|$)",
        re.IGNORECASE | re.MULTILINE,
    )
    return pattern.sub(lambda found: found.group(1) + pinned, dockerfile)
