"""Notebook views: text and HTML forms, escaping, the runPatch diff, the build record."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic import compile_operation
from polymagic.kube.session import BuildResult
from polymagic.notebook.views import (
    BUILD_MIMETYPE,
    BuildRecord,
    ComponentView,
    DockerfileView,
    ManifestsView,
)
from polymagic.render.context import pack_context
from polymagic.render.dockerfile import render_dockerfile
from polymagic.render.lint import Finding, Severity, polyaxon_findings
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections, load_dockerfile_init
from tests.data import REGISTRY, SEED

DIGEST = "sha256:" + "ab" * 32


def bundle(view: Any) -> dict[str, Any]:
    data: dict[str, Any] = view._repr_mimebundle_(include=None, exclude=None)
    return data


def test_dockerfile_view_keeps_the_exact_text_and_lists_findings() -> None:
    spec = load_dockerfile_init({"image": "python:3.11", "env": {"EMPTY": ""}})
    text = render_dockerfile(spec)
    findings = polyaxon_findings(spec, text)
    view = DockerfileView(text, findings=findings)

    data = bundle(view)
    assert view.text == text
    assert data["text/plain"] == repr(view)
    header, rest = data["text/plain"].split("\n", 1)
    assert header == "# Dockerfile"
    assert rest.startswith(text)  # byte for byte, Polyaxon's leading empty line included
    for finding in findings:
        assert f"line {finding.line}: {finding.code} {finding.message}" in rest or (
            finding.line is None and f"{finding.code} {finding.message}" in rest
        )
    assert "PM001" in data["text/html"]
    assert "<script" not in data["text/html"].lower()


def test_dockerfile_view_escapes_everything_user_controlled() -> None:
    text = '\nFROM python:3.11\n\nRUN echo "<script>alert(1)</script>" && true\n'
    finding = Finding("PM999", "bad <img src=x onerror=alert(1)>", Severity.ERROR, line=4)
    view = DockerfileView(text, "Dockerfile.<b>", [finding], title="<i>title</i>")

    page = bundle(view)["text/html"]
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<img" not in page
    assert "&lt;img src=x" in page
    assert "<i>title</i>" not in page
    assert "&lt;i&gt;title&lt;/i&gt;" in page
    assert "line 4: PM999 bad <img src=x onerror=alert(1)>" in bundle(view)["text/plain"]


def test_dockerfile_view_numbers_lines_like_the_findings() -> None:
    # The leading empty line must not be stripped, or every line number shifts by one.
    text = "\nFROM a:1\n\nRUN x\n"
    page = bundle(DockerfileView(text, findings=[Finding("PM004", "m", line=4)]))["text/html"]
    marked = re.search(r'background-color: #ffffcc">(.*?)\n</span>', page, re.S)
    assert marked is not None
    assert ">4<" in marked.group(1)
    assert "RUN" in marked.group(1)


def test_dockerfile_view_without_findings() -> None:
    data = bundle(DockerfileView("FROM a:1\n"))
    assert data["text/plain"] == "# Dockerfile\nFROM a:1\n"
    assert "no lint findings" in data["text/html"]


def test_component_view_shows_a_patched_arg_as_added() -> None:
    source = {"run": {"container": {"image": "k:1", "args": ["-c", "{{ context }}"]}}}
    compiled = {"run": {"container": {"image": "k:1", "args": ["-c", "/ctx", "--cache"]}}}
    view = ComponentView(compiled, source)

    plain = bundle(view)["text/plain"]
    assert "+    - --cache" in plain
    assert "-    - '{{ context }}'" in plain
    assert "    - /ctx" in plain.split("# what changed")[0]  # the YAML itself
    page = bundle(view)["text/html"]
    assert '<div style="background:#e6ffec;white-space:pre">+    - --cache</div>' in page
    assert (
        '<div style="background:#ffebe9;white-space:pre">-    - &#x27;{{ context }}&#x27;' in page
    )


def test_component_view_of_a_real_build() -> None:
    build = compile_operation(
        yaml.safe_load(SEED), params=["cache=false"], connections=load_connections(REGISTRY)
    )
    view = ComponentView(build.component.to_polyaxon(), build.source_component.to_polyaxon())
    added = [line for line in view.diff if line.startswith("+")]
    assert "+    - registry.example.com/org/polyaxon/polyaxon-quick-start" in added
    assert "+  init:" in added  # the runPatch's dockerfile init


def test_component_view_marks_the_executor_image_and_keeps_the_yaml_exact() -> None:
    build = compile_operation(
        yaml.safe_load(SEED), params=["cache=false"], connections=load_connections(REGISTRY)
    )
    compiled = build.component.to_polyaxon()
    runs = "ghcr.io/osscontainertools/kaniko:v1.28.3"
    view = ComponentView(compiled, build.source_component.to_polyaxon(), executor_image=runs)
    plain_view = ComponentView(compiled, build.source_component.to_polyaxon())
    assert view.yaml == plain_view.yaml  # what --eject and -o write: Polyaxon's, unchanged
    assert "# runs" not in view.yaml
    line = next(line for line in repr(view).splitlines() if "# runs" in line)
    assert line == (
        f"    image: gcr.io/kaniko-project/executor:latest  # runs {runs} (polymagic's executor"
        " setting)"
    )
    assert "the hub component's default" in view.executor_note
    page = bundle(view)["text/html"]
    assert "hub component&#x27;s default" in page
    assert "# runs" not in repr(plain_view)
    same = ComponentView(compiled, compiled, executor_image="gcr.io/kaniko-project/executor:latest")
    assert "# runs" not in repr(same)
    assert same.executor_note == ""


def test_component_view_when_nothing_changed() -> None:
    view = ComponentView({"a": 1}, {"a": 1}, title="same")
    assert "(runPatch changed nothing)" in repr(view)
    assert "runPatch changed nothing" in bundle(view)["text/html"]


def test_manifests_view() -> None:
    build = compile_operation(yaml.safe_load(SEED), connections=load_connections(REGISTRY))
    objects = build_manifests(build, namespace="ml").objects()
    view = ManifestsView(objects)

    plain = bundle(view)["text/plain"]
    assert list(yaml.safe_load_all(plain)) == objects
    assert plain.count("\n---\n") == len(objects) - 1
    page = bundle(view)["text/html"]
    for obj in objects:
        assert f"<summary>{obj['kind']} {obj['metadata']['name']}</summary>" in page


def test_manifests_view_escapes_names() -> None:
    page = bundle(ManifestsView([{"kind": "Pod", "metadata": {"name": "<b>x</b>"}}]))["text/html"]
    assert "<summary>Pod &lt;b&gt;x&lt;/b&gt;</summary>" in page


def test_manifests_view_lists_the_local_files_by_name_and_size_only(tmp_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)>.py"
    for name, content in {"app.py": "CONTENT-1", ".env": "CONTENT-2", hostile: "CONTENT-3"}.items():
        (tmp_path / name).write_text(content)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("CONTENT-4")
    packed = pack_context(tmp_path, ["."], {"Dockerfile": "FROM x\n"})
    objects = build_manifests(
        compile_operation(SEED, connections=load_connections(REGISTRY)), context=packed
    ).objects()

    data = bundle(ManifestsView(objects, context=packed))

    plain, page = data["text/plain"], data["text/html"]
    assert plain.startswith(
        f"# build context: 5 entries, {packed.size} bytes compressed\n"
        "#   <img src=x onerror=alert(1)>.py  (9 B)\n"
        "#   Dockerfile  (7 B)\n"
        "#   app.py  (9 B)\n"
        "#   src/  (1 entry, 9 B)\n"
        "# warning: left out of the build context because they may hold secrets"
    )
    assert list(yaml.safe_load_all(plain)) == objects  # the listing is YAML comments
    assert "<code>&lt;img src=x onerror=alert(1)&gt;.py</code>" in page
    assert '<code>src/</code></td><td style="text-align:left">1 entry, 9 B</td>' in page
    assert "warning: left out of the build context" in page
    assert "<img" not in page
    assert "CONTENT" not in plain + page


def test_manifests_view_without_local_files_shows_objects_only() -> None:
    objects = [{"kind": "Pod", "metadata": {"name": "p"}}]

    assert bundle(ManifestsView(objects))["text/plain"] == "kind: Pod\nmetadata:\n  name: p"


def make_result() -> BuildResult:
    return BuildResult(
        name="build-1",
        namespace="ml",
        image=f"registry.example.com/org/app@{DIGEST}",
        digest=DIGEST,
        tags=("registry.example.com/org/app",),
        duration=91.6,
        pod_name="build-1",
        spec_hash="671caf7f38cec43f4e5c0223dd34f9df",
        executor_image="gcr.io/kaniko-project/executor:latest",
        log_tail=("done",),
    )


def test_build_record_mimetypes() -> None:
    record = BuildRecord.from_result(make_result())
    data = bundle(record)

    assert data["text/plain"] == (
        f"built registry.example.com/org/app@{DIGEST} (spec 671caf7f38ce,"
        " executor gcr.io/kaniko-project/executor:latest, 01:31)"
    )
    payload = json.loads(json.dumps(data[BUILD_MIMETYPE]))
    assert BuildRecord.from_json(payload) == record
    assert payload["destinations"] == ["registry.example.com/org/app"]
    assert payload["polymagic_version"] == "0.1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", payload["finished_at"])
    assert "<table>" in data["text/html"]
    assert DIGEST in data["text/html"]


def test_a_reused_build_record_says_reused_not_a_duration() -> None:
    reused = replace(make_result(), reused=True, duration=0.04)
    record = BuildRecord.from_result(reused)
    data = bundle(record)
    assert data["text/plain"] == (
        f"image registry.example.com/org/app@{DIGEST} (spec 671caf7f38ce,"
        " executor gcr.io/kaniko-project/executor:latest, reused — built earlier (no pod))"
    )
    assert "<code>reused — built earlier (no pod)</code>" in data["text/html"]
    assert "0.0 s" not in data["text/plain"] + data["text/html"]
    assert data[BUILD_MIMETYPE]["reused"] is True
    known = BuildRecord.from_result(reused, built_at="2026-12-07T12:00:00+00:00")
    assert "reused — built 2026-12-07T12:00:00+00:00 (no pod)" in repr(known)
    fast = BuildRecord.from_result(replace(make_result(), duration=0.34))
    assert repr(fast).endswith(", 0.3 s)")
    assert "<code>0.3 s</code>" in bundle(fast)["text/html"]
    old = {k: v for k, v in record.to_json().items() if k not in ("reused", "built_at")}
    assert BuildRecord.from_json(old).reused is False  # records saved before still read


@pytest.mark.parametrize("field", ["image", "executor_image", "name"], ids=str)
def test_build_record_html_escapes(field: str) -> None:
    values = BuildRecord.from_result(make_result()).to_json()
    values[field] = "<script>x</script>"
    page = bundle(BuildRecord.from_json(values))["text/html"]
    assert "<script>" not in page


def test_an_empty_build_list_says_so_in_one_line() -> None:
    from polymagic.notebook.status_views import BuildList

    empty = bundle(BuildList([], "ml"))
    sentence = (
        "no polymagic builds in namespace `ml`: finished builds are deleted with their pods"
        " unless built with --keep"
    )
    assert empty["text/plain"] == sentence
    assert empty["text/html"] == f"<div>{sentence}</div>"  # no table of headers without rows
