"""The bounds of packing a build context and what it leaves out by default: how many names
a pack looks at (``MAX_ENTRIES``) and how deep (``MAX_DEPTH``), the archive's size limit, and the
files that may hold secrets (``SECRET_PATTERNS``), left out as if they opened the
``.dockerignore``. Pure data."""

from __future__ import annotations

from polymagic.render.dockerignore import compile_rule
from polymagic.render.kube_names import CONFIGMAP_LIMIT

__all__ = [
    "DEFLATE_RATIO",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "SECRET_PATTERNS",
    "SECRET_RULES",
    "SHOWN",
    "default_archive_limit",
]

MAX_ENTRIES = 100_000
"""The most files and folders a pack looks at (excluded ones included) before it stops."""
MAX_DEPTH = 100
"""The deepest path a pack follows, in folders."""
DEFLATE_RATIO = 1032
"""Deflate's largest compression ratio: an archive of N bytes never compresses below N/1032."""
SHOWN = 10
"""How many left-out files a warning names before "and K more"."""


# -- files left out by default -------------------------------------------------------------

SECRET_PATTERNS: tuple[str, ...] = (
    "**/.git",
    "**/.env*",
    "**/.ssh",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/id_rsa*",
    "**/id_ed25519*",
    "**/id_ecdsa*",
    "**/id_dsa*",
    "**/.docker/config.json",
    "**/.kube",
    "**/.aws",
    "**/.config/gcloud",
    "**/credentials.db",
    "**/credentials.json",
    "**/service-account.json",
    "**/.git-credentials",
    "**/.vault-token",
    "**/*.tfstate",
    "**/*.tfstate.backup",
    "**/.*_history",
    "**/.netrc",
    "**/.npmrc",
    "**/.pypirc",
)
"""Left out of every archive, as if they opened the ``.dockerignore``: a ``!`` line there
brings one back. A ConfigMap is readable by far more people than a Secret."""

SECRET_RULES = tuple(compile_rule(p, source="polymagic's defaults") for p in SECRET_PATTERNS)


def default_archive_limit() -> int:
    """The largest archive a ConfigMap's ``binaryData`` holds: base64 makes 3 bytes into 4."""

    return CONFIGMAP_LIMIT // 4 * 3
