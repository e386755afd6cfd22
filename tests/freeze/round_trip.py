"""A frozen operation's image, stood in for without a cluster: a fresh venv of the same Python.

``pip install -r`` the written requirements (as the Dockerfile's RUN line does, from the same
package index the kernel's venv was installed from), copy what the operation's ``copy:`` entries
name from the build context into a work folder (``/code`` in the image), and run the user's code
there with that venv's Python. Whatever the freeze missed fails here as it would in the image.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

WORKDIR = "/code"


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def stand_in_image(operation: str, context: Path, image: Path) -> Path:
    """Install the operation's requirements into a fresh venv at ``image``; returns the work
    folder holding the copied context."""
    body = yaml.safe_load(operation)["runPatch"]["init"][0]["dockerfile"]
    subprocess.run([sys.executable, "-m", "venv", str(image)], check=True, timeout=300)
    code = image / "code"
    code.mkdir()
    for entry in body["postRunCopy"]:
        source, target = (entry, WORKDIR) if isinstance(entry, str) else entry
        destination = code / Path(target).relative_to(WORKDIR)
        if isinstance(entry, str):
            destination = destination / Path(source).name
        _copy(context / source, destination)
    # The last RUN installs the bind-mounted requirements file (any before it, the compiled
    # pins, which the file names too).
    run = body["run"][-1]
    mount = re.search(r"--mount=type=bind,source=(\S+?),target=(\S+) pip install -r (\S+)$", run)
    assert mount is not None, run
    assert mount[2] == mount[3], run
    requirements = str(context / mount[1])
    installed = subprocess.run(
        [str(image / "bin/python"), "-m", "pip", "install", "--quiet", "-r", requirements],
        cwd=code,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return code


def run_in_image(image: Path, code: str) -> Ran:
    """Run ``code`` with the stand-in image's Python, in its work folder."""
    done = subprocess.run(
        [str(image / "bin/python"), "-c", code],
        cwd=image / "code",
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)
