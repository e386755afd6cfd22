"""What a real build leaves on the image about where it came from: the real executor (v1.28.3)
pushes the manifest with polymagic's annotations and the config with its labels, read back
from Debian's registry; the source is the operation folder's git remote without its
credentials; ``--no-annotations`` leaves them off."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real_executor.helpers import (
    catalog,
    leftovers,
    op_running,
    polymagic_build,
    write_inputs,
)
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]

REMOTE = "https://builder:t0ken-in-url@git.example.com/team/app.git"


def _inspect(image: str, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "polymagic", "inspect", image, "--insecure", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _commit(folder: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": "@1700000000 +0000",
        "GIT_COMMITTER_DATE": "@1700000000 +0000",
    }

    def git(*words: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@e", *words],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return done.stdout.strip()

    git("init", "-q")
    git("remote", "add", "origin", REMOTE)
    git("add", "-A")
    git("commit", "-q", "-m", "the operation")
    return git("rev-parse", "HEAD")


def test_the_pushed_image_carries_its_annotations_and_labels(
    tmp_path: Path, admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    op = op_running(plain_registry, "annotated/app", ["echo annotated"])
    op["name"] = "annotated-app"
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    commit = _commit(tmp_path)
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert done.returncode == 0, done
    view = RegistryView(plain_registry)
    digest = view.digest("annotated/app", "latest")
    assert digest is not None
    image = view.image("annotated/app", digest)
    annotations = image.manifest.get("annotations") or {}
    spec_hash = annotations.get("io.polymagic.spec-hash", "")
    assert annotations == {
        "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
        "org.opencontainers.image.source": "https://git.example.com/team/app.git",
        "org.opencontainers.image.revision": commit,
        "org.opencontainers.image.title": "annotated-app",
        "org.opencontainers.image.base.name": plain_registry.image("base/busybox", "1"),
        "org.opencontainers.image.base.digest": view.digest("base/busybox", "1"),
        "io.polymagic.spec-hash": spec_hash,
    }
    assert len(spec_hash) == 64
    assert f"spec-{spec_hash[:20]}" in view.tags("annotated/app")  # the reuse check's tag
    labels = image.config["config"].get("Labels") or {}
    assert labels["org.opencontainers.image.revision"] == commit
    assert labels["org.opencontainers.image.source"] == "https://git.example.com/team/app.git"
    assert "t0ken" not in done.stdout + done.stderr
    # `polymagic inspect` reads the same back from the registry.
    shown = _inspect(f"{plain_registry.host}/annotated/app:latest", "-o", "json")
    assert shown.returncode == 0, shown
    details = json.loads(shown.stdout)
    assert details["digest"] == digest
    assert details["annotations"] == annotations
    assert details["labels"]["org.opencontainers.image.revision"] == commit
    text = _inspect(f"{plain_registry.host}/annotated/app@{digest}")
    assert re.search(
        rf"^annotation org\.opencontainers\.image\.revision +{commit}$", text.stdout, re.M
    )
    base_line = f"base image: {plain_registry.image('base/busybox', '1')}  → "
    assert f"{base_line}{view.digest('base/busybox', '1')}" in done.stderr
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_no_annotations_leaves_the_image_without_them(
    tmp_path: Path, admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    op = op_running(plain_registry, "plain/app", ["echo plain"])
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    _commit(tmp_path)
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--no-annotations")
    assert done.returncode == 0, done
    view = RegistryView(plain_registry)
    digest = view.digest("plain/app", "latest")
    assert digest is not None
    image = view.image("plain/app", digest)
    assert image.manifest.get("annotations", {}) == {}
    labels = image.config["config"].get("Labels") or {}
    assert not [key for key in labels if key.startswith("org.opencontainers.image.")]


def test_pin_base_builds_from_the_digest_the_plan_showed(
    tmp_path: Path, admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    op = op_running(plain_registry, "pinned/app", ["echo pinned"])
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--pin-base", "--dry-run")
    assert done.returncode == 0, done
    view = RegistryView(plain_registry)
    base_digest = view.digest("base/busybox", "1")
    assert f"FROM {plain_registry.image('base/busybox', '1')}@{base_digest}\n" in done.stdout
    built = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--pin-base")
    assert built.returncode == 0, built
    digest = view.digest("pinned/app", "latest")
    assert digest is not None
    image = view.image("pinned/app", digest)
    assert image.manifest["annotations"]["org.opencontainers.image.base.digest"] == base_digest
    # The executor pulled the base by digest: the image's first layer is the base's.
    base = view.image("base/busybox", base_digest or "")
    assert image.manifest["layers"][0]["digest"] == base.manifest["layers"][0]["digest"]
