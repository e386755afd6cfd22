"""Lint of rendered Dockerfiles: Polyaxon-specific rules and hadolint."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymagic.render.dockerfile import render_dockerfile
from polymagic.render.lint import (
    Severity,
    copy_source_findings,
    hadolint_findings,
    lint_dockerfile,
    polyaxon_findings,
)
from polymagic.spec.loader import load_dockerfile_init


def codes(body: dict[str, object]) -> set[str]:
    spec = load_dockerfile_init(body)
    return {f.code for f in polyaxon_findings(spec, render_dockerfile(spec))}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"image": "a:1", "env": {"EMPTY": ""}}, "PM001"),
        ({"image": "a:1", "env": [["K", "two words"]]}, "PM002"),
        ({"image": "a:1", "uid": 1000}, "PM003"),
        ({"image": "a:1", "gid": 1000}, "PM003"),
        ({"image": "a:1"}, "PM004"),
        ({"image": "a:1", "shell": "/bin/zsh"}, "PM005"),
    ],
    ids=["empty-env", "env-with-space", "uid-only", "gid-only", "no-user", "shell"],
)
def test_polyaxon_rules_fire(body: dict[str, object], code: str) -> None:
    assert code in codes(body)


def test_clean_spec_has_only_the_root_notice() -> None:
    assert codes({"image": "a:1", "env": {"A": "b"}, "uid": 1, "gid": 1}) == {"PM004"}


def test_rule_lines_point_into_the_rendered_text() -> None:
    spec = load_dockerfile_init({"image": "a:1", "env": {"K": "a b"}})
    text = render_dockerfile(spec)
    finding = next(f for f in polyaxon_findings(spec, text) if f.code == "PM002")
    assert finding.line is not None
    assert text.splitlines()[finding.line - 1] == "ENV K a b"


def test_copy_sources_checked_against_the_context(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("x\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("")
    spec = load_dockerfile_init(
        {
            "image": "a:1",
            "copy": ["requirements.txt", ["src/*.py", "/app"], "missing.txt"],
            "workdirPath": "gone",
        }
    )
    found = copy_source_findings(spec, render_dockerfile(spec), tmp_path)
    assert [f.message.split("`")[1] for f in found] == ["missing.txt", "gone"]
    assert all(f.severity is Severity.ERROR for f in found)


def test_hadolint_reports_latest_and_untagged_images() -> None:
    latest = {f.code for f in hadolint_findings("\nFROM python:latest\n")}
    untagged = {f.code for f in hadolint_findings("\nFROM python\n")}
    assert "DL3007" in latest
    assert "DL3006" in untagged


def test_lint_never_changes_the_text() -> None:
    spec = load_dockerfile_init({"image": "python", "env": {"A": ""}})
    text = render_dockerfile(spec)
    findings = lint_dockerfile(spec, text)
    assert render_dockerfile(spec) == text
    assert [f.line or 0 for f in findings] == sorted(f.line or 0 for f in findings)


def test_copy_checks_read_the_sources_as_the_packer_does(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt", ".hidden.cfg"):
        (tmp_path / name).write_text("")
    spec = load_dockerfile_init(
        {"image": "a:1", "copy": ["a.txt b.txt", "*.cfg", "a.txt c.txt", ["../x", "/y"]]}
    )
    text = render_dockerfile(spec)

    found = copy_source_findings(spec, text, tmp_path)

    # "a.txt b.txt" is two sources that both exist; "*" matches dotfiles, as in Docker.
    assert [(f.message.split("`")[1], f.line) for f in found] == [
        ("c.txt", text.splitlines().index("COPY a.txt c.txt /code") + 1),
        ("../x", text.splitlines().index("COPY ../x /y") + 1),
    ]
    assert "outside the build context" in found[1].message
