"""A throwaway venv for the freeze tests: a kernel with known packages in every shape.

- from the package index: ``attrs==23.2.0``, ``cattrs==23.2.3`` (requires attrs, and
  ``exceptiongroup``/``typing-extensions`` only on Python < 3.11), ``six==1.16.0``;
- ``localpkg``: an editable install of a local folder (requires ``six``);
- ``gitpkg``: installed from a local git repository by commit (requires ``attrs`` always and
  ``six`` only on Python < 3.0, so that marker must be evaluated to leave six out);
- ``ipykernel`` and polymagic (editable, from this checkout): the notebook tooling.

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
RECIPE = "freeze-kernel-v1"
INDEX_PACKAGES = ("attrs==23.2.0", "cattrs==23.2.3", "six==1.16.0")
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
    git_repository: Path
    git_commit: str


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
            return FreezeKernel(
                root, root / "venv/bin/python", root / "localpkg", root / "gitrepo", info["commit"]
            )
        if root.exists():
            _run(["rm", "-rf", str(root)])
        root.mkdir(parents=True)
        _write_package(root / "localpkg", "localpkg", ["six"])
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
        _run([*pip, f"git+file://{repository}@{commit}"])
        done.write_text(json.dumps({"commit": commit}))
        return FreezeKernel(root, root / "venv/bin/python", root / "localpkg", repository, commit)
