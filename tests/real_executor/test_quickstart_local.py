"""``./.ci/quickstart --local``: a real build of the quick start without a cluster, whose digest
a registry started afterwards on the same storage confirms, and which leaves no process behind,
also when interrupted with Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.runc_runtime import ExecutorImage
from tests.real_executor.local_stack import DESTINATION
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryMode, RegistryServer

pytestmark = [pytest.mark.real_executor, pytest.mark.registry, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / ".ci" / "quickstart"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("POLYMAGIC_", "KUBECONFIG"))}


def _processes_mentioning(path: Path) -> list[str]:
    """Command lines of live processes that name ``path`` (what the stack started there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(path).encode() in arg for arg in argv):
            found.append(b" ".join(argv).decode(errors="replace")[:200])
    return found


def _wait_gone(path: Path, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _processes_mentioning(path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_quickstart_local_prints_a_digest_the_registry_confirms(
    executor_image: ExecutorImage, tmp_path: Path
) -> None:
    workdir = tmp_path / "stack"
    done = subprocess.run(
        ["bash", str(QUICKSTART), "--local", "--workdir", str(workdir)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    last = done.stdout.strip().splitlines()[-1]
    found = re.fullmatch(rf"127\.0\.0\.1:\d+/{DESTINATION}@(sha256:[0-9a-f]{{64}})", last)
    assert found, done.stdout
    assert "it matches the digest polymagic reported" in done.stderr
    assert "polymagic: [6/6] RUN pip3 install --no-cache-dir -U polyaxon" in done.stderr
    assert "polymagic: image size: " in done.stderr
    assert _wait_gone(workdir, 10) == []
    # What the registry holds, asked again of a registry started on the same storage.
    registry = RegistryServer(workdir / "registry", RegistryMode.HTTP).start()
    try:
        assert RegistryView(registry).digest(DESTINATION, "latest") == found.group(1)
        # The image carries where it came from, and `polymagic inspect` verifies it.
        image = f"{registry.host}/{DESTINATION}:latest"
        argv = [sys.executable, "-m", "polymagic", "inspect", image, "--insecure", "-o", "json"]
        inspected = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    finally:
        registry.stop()
    assert inspected.returncode == 0, inspected.stderr
    shown = json.loads(inspected.stdout)
    annotations = shown["annotations"]
    assert annotations["org.opencontainers.image.base.digest"].startswith("sha256:")
    assert "io.polymagic.spec-hash" in annotations
    assert shown["sbom"]["subjectIsThisImage"] is True
    assert shown["sbom"]["components"] >= 1  # the base image, at least
    assert shown["provenance"]["subjectIsThisImage"] is True
    assert "its subject is this image" in done.stderr


def test_quickstart_local_stops_everything_on_ctrl_c(
    executor_image: ExecutorImage, tmp_path: Path
) -> None:
    workdir = tmp_path / "stack"
    process = subprocess.Popen(
        ["bash", str(QUICKSTART), "--local", "--workdir", str(workdir)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: Ctrl-C reaches all of it, as in a terminal
    )
    assert process.stderr is not None
    seen = []
    try:
        for line in process.stderr:
            seen.append(line)
            if "with `polymagic build`" in line:  # the stack is up; the build is starting
                break
        os.killpg(process.pid, signal.SIGINT)
        _, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, "".join(seen) + rest
    assert "interrupted: everything started here was stopped" in rest
    assert _wait_gone(workdir, 10) == []
