"""Hostile values for what reaches object names and the executor's arguments: ``-P`` values
holding line breaks and terminal escapes, and Dockerfile ``filename``s no ConfigMap key (nor
file system) takes. Each runs ``polymagic build --dry-run`` in a child bounded to 10 s and
1 GiB, and must be refused before anything is submitted: exit 2, one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.bounded import Bounded, run_cli_bounded
from tests.hostile.test_spec_input import isolated_env

ESC = "\x1b"
SEED = """\
version: 1.1
kind: operation
name: build
params:
  destination: {value: org/app:v1, connection: docker-connection}
runPatch:
  init:
  - dockerfile: {image: "python:3.12", run: ["pip3 install polyaxon"]}
hubRef: kaniko
"""
CATALOG = """\
- name: docker-connection
  kind: registry
  schema: {url: registry.example.com}
  secret: {name: docker-conf, mountPath: /kaniko/.docker}
"""


def refused(result: Bounded, *fragments: str) -> str:
    """The one line of a child that refused its input within its bound; checks ``fragments``."""
    assert not result.timed_out, result.explain()
    assert result.returncode == 2, result.explain()
    # A dry run first says where its settings came from; the refusal is one error line, last.
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("polymagic: error: ")]
    assert errors == lines[-1:], result.explain()
    for fragment in fragments:
        assert fragment in errors[0], result.explain()
    assert result.stdout == "", result.explain()  # nothing rendered, nothing would be submitted
    return errors[0]


def _dry_run(tmp_path: Path, operation: str, *params: str) -> list[str]:
    spec = tmp_path / "op.yaml"
    spec.write_text(operation)
    catalog = tmp_path / "connections.yaml"
    catalog.write_text(CATALOG)
    argv = [
        "build",
        "--dry-run",
        "--namespace",
        "default",
        "--connections",
        str(catalog),
        str(spec),
    ]
    for param in params:
        argv += ["-P", param]
    return argv


PARAM_CASES = [
    ("destination=reg.io/app:v1\n" + ESC + "[31mowned", "destination", "U+000A"),
    ("destination=reg.io/app:v1" + ESC + "]0;title\x07", "destination", "U+001B"),
    ("destination=reg.io/app:v1\r", "destination", "U+000D"),
    ("destination=reg.io/app:v1\u2028x", "destination", "U+2028"),
    ("destination=reg.io/app:v1\tx", "destination", "U+0009"),
    ("context=/ctx" + ESC + "[2J", "context", "U+001B"),
    ("cache_ttl=1h\x7f", "cache_ttl", "U+007F"),
    ("cache_ttl=1h\x85", "cache_ttl", "U+0085"),
]


@pytest.mark.parametrize(
    ("param", "name", "code"), PARAM_CASES, ids=[repr(case[0])[:40] for case in PARAM_CASES]
)
def test_a_param_holding_control_characters_is_refused_before_submitting(
    tmp_path: Path, param: str, name: str, code: str
) -> None:
    result = run_cli_bounded(_dry_run(tmp_path, SEED, param), env=isolated_env(tmp_path))
    line = refused(result, f"param `{name}`", code, f"params.{name}")
    assert ESC not in line


def test_a_multiline_text_param_is_still_accepted(tmp_path: Path) -> None:
    # Free text may span lines (a script passed as an argument); only other controls are refused.
    result = run_cli_bounded(
        _dry_run(tmp_path, SEED, "context=/ctx\nsecond line"), env=isolated_env(tmp_path)
    )
    assert result.returncode == 0, result.explain()


def _with_filename(filename: str) -> str:
    return SEED.replace('run: ["pip3 install polyaxon"]', f"run: [x], filename: '{filename}'")


@pytest.mark.parametrize(
    "filename",
    ["d" * 254, "d" * 300, "Docker file", "sub:Dockerfile", "ü.Dockerfile", "..", "a\tb"],
    ids=["254-chars", "300-chars", "space", "colon", "non-ascii", "dot-dot", "tab"],
)
def test_a_dockerfile_name_no_configmap_key_takes_is_refused(tmp_path: Path, filename: str) -> None:
    result = run_cli_bounded(
        _dry_run(tmp_path, _with_filename(filename)), env=isolated_env(tmp_path)
    )
    refused(result, "run.init[0].dockerfile.filename", "at most 253", "cannot be a file name")


@pytest.mark.parametrize("filename", ["d" * 253, "Dockerfile.gpu", ".hidden", "-x_1"])
def test_a_dockerfile_name_a_configmap_key_takes_is_accepted(tmp_path: Path, filename: str) -> None:
    result = run_cli_bounded(
        _dry_run(tmp_path, _with_filename(filename)), env=isolated_env(tmp_path)
    )
    assert result.returncode == 0, result.explain()
    assert f"--dockerfile={filename}" in result.stdout or filename == "Dockerfile"
