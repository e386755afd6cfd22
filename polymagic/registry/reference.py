"""Image references (``[host[:port]/]path[:tag][@sha256:digest]``) read as Kaniko and Docker read them.

Kaniko (go-containerregistry) and Docker (distribution/reference) agree on most forms; the few
they read differently are refused with a message saying how to write them unambiguously. Pure:
no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from polymagic.errors import SpecError

__all__ = ["DOCKER_HUB_HOST", "DOCKER_HUB_NAMES", "ImageReference", "short_reference"]

DOCKER_HUB_HOST = "registry-1.docker.io"
"""Where Docker Hub's registry API is served (``docker.io`` is only its name)."""

DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
"""The names of Docker Hub's registry: one registry for references and docker configs."""

# distribution/reference's grammar, intersected with go-containerregistry's checks (tags at most
# 127 characters, repositories at least 2, digests sha256 only) so both tools accept what we accept.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?", re.ASCII
)
_TAG = re.compile(r"[\w][\w.-]{0,126}", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference: where the registry is, which repository, which tag or digest."""

    host: str
    """The registry to contact (``registry-1.docker.io`` for Docker Hub), with its port if any."""
    repository: str
    """The repository path (``library/ubuntu`` for Docker Hub's single-component names)."""
    tag: str | None = None
    """The tag; ``latest`` when the reference names neither a tag nor a digest."""
    digest: str | None = None
    """The digest (``sha256:...``), which wins over the tag when both are given."""

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Read ``[host[:port]/]path[:tag][@sha256:digest]`` as Kaniko and Docker read it."""
        return _parse_reference(text)

    @property
    def name(self) -> str:
        """``host/repository``."""
        return f"{self.host}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What is asked of the registry: the digest if there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def is_docker_hub(self) -> bool:
        """True for references to Docker Hub."""
        return self.host in DOCKER_HUB_NAMES

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def short_reference(ref: ImageReference) -> str:
    """``repository:tag`` or ``repository@digest``: what was asked, without the host."""
    return f"{ref.repository}@{ref.digest}" if ref.digest else f"{ref.repository}:{ref.tag}"


def _invalid(text: str, why: str) -> SpecError:
    return SpecError(f"`{text}` is not a valid image reference: {why}")


def _parse_reference(text: str) -> ImageReference:
    if not isinstance(text, str) or not text:
        raise SpecError("an image reference is required")
    if "://" in text:
        raise _invalid(text, "write it without a scheme (`registry.example.com/org/app:tag`)")
    if any(char.isspace() for char in text):
        raise _invalid(text, "it contains whitespace")
    rest, digest = text, None
    if "@" in text:
        rest, _, digest = text.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise _invalid(text, "the digest must be `sha256:` and 64 lowercase hex digits")
    tag = None
    colon = rest.rfind(":")
    if colon != -1 and "/" not in rest[colon + 1 :]:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _invalid(
                text,
                "a tag is 1 to 127 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            )
    domain, path = _split_domain(text, rest)
    if not _PATH.fullmatch(path):
        why = (
            "the repository must be lowercase"
            if path.lower() != path
            else "the repository is lowercase words separated by `/`, joined by `.`, `_`, `__` or `-`"
        )
        raise _invalid(text, why)
    written = f"{domain}/{path}" if domain else path
    if len(written) > 255:
        raise _invalid(text, "the name is longer than 255 characters")
    if len(path) < 2:
        raise _invalid(text, "the repository must be at least 2 characters (Kaniko's rule)")
    host = domain or "docker.io"
    if host in ("docker.io", "index.docker.io"):
        host = DOCKER_HUB_HOST
        if "/" not in path:
            path = f"library/{path}"
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(host=host, repository=path, tag=tag, digest=digest)


def _split_domain(text: str, name: str) -> tuple[str | None, str]:
    """Split ``name`` into (registry domain or None for Docker Hub, repository path)."""
    first, slash, remainder = name.partition("/")
    if not slash:
        return None, name
    if "." in first or ":" in first:
        if not _DOMAIN.fullmatch(first):
            raise _invalid(text, f"`{first}` is not a valid registry host[:port]")
        return first, remainder
    if first == "localhost":
        # Docker reads `localhost/app` as registry `localhost`; Kaniko as Docker Hub's `localhost/app`.
        raise _invalid(
            text,
            "Docker and Kaniko read `localhost/...` differently: add the port"
            " (`localhost:5000/...`) or write `docker.io/localhost/...`",
        )
    if first.lower() != first:
        raise _invalid(text, "the repository must be lowercase")
    return None, name
