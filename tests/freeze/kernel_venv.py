"""A throwaway venv for the freeze tests: a kernel with known packages in every shape.

- from the package index: ``attrs==23.2.0``, ``cattrs==23.2.3`` (requires attrs, and
  ``exceptiongroup``/``typing-extensions`` only on Python < 3.11), ``six==1.16.0``;
- ``localpkg``: an editable install of a local folder (requires ``six``);
- ``gitpkg``: installed from a local git repository by commit (requires ``attrs`` always and
  ``six`` only on Python < 3.0, so that marker must be evaluated to leave six out);
- ``hatchpkg``, ``flitpkg``, ``pdmpkg``: editable installs made by hatchling, flit and
  pdm-backend (``.pth`` files, no ``top_level.txt``; pdm's with a ``src`` layout);
- ``protobuf`` and ``googleapis-common-protos``: two distributions sharing the ``google``
  namespace package, and ``jaraco.functools``/``jaraco.classes`` sharing ``jaraco``;
- ``nbclient``: a package of the user's that requires ``jupyter-client`` and ``jupyter-core``;
- ``setuptools`` upgraded to a release that vendors its dependencies with their ``.dist-info``;
- ``ipykernel`` and polymagic (editable, from this checkout): the notebook tooling, which needs
  ``requests`` and ``typing-extensions`` too; ``pip install requests`` afterwards writes no
  ``REQUESTED`` (it was already installed).

Built once and cached under ``${POLYMAGIC_CACHE:-~/.cache/polymagic}/freeze-kernel/<key>``, where
the key covers this recipe, the checkout's path and ``pyproject.toml`` and the Python version; a
lock file serialises concurrent builders.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE = "freeze-kernel-v3"
INDEX_PACKAGES = (
    "attrs==23.2.0",
    "cattrs==23.2.3",
    "six==1.16.0",
    "protobuf==6.33.6",
    "googleapis-common-protos==1.75.5",
    "setuptools==80.9.0",
    "nbclient==0.11.0",
    "jaraco.functools==4.6.0",
    "jaraco.classes==3.4.0",
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "polymagic tests",
    "GIT_AUTHOR_EMAIL": "tests@polymagic.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "polymagic tests",
    "GIT_COMMITTER_EMAIL": "tests@polymagic.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


@dataclass(frozen=True)
class FreezeKernel:
    """Where the venv is and what was installed into it."""

    root: Path
    python: Path
    local_package: Path
    hatch_package: Path
    git_repository: Path
    git_commit: str
    flit_package: Path = Path("/nonexistent/flitpkg")
    pdm_package: Path = Path("/nonexistent/pdmpkg")
    """Last and defaulted: other tests make a ``FreezeKernel`` of their own venv positionally."""


def _cache_root() -> Path:
    base = os.environ.get("POLYMAGIC_CACHE") or str(Path.home() / ".cache" / "polymagic")
    return Path(base) / "freeze-kernel"


def _key() -> str:
    digest = hashlib.sha256()
    for part in (RECIPE, str(REPO), sys.version, (REPO / "pyproject.toml").read_text()):
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


BACKENDS = {
    "hatchling": ('requires = ["hatchling"]', 'build-backend = "hatchling.build"', ""),
    "flit": ('requires = ["flit_core>=3.4"]', 'build-backend = "flit_core.buildapi"', ""),
    "pdm": ('requires = ["pdm-backend"]', 'build-backend = "pdm.backend"', "src"),
}


def _write_backend_package(folder: Path, name: str, backend: str) -> None:
    """A package built by ``backend`` (pdm's in a ``src`` layout), version 0.2.0."""
    requires, build_backend, layout = BACKENDS[backend]
    package = folder / layout / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(f'"""{name}, a test package."""\nVALUE = 2\n')
    (folder / "pyproject.toml").write_text(
        f"[build-system]\n{requires}\n{build_backend}\n\n"
        "[project]\n"
        f'name = "{name}"\n'
        'version = "0.2.0"\n'
        f'description = "{name}, a test package"\n'
    )


def _write_package(folder: Path, name: str, requires: list[str]) -> None:
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "__init__.py").write_text(f'"""{name}, a test package."""\nVALUE = 1\n')
    dependencies = json.dumps(requires)
    (folder / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=68"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "{name}"\n'
        'version = "0.1.0"\n'
        f"dependencies = {dependencies}\n\n"
        "[tool.setuptools]\n"
        f'packages = ["{name}"]\n'
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_freeze_kernel() -> FreezeKernel:
    """The cached venv, built first when missing."""
    root = _cache_root() / _key()
    with _locked(_cache_root() / f"{root.name}.lock"):
        done = root / "ready.json"
        if done.is_file():
            info = json.loads(done.read_text())
            return _kernel(root, info["commit"])
        if root.exists():
            _run(["rm", "-rf", str(root)])
        root.mkdir(parents=True)
        _write_package(root / "localpkg", "localpkg", ["six"])
        for name, backend in (("hatchpkg", "hatchling"), ("flitpkg", "flit"), ("pdmpkg", "pdm")):
            _write_backend_package(root / name, name, backend)
        repository = root / "gitrepo"
        _write_package(repository, "gitpkg", ["attrs", 'six; python_version < "3.0"'])
        _run(["git", "init", "-q", "-b", "main"], cwd=repository)
        _run(["git", "add", "."], cwd=repository)
        _run(["git", "commit", "-q", "-m", "gitpkg"], cwd=repository, env=GIT_ENV)
        commit = _run(["git", "rev-parse", "HEAD"], cwd=repository).strip()
        _run([sys.executable, "-m", "venv", str(root / "venv")])
        pip = [str(root / "venv/bin/python"), "-m", "pip", "install", "--quiet"]
        _run([*pip, "--upgrade", "pip"])
        _run([*pip, "ipykernel", "-e", str(REPO), *INDEX_PACKAGES])
        _run([*pip, "-e", str(root / "localpkg")])
        for name in ("hatchpkg", "flitpkg", "pdmpkg"):
            _run([*pip, "-e", str(root / name)])
        _run([*pip, "requests"])  # already there (polymagic needs it): no REQUESTED is written
        _run([*pip, f"git+file://{repository}@{commit}"])
        done.write_text(json.dumps({"commit": commit}))
        return _kernel(root, commit)


def _kernel(root: Path, commit: str) -> FreezeKernel:
    return FreezeKernel(
        root=root,
        python=root / "venv/bin/python",
        local_package=root / "localpkg",
        hatch_package=root / "hatchpkg",
        flit_package=root / "flitpkg",
        pdm_package=root / "pdmpkg",
        git_repository=root / "gitrepo",
        git_commit=commit,
    )
