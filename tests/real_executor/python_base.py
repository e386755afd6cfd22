"""The real builds' Python base image, made from Debian's packages by ``.ci/python-base.sh``.

This module owns turning the cached root filesystem (``python-base/rootfs.tar``: bookworm's
python3.11 with venv and ensurepip's pip wheel, made by mmdebstrap) into an OCI layout with umoci
(the tarball becomes the image's one layer, verbatim) and pushing it to a test registry with
skopeo, and saying why when it cannot (the reason ``tests.tiers.unavailable`` skips a test with, or
fails it with under CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.registry.server import RegistryServer

__all__ = [
    "PYTHON_REPOSITORY",
    "PYTHON_TAG",
    "PythonBaseUnavailable",
    "cache_dir",
    "make_python_layout",
    "push_python_base",
    "wheels_dir",
]

PYTHON_REPOSITORY = "base/python"
PYTHON_TAG = "3.11"
"""Where the real-executor registries hold the Python base (``base/python:3.11``)."""

LAYOUT_TAG = "python"
ENV_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PythonBaseUnavailable(Exception):
    """The Python base cannot be made here; the message says why and what to run."""


def cache_dir() -> Path:
    """Where ``.ci/python-base.sh`` leaves the root filesystem and the wheels."""
    root = os.environ.get("POLYMAGIC_CACHE") or str(Path.home() / ".cache" / "polymagic")
    return Path(root) / "python-base"


def wheels_dir(directory: Path | None = None) -> Path:
    """The wheels the private index serves; :class:`PythonBaseUnavailable` when absent."""
    wheels = (directory or cache_dir()) / "wheels"
    if not (wheels / "COMPLETE").is_file():
        raise PythonBaseUnavailable(_why(directory or cache_dir(), f"no wheels in {wheels}"))
    return wheels


def _why(directory: Path, default: str) -> str:
    reason = directory / "UNAVAILABLE"
    said = reason.read_text().strip() if reason.is_file() else default
    return f"the Python base image is not available: {said} (run .ci/python-base.sh)"


def _run(*argv: str, timeout: float = 300) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


def make_python_layout(workdir: Path, directory: Path | None = None) -> Path:
    """An OCI layout in ``workdir`` holding the image under the tag ``python``; returns its
    path. :class:`PythonBaseUnavailable` when the root filesystem or umoci is missing."""
    directory = directory or cache_dir()
    rootfs = directory / "rootfs.tar"
    if not rootfs.is_file():
        raise PythonBaseUnavailable(_why(directory, f"no {rootfs}"))
    missing = [tool for tool in ("umoci", "skopeo") if shutil.which(tool) is None]
    if missing:
        raise PythonBaseUnavailable(f"{', '.join(missing)} is not installed: run .ci/setup")
    layout = workdir / "layout"
    image = f"{layout}:{LAYOUT_TAG}"
    _run("umoci", "init", "--layout", str(layout))
    _run("umoci", "new", "--image", image)
    _run(
        "umoci",
        "raw",
        "add-layer",
        "--image",
        image,
        "--history.created_by",
        "mmdebstrap (.ci/python-base.sh)",
        str(rootfs),
    )
    _run(
        "umoci",
        "config",
        "--image",
        image,
        "--config.env",
        ENV_PATH,
        "--config.env",
        "LANG=C.UTF-8",
        "--config.cmd",
        "python3",
    )
    return layout


def push_python_base(layout: Path, registry: RegistryServer) -> str:
    """Push the layout's image to ``registry`` as ``base/python:3.11``; returns the reference."""
    reference = registry.image(PYTHON_REPOSITORY, PYTHON_TAG)
    argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
    if registry.needs_credentials:
        argv.append(f"--dest-creds={registry.username}:{registry.password}")
    _run(*argv, f"oci:{layout}:{LAYOUT_TAG}", f"docker://{reference}")
    return reference
