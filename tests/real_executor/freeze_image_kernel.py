"""The kernel of the frozen-image test: a throwaway venv whose user packages came from the tests'
package index, and the wheels that index must also serve for the image to install them.

- the notebook tooling (ipykernel and polymagic, editable from this checkout) is installed as
  ``tests/freeze/kernel_venv.py`` installs it, with the machine's pip configuration;
- the user's packages (:data:`USER_PACKAGES`, pure wheels ``.ci/python-base.sh`` fetched) are
  installed from the tests' own index (:class:`~tests.real_executor.package_index.PackageIndex`),
  with every other pip configuration switched off, so nothing else can answer for them;
- the user's code also imports two packages the tooling brought (``typing_extensions``,
  ``PyYAML``): their wheels, of exactly the versions the venv has, are fetched once with
  ``pip download`` into the cache, so that the index can serve them to the image too.

Built once and cached under ``${POLYMAGIC_CACHE:-~/.cache/polymagic}/freeze-image/<key>`` (the key
covers this recipe, the checkout's path, ``pyproject.toml`` and the Python version); a lock file
serialises concurrent builders.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.freeze.kernel_venv import REPO, _locked, _run
from tests.real_executor.package_index import PackageIndex

__all__ = ["SHARED_WITH_TOOLING", "USER_PACKAGES", "ImageKernel", "ensure_image_kernel"]

RECIPE = "freeze-image-v1"
USER_PACKAGES = ("six==1.16.0", "toolz==0.12.1", "more-itertools==10.5.0", "pyparsing==3.1.4")
"""Installed from the tests' index (wheels of ``.ci/python-base.sh``)."""
SHARED_WITH_TOOLING = ("typing_extensions", "PyYAML")
"""Imported by the user's code and required by the tooling (pydantic, polymagic) too."""


@dataclass(frozen=True)
class ImageKernel:
    root: Path
    python: Path
    wheels: Path
    """The wheels of :data:`SHARED_WITH_TOOLING`, at the venv's versions."""

    def shared_versions(self) -> dict[str, str]:
        """The venv's version of each of :data:`SHARED_WITH_TOOLING`."""
        versions: dict[str, str] = json.loads((self.root / "ready.json").read_text())["versions"]
        return versions


def _cache_root() -> Path:
    base = os.environ.get("POLYMAGIC_CACHE") or str(Path.home() / ".cache" / "polymagic")
    return Path(base) / "freeze-image"


def _key() -> str:
    digest = hashlib.sha256()
    for part in (RECIPE, str(REPO), sys.version, (REPO / "pyproject.toml").read_text(),
                 *USER_PACKAGES):  # fmt: skip
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def _versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    code = (
        "import json, sys; from importlib import metadata; "
        "print(json.dumps({n: metadata.version(n) for n in sys.argv[1:]}))"
    )
    found: dict[str, str] = json.loads(_run([str(python), "-c", code, *names]))
    return found


def ensure_image_kernel(index: PackageIndex) -> ImageKernel:
    """The cached venv, built first when missing (its user packages from ``index``)."""
    root = _cache_root() / _key()
    with _locked(_cache_root() / f"{root.name}.lock"):
        kernel = ImageKernel(root, root / "venv/bin/python", root / "wheels")
        if (root / "ready.json").is_file():
            return kernel
        if root.exists():
            _run(["rm", "-rf", str(root)])
        root.mkdir(parents=True)
        _run([sys.executable, "-m", "venv", str(root / "venv")])
        pip = [str(kernel.python), "-m", "pip", "install", "--quiet"]
        _run([*pip, "ipykernel", "-e", str(REPO)])
        # Only the tests' index may answer: no pip.conf, no PIP_* variables, no find-links.
        isolated = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        isolated["PIP_CONFIG_FILE"] = os.devnull
        done = subprocess.run(
            [*pip, "--index-url", index.url_with_token, "--trusted-host", "127.0.0.1",
             "--no-deps", *USER_PACKAGES],
            env=isolated, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pip install from the tests' index failed:\n{done.stderr[-3000:]}")
        versions = _versions(kernel.python, SHARED_WITH_TOOLING)
        _run(
            [str(kernel.python), "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", str(kernel.wheels),
             *(f"{name}=={version}" for name, version in versions.items())]
        )  # fmt: skip
        (root / "ready.json").write_text(json.dumps({"versions": versions}))
        return kernel
