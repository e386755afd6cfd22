"""What every image says about where it came from (``polymagic.render.annotations``) and the
git state it is read from (``polymagic.app.source_info``): the keys and values, ``created``
fixed by the spec, credentials taken out of the remote, the user's own keys winning, an
executor without ``--annotation``, ``--no-annotations``, and a git that hangs or floods."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from polymagic.app.arguments import build_options
from polymagic.app.source_info import read_source_info
from polymagic.cli.main import _parser
from polymagic.render.annotations import (
    KEY_BASE_NAME,
    KEY_CREATED,
    KEY_REVISION,
    KEY_SOURCE,
    KEY_SPEC_HASH,
    KEY_TITLE,
    ImageProvenance,
    SourceInfo,
    base_image_of,
    clean_remote,
    image_annotations,
)
from polymagic.render.build_objects import KanikoOptions
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from tests.data import SEED

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _args(kaniko: KanikoOptions, executor: str | None = None) -> tuple[list[str], list[str]]:
    manifests = build_manifests(compile_operation(SEED), kaniko=kaniko, executor_image=executor)
    return list(manifests.pod["spec"]["containers"][0]["args"]), list(manifests.warnings)


def _pairs(args: list[str], flag: str) -> dict[str, str]:
    found = {}
    for arg in args:
        if arg.startswith(f"{flag}="):
            key, _, value = arg[len(flag) + 1 :].partition("=")
            found[key] = value
    return found


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:s3cret@github.com/org/app.git", "https://github.com/org/app.git"),
        ("https://ghp_token@github.com/org/app", "https://github.com/org/app"),
        (
            "ssh://git@gitlab.example.com:2222/org/app.git",
            "ssh://gitlab.example.com:2222/org/app.git",
        ),
        ("git@github.com:org/app.git", "github.com:org/app.git"),
        ("https://github.com/org/app?private_token=abc#x", "https://github.com/org/app"),
        ("https://github.com/org/app", "https://github.com/org/app"),
        ("/home/me/repo", None),
        ("file:///home/me/repo", None),
        ("../repo", None),
        ("https://host/\x1b[2Kapp", None),
        ("", None),
    ],
)
def test_the_remote_is_published_without_credentials(url: str, clean: str | None) -> None:
    assert clean_remote(url) == clean


@pytest.mark.parametrize(
    ("dockerfile", "base"),
    [
        ("FROM python:3.11-slim\nRUN true\n", "python:3.11-slim"),
        ("FROM --platform=linux/amd64 golang:1.22 AS build\nFROM alpine:3.19\n", "alpine:3.19"),
        ("FROM golang:1.22 AS build\nFROM build AS final\nRUN x\n", "golang:1.22"),
        ("FROM golang:1.22 AS build\nFROM scratch\nCOPY --from=build /a /a\n", None),
        ("ARG V=1\nFROM python:${V}\n", None),
        ("RUN true\n", None),
    ],
)
def test_the_base_image_is_the_last_stages_from(dockerfile: str, base: str | None) -> None:
    assert base_image_of(dockerfile) == base


def test_created_is_fixed_by_the_spec_never_the_clock() -> None:
    source = SourceInfo("https://github.com/org/app", COMMIT, False, 1_700_000_000)

    def created(reproducible: bool, given: SourceInfo | None) -> str | None:
        return image_annotations(
            title="t",
            base_image=None,
            spec_hash="h",
            reproducible=reproducible,
            provenance=ImageProvenance(source=given),
        ).get(KEY_CREATED)

    assert created(True, source) == "1970-01-01T00:00:00Z"
    assert created(False, source) == "2023-11-14T22:13:20Z"
    assert created(False, None) is None
    first = created(False, source)
    time.sleep(1.1)
    assert created(False, source) == first


def test_every_key_reaches_the_executor_as_annotations_and_labels() -> None:
    source = SourceInfo("https://github.com/org/app", COMMIT, True, 1_700_000_000)
    kaniko = KanikoOptions(
        provenance=ImageProvenance(source=source, base_digest="sha256:" + "b" * 64)
    )
    args, _ = _args(kaniko)
    manifests = build_manifests(compile_operation(SEED), kaniko=kaniko)
    annotations = _pairs(args, "--annotation")
    assert annotations == {
        KEY_CREATED: "2023-11-14T22:13:20Z",
        KEY_SOURCE: "https://github.com/org/app",
        KEY_REVISION: COMMIT + "-dirty",
        KEY_TITLE: compile_operation(SEED).name,
        KEY_BASE_NAME: "tensorflow/tensorflow:2.0.1-py3",
        "org.opencontainers.image.base.digest": "sha256:" + "b" * 64,
        KEY_SPEC_HASH: manifests.spec_hash,
    }
    labels = _pairs(args, "--label")
    assert set(labels) == {KEY_CREATED, KEY_SOURCE, KEY_REVISION, KEY_TITLE}


def test_the_annotations_do_not_change_the_spec_hash() -> None:
    build = compile_operation(SEED)
    plain = build_manifests(build, kaniko=KanikoOptions())
    source = SourceInfo("https://github.com/org/app", COMMIT, False, 1)
    annotated = build_manifests(
        build, kaniko=KanikoOptions(provenance=ImageProvenance(source=source))
    )
    assert annotated.spec_hash == plain.spec_hash
    assert annotated.name != plain.name  # the pod runs other arguments: another pod


def test_the_users_own_keys_win() -> None:
    kaniko = KanikoOptions(
        labels=((KEY_TITLE, "mine"),),
        annotations=((KEY_TITLE, "mine too"),),
        provenance=ImageProvenance(),
    )
    args, _ = _args(kaniko)
    assert [a for a in args if KEY_TITLE in a] == [
        f"--label={KEY_TITLE}=mine",
        f"--annotation={KEY_TITLE}=mine too",
    ]


def test_an_executor_without_annotation_gets_the_labels_and_a_note() -> None:
    args, warnings = _args(
        KanikoOptions(provenance=ImageProvenance()),
        executor="gcr.io/kaniko-project/executor:v1.23.2-debug",
    )
    assert not any(a.startswith("--annotation=") for a in args)
    assert f"--label={KEY_TITLE}={compile_operation(SEED).name}" in args
    assert any("has no --annotation (it came in v1.25.3)" in w for w in warnings), warnings


def _git(folder: Path, *words: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": "@1700000000 +0000",
        "GIT_COMMITTER_DATE": "@1700000000 +0000",
    }
    subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@e", *words],
        check=True,
        capture_output=True,
        env=env,
    )


def _repository(folder: Path) -> str:
    _git(folder, "init", "-q")
    _git(folder, "remote", "add", "origin", "https://someone:tok3n@git.example.com/org/app.git")
    (folder / "op.yaml").write_text("kind: operation\n")
    _git(folder, "add", "op.yaml")
    _git(folder, "commit", "-q", "-m", "first")
    done = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_source_is_read_from_the_folders_git(tmp_path: Path) -> None:
    commit = _repository(tmp_path)
    info = read_source_info(tmp_path)
    assert info == SourceInfo("https://git.example.com/org/app.git", commit, False, 1_700_000_000)
    (tmp_path / "op.yaml").write_text("kind: operation\nchanged: true\n")
    changed = read_source_info(tmp_path)
    assert changed is not None
    assert changed.dirty


def test_a_folder_outside_git_has_no_source(tmp_path: Path) -> None:
    assert read_source_info(tmp_path) is None


def test_build_from_a_git_folder_carries_its_source_and_no_annotations_turns_it_off(
    tmp_path: Path,
) -> None:
    commit = _repository(tmp_path)

    def pod_args(words: str) -> list[str]:
        args = _parser().parse_args(["build", "op.yaml", *shlex.split(words)])
        options = build_options(args, context_dir=tmp_path)
        return _args(options.kaniko)[0]

    annotated = _pairs(pod_args(""), "--annotation")
    assert annotated[KEY_SOURCE] == "https://git.example.com/org/app.git"
    assert annotated[KEY_REVISION] == commit
    assert "tok3n" not in " ".join(pod_args(""))
    assert _pairs(pod_args("--no-annotations"), "--annotation") == {}
    assert _pairs(pod_args("--no-annotations"), "--label") == {}


def _fake_git(folder: Path, body: str) -> dict[str, str]:
    folder.mkdir()
    script = folder / "git"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    "body",
    ["sleep 30", "yes 0123456789abcdef0123456789abcdef01234567", "exec sleep 30 </dev/null"],
    ids=["hangs", "floods", "hangs-quietly"],
)
def test_a_hostile_git_ends_as_no_source_within_the_deadline(tmp_path: Path, body: str) -> None:
    from tests.hostile.bounded import run_bounded

    env = _fake_git(tmp_path / "bin", body)
    (tmp_path / ".git").mkdir()  # a work tree as far as a look at the folders says
    code = (
        "import time; from pathlib import Path;"
        "from polymagic.app.source_info import read_source_info;"
        "t = time.monotonic(); info = read_source_info(Path('.'), timeout=1.0);"
        "print(info, round(time.monotonic() - t, 1))"
    )
    done = run_bounded(code, env=env, cwd=tmp_path, seconds=10, memory=512 << 20)
    assert done.returncode == 0, done.explain()
    info, seconds = done.stdout.split()
    assert info == "None"
    assert float(seconds) < 3
