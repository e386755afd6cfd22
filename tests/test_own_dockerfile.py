"""A user's own Dockerfile: a `file` init named `Dockerfile` when there is no dockerfile init
(what Polyaxon writes into the context, where Kaniko looks by default)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.errors import SpecError
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests

OWN = (
    "FROM python:3.11 AS build\nRUN echo hi > /x\nFROM python:3.11-slim\nCOPY --from=build /x /x\n"
)


def _op(*inits: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "kind": "operation",
        "name": "own",
        "params": {"destination": {"value": "org/app", "connection": "docker-connection"}},
        "runPatch": {"init": list(inits)},
        "hubRef": "kaniko",
    }


def test_a_file_init_named_dockerfile_is_the_build_dockerfile() -> None:
    build = compile_operation(_op({"file": {"filename": "Dockerfile", "content": OWN}}))
    assert [(d.filename, d.text, d.init_index) for d in build.dockerfiles] == [
        ("Dockerfile", OWN, 0)
    ]
    manifests = build_manifests(build)
    assert manifests.config_map["data"] == {"Dockerfile": OWN}
    items = manifests.pod["spec"]["volumes"][0]["configMap"]["items"]
    assert items == [{"key": "Dockerfile", "path": "Dockerfile"}]
    assert manifests.steps == tuple(line for line in OWN.splitlines())
    other = build_manifests(
        compile_operation(_op({"file": {"filename": "Dockerfile", "content": OWN + "RUN x\n"}}))
    )
    assert other.spec_hash != manifests.spec_hash


def test_other_files_stay_files_beside_it() -> None:
    build = compile_operation(
        _op(
            {"file": {"filename": "requirements.txt", "content": "numpy\n"}},
            {"file": {"filename": "Dockerfile", "content": OWN}},
        )
    )
    assert [d.init_index for d in build.dockerfiles] == [1]
    data = build_manifests(build).config_map["data"]
    assert data == {"Dockerfile": OWN, "requirements.txt": "numpy\n"}


def test_a_dockerfile_init_still_wins_and_a_clash_is_still_an_error() -> None:
    dockerfile_init = {"dockerfile": {"image": "python:3.11"}}
    build = compile_operation(
        _op(dockerfile_init, {"file": {"filename": "notes.txt", "content": "x"}})
    )
    assert build.dockerfiles[0].text.startswith("\nFROM python:3.11")
    clash = compile_operation(
        _op(dockerfile_init, {"file": {"filename": "Dockerfile", "content": OWN}})
    )
    with pytest.raises(SpecError, match="two init entries write"):
        build_manifests(clash)


def test_no_dockerfile_at_all_says_both_ways_to_give_one() -> None:
    build = compile_operation(_op({"file": {"filename": "build.sh", "content": "echo"}}))
    with pytest.raises(SpecError, match="or a `file` init named `Dockerfile`"):
        build_manifests(build)


def test_render_prints_the_own_dockerfile(tmp_path: Path) -> None:
    path = tmp_path / "op.yaml"
    path.write_text(yaml.safe_dump(_op({"file": {"filename": "Dockerfile", "content": OWN}})))
    done = subprocess.run(
        [sys.executable, "-m", "polymagic", "render", str(path), "--only", "dockerfile"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == OWN
