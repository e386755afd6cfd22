"""What a failed build tells the user to do, from the real executor's own error lines
(``tests/fixtures/kaniko-logs/``, captured from Kaniko v1.28.3): runs without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymagic.outcome.kaniko_log import strip_ansi
from polymagic.outcome.pod_reading import executor_fix
from polymagic.render.build_objects import BuildManifests
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED

LOGS = Path(__file__).parent / "fixtures" / "kaniko-logs"


def _last_line(name: str) -> str:
    return strip_ansi((LOGS / name).read_text(errors="replace").splitlines()[-1])


def _manifests(with_secret: bool = True) -> BuildManifests:
    catalog = [dict(REGISTRY[0])]
    if not with_secret:
        catalog[0].pop("secret")
    build = compile_operation(SEED, connections=load_connections(catalog))
    return build_manifests(build, namespace="ml")


def test_unauthorized_names_the_secret_and_how_to_recreate_it() -> None:
    line = _last_line("unauthorized.log")
    assert "UNAUTHORIZED: authentication required" in line
    fix = executor_fix(line, _manifests())
    host = line.split("https://", 1)[1].split("/", 1)[0]
    assert f"`{host}` refused the credentials in secret `docker-conf`" in fix
    assert f"kubectl -n ml create secret docker-registry docker-conf --docker-server={host}" in fix


def test_unauthorized_without_a_secret_says_to_add_one() -> None:
    fix = executor_fix(_last_line("unauthorized.log"), _manifests(with_secret=False))
    assert "the build has none: give the destination's connection a `secret`" in fix


def test_manifest_unknown_names_the_image() -> None:
    line = _last_line("manifest-unknown.log")
    fix = executor_fix(line, _manifests())
    host = line.split("http://", 1)[1].split("/", 1)[0]
    assert fix == (
        f"the image `{host}/base/nothing-here:9` is not in its registry (MANIFEST_UNKNOWN):"
        " check the base image's name and tag (the FROM line)"
    )


@pytest.mark.parametrize("name", ["run-fails-exit-3.log", "killed.log", "success-with-cache.log"])
def test_other_endings_get_no_registry_fix(name: str) -> None:
    assert executor_fix(_last_line(name), _manifests()) == ""
