"""The build form: fields and YAML kept in sync both ways, messages where they belong."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import IPython
import ipywidgets as widgets
import pytest
import yaml

from polymagic.errors import SpecError
from polymagic.notebook.form import GENERAL, YAML, BuildForm, field_for_path
from polymagic.outcome.fixes import fix_out_of_memory
from polymagic.render.build_objects import KanikoOptions
from polymagic.render.compiler import compile_operation
from polymagic.render.dockerfile import render_dockerfile
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections, load_dockerfile_init
from tests.data import REGISTRY, SEED

ROOT = Path(__file__).resolve().parents[2]

EXTRAS = """\
version: 1
kind: operation
name: build
description: keeps its extras
params:
  destination:
    connection: docker-connection
    value: org/image
runPatch:
  environment:
    nodeSelector: {pool: builds}
  init:
  - dockerfile:
      image: python:3.11
      shell: /bin/sh
      run: [pip install polyaxon]
  - file:
      content: "print('hi')"
      filename: hello.py
hubRef: kaniko
"""


def _dockerfile(form: BuildForm, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = form.operation()["runPatch"]["init"][index]["dockerfile"]
    return body


def _yaml_dict(form: BuildForm) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(form.yaml)
    return data


def _edit(form: BuildForm, **values: Any) -> None:
    for name, value in values.items():
        form.fields[name].value = value


# -- the default -----------------------------------------------------------------------------


def test_default_form_is_the_readme_quick_start() -> None:
    form = BuildForm()
    assert form.yaml == SEED
    assert form.operation() == yaml.safe_load(SEED)
    assert form.fields["image"].value == "tensorflow/tensorflow:2.0.1-py3"
    assert form.fields["run"].value == "pip3 install --no-cache-dir -U polyaxon"
    assert form.fields["lang_env"].value == "en_US.UTF-8"
    assert form.fields["destination"].value == "polyaxon/polyaxon-quick-start"
    assert form.fields["connection"].value == "docker-connection"
    assert form.fields["cache"].value is True
    assert form.fields["cache_ttl"].value == "1h"
    assert form.errors == {}
    assert form.build_button.disabled is False


# -- form → YAML ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "key", "expected"),
    [
        ("image", "python:3.11-slim", "image", "python:3.11-slim"),
        (
            "run",
            "apt-get update\n\n  pip install x  \n",
            "run",
            ["apt-get update", "pip install x"],
        ),
        ("env", "A=1\nB = two words", "env", {"A": "1", "B": "two words"}),
        ("env", "A=1\nA=2", "env", [["A", "1"], ["A", "2"]]),
        ("path", "/opt/bin\n/usr/local/x", "path", ["/opt/bin", "/usr/local/x"]),
        (
            "copy",
            "requirements.txt\nsrc /app/src",
            "copy",
            ["requirements.txt", ["src", "/app/src"]],
        ),
        ("uid", "1000", "uid", 1000),
        ("username", "builder", "username", "builder"),
        ("workdir", "/app", "workdir", "/app"),
    ],
    ids=["image", "run", "env", "env-duplicate-keys", "path", "copy", "uid", "username", "workdir"],
)
def test_a_dockerfile_field_edit_rewrites_the_yaml(
    field: str, value: str, key: str, expected: Any
) -> None:
    form = BuildForm()
    form.fields[field].value = value
    assert _yaml_dict(form)["runPatch"]["init"][0]["dockerfile"][key] == expected
    assert _dockerfile(form)[key] == expected


def test_clearing_a_field_removes_its_key() -> None:
    form = BuildForm()
    form.fields["lang_env"].value = ""
    assert "langEnv" not in _dockerfile(form)
    assert "LC_ALL" not in (form.dockerfile_text or "")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("destination", "org/other:1", {"connection": "docker-connection", "value": "org/other:1"}),
        (
            "connection",
            "my-registry",
            {"connection": "my-registry", "value": "polyaxon/polyaxon-quick-start"},
        ),
    ],
    ids=["destination", "connection"],
)
def test_destination_fields_edit_the_destination_param(
    field: str, value: str, expected: dict[str, str]
) -> None:
    form = BuildForm()
    form.fields[field].value = value
    assert _yaml_dict(form)["params"]["destination"] == expected


def test_cache_params_are_written_only_when_they_differ_from_kaniko_defaults() -> None:
    form = BuildForm()
    _edit(form, cache=False, cache_ttl="2h")
    params = _yaml_dict(form)["params"]
    assert params["cache"] == {"value": False}
    assert params["cache_ttl"] == {"value": "2h"}
    _edit(form, cache=True, cache_ttl="1h")
    assert set(_yaml_dict(form)["params"]) == {"destination"}
    form.fields["cache_ttl"].value = ""
    assert set(_yaml_dict(form)["params"]) == {"destination"}


def test_new_fields_keep_the_document_in_readme_shape() -> None:
    form = BuildForm()
    _edit(form, uid="1000", gid="1000", username="me")
    data = _yaml_dict(form)
    assert list(data) == ["version", "kind", "name", "params", "runPatch", "hubRef"]
    assert data["version"] == 1
    assert data["runPatch"]["init"][0]["dockerfile"]["gid"] == 1000
    assert (form.dockerfile_text or "").endswith("useradd -r -m -g polyaxon -u 1000 me\n")


# -- YAML → form ------------------------------------------------------------------------------


def test_a_yaml_edit_sets_the_fields_and_is_left_as_typed() -> None:
    form = BuildForm()
    text = """\
version: 1
kind: operation
name: other
params:
  destination: {connection: reg, value: org/app}
  cache: false
  cache_ttl: {value: 3h}
runPatch:
  init:
  - dockerfile:
      image: python:3.11
      env: [[A, x], [B, "y z"]]
      copy: [req.txt, [src, /app]]
      uid: 1000
      gid: 1001
      workdir: /app
hubRef: kaniko
"""
    form.yaml_view.value = text
    assert form.yaml == text  # the text being edited is not re-dumped
    shown = {name: widget.value for name, widget in form.fields.items()}
    assert shown == {
        "image": "python:3.11",
        "run": "",
        "env": "A=x\nB=y z",
        "lang_env": "",
        "path": "",
        "copy": "req.txt\nsrc /app",
        "uid": "1000",
        "gid": "1001",
        "username": "",
        "workdir": "/app",
        "destination": "org/app",
        "connection": "reg",
        "cache": False,
        "cache_ttl": "3h",
        "build_args": "",
        "target": "",
        "tags": "",
        "memory_limit": "",
        "cpu_limit": "",
    }
    assert form.errors == {}


def test_a_short_form_param_becomes_the_full_form_when_edited() -> None:
    text = SEED.replace(
        "    connection: docker-connection\n    value: polyaxon/polyaxon-quick-start\n", ""
    ).replace("  destination:\n", "  destination: org/app\n")
    form = BuildForm.from_yaml(text)
    assert form.fields["destination"].value == "org/app"
    assert form.fields["connection"].value == ""
    assert "resolved to nothing" in form.errors["connection"]
    form.fields["run"].value = "echo hi"
    assert _yaml_dict(form)["params"]["destination"] == "org/app"  # untouched: kept as written
    form.fields["connection"].value = "reg"
    destination = _yaml_dict(form)["params"]["destination"]
    assert list(destination.items()) == [("connection", "reg"), ("value", "org/app")]
    assert form.errors == {}


def test_env_values_keep_their_type_when_their_line_is_unchanged() -> None:
    form = BuildForm.from_yaml(
        SEED.replace("      langEnv", "      env: {A: 1, B: true}\n      langEnv")
    )
    assert form.fields["env"].value == "A=1\nB=True"
    form.fields["env"].value = "A=1\nB=True\nC=3"
    assert _dockerfile(form)["env"] == {"A": 1, "B": True, "C": "3"}


def test_a_snake_case_key_is_edited_in_place_not_duplicated() -> None:
    form = BuildForm.from_yaml(SEED.replace("langEnv", "lang_env"))
    assert form.fields["lang_env"].value == "en_US.UTF-8"
    form.fields["lang_env"].value = "C.UTF-8"
    body = _dockerfile(form)
    assert body["lang_env"] == "C.UTF-8"
    assert "langEnv" not in body
    assert form.errors == {}


def test_yaml_that_looks_like_a_file_name_is_read_as_text() -> None:
    form = BuildForm()
    form.set_yaml("operation.yaml")
    assert "expected an operation" in form.errors[YAML]
    assert "not found" not in form.errors[YAML]


# -- messages -----------------------------------------------------------------------------------


def test_an_invalid_image_is_shown_under_the_image_field_and_disables_build() -> None:
    form = BuildForm()
    form.fields["image"].value = "not an image"
    assert form.errors == {"image": "invalid docker image `not an image`"}
    assert "invalid docker image" in form.field_messages["image"].value
    assert form.field_messages["run"].value == ""
    assert form.build_button.disabled is True
    form.fields["image"].value = "python:3.11"
    assert form.errors == {}
    assert form.field_messages["image"].value == ""
    assert form.build_button.disabled is False


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("destination", "bad image", "expected a value of type `image`"),
        ("destination", "", "has no value"),
        ("connection", "", "resolved to nothing"),
        ("uid", "abc", "valid integer"),
        ("image", "", "field required"),
    ],
    ids=["bad-destination", "no-destination", "no-connection", "uid-text", "no-image"],
)
def test_polymagic_messages_go_under_their_field(field: str, value: str, expected: str) -> None:
    form = BuildForm()
    form.fields[field].value = value
    assert list(form.errors) == [field]
    assert expected in form.errors[field]
    assert html.escape(expected) in form.field_messages[field].value


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("env", "A=1\nJUSTKEY", "line 2: write `KEY=value`"),
        ("env", "=x", "line 1: write `KEY=value`"),
        ("copy", "a b c", "line 1: write `src` or `src dst`"),
    ],
    ids=["env-no-equals", "env-no-key", "copy-three-words"],
)
def test_unreadable_field_text_is_a_field_error_and_the_yaml_keeps_the_last_value(
    field: str, value: str, expected: str
) -> None:
    form = BuildForm()
    form.fields[field].value = value
    assert form.errors[field].startswith(expected)
    assert field not in _dockerfile(form)
    assert form.build_button.disabled is True


def test_a_problem_no_field_owns_goes_to_the_message_area() -> None:
    form = BuildForm.from_yaml(SEED.replace("hubRef: kaniko", "hubRef: nope"))
    assert "hub component `nope` is not bundled" in form.errors[GENERAL]
    assert "hubRef: hub component" in html.unescape(form.messages.value)
    assert form.build_button.disabled is True
    # The Dockerfile itself is fine, so the preview still shows it.
    assert form.dockerfile_text is not None
    assert form.dockerfile_text.startswith("\nFROM tensorflow/tensorflow:2.0.1-py3\n")


def test_an_invalid_namespace_is_shown_under_the_namespace_field() -> None:
    form = BuildForm(namespace="ML_builds")
    assert "not a valid namespace" in form.errors["namespace"]
    assert "not a valid namespace" in form.field_messages["namespace"].value
    form.namespace_field.value = "ml"
    assert form.errors == {}


def test_a_missing_connection_is_a_warning_and_a_known_one_is_not() -> None:
    unknown = BuildForm()
    assert "is not in the connections catalog" in unknown.messages.value
    assert unknown.build_button.disabled is False
    known = BuildForm(load_connections(REGISTRY))
    assert "connections catalog" not in known.messages.value
    assert known.fields["connection"].options == ("docker-connection",)


# -- invalid YAML -------------------------------------------------------------------------------


def test_a_yaml_syntax_error_names_the_line_and_keeps_the_fields() -> None:
    form = BuildForm()
    form.fields["image"].value = "python:3.11"
    before = form.operation()
    broken = form.yaml.replace("name: build", "name: [build")
    form.yaml_view.value = broken
    assert form.errors[YAML].startswith("line ")
    assert "YAML syntax error" in form.errors[YAML]
    assert "YAML syntax error" in form.yaml_message.value
    assert form.fields["image"].value == "python:3.11"
    assert form.operation() == before
    assert form.yaml == broken
    assert form.build_button.disabled is True
    form.yaml_view.value = broken.replace("[build", "build")
    assert YAML not in form.errors
    assert form.yaml_message.value == ""


def test_a_yaml_schema_error_names_line_and_field() -> None:
    form = BuildForm()
    form.yaml_view.value = SEED.replace("langEnv", "langenv")
    message = form.errors[YAML]
    assert message.startswith("line 14: runPatch.init[0].dockerfile.langenv: unknown field")
    assert "did you mean `langEnv`?" in message
    assert form.fields["lang_env"].value == "en_US.UTF-8"


def test_an_invalid_yaml_given_at_creation_is_shown_not_raised() -> None:
    form = BuildForm.from_yaml("kind: operation\nname: [\n")
    assert "YAML syntax error" in form.errors[YAML]
    assert form.yaml == "kind: operation\nname: [\n"
    assert form.build_button.disabled is True


# -- what the form cannot show ------------------------------------------------------------------


def test_extra_content_survives_form_edits_and_round_trips() -> None:
    form = BuildForm.from_yaml(EXTRAS)
    assert form.errors == {}
    form.fields["image"].value = "python:3.12"
    document = form.operation()
    assert document["description"] == "keeps its extras"
    assert document["runPatch"]["environment"] == {"nodeSelector": {"pool": "builds"}}
    assert document["runPatch"]["init"][1] == {
        "file": {"content": "print('hi')", "filename": "hello.py"}
    }
    assert document["runPatch"]["init"][0]["dockerfile"] == {
        "image": "python:3.12",
        "shell": "/bin/sh",
        "run": ["pip install polyaxon"],
    }
    # Through the YAML text and back, then another form edit: still all there.
    again = BuildForm.from_yaml(form.yaml)
    again.fields["run"].value = "pip install polyaxon\necho done"
    assert again.operation()["runPatch"]["init"][1] == document["runPatch"]["init"][1]
    assert again.operation()["runPatch"]["environment"] == document["runPatch"]["environment"]
    assert again.errors == {}
    notes = html.unescape(again.messages.value)
    for part in ("description", "runPatch.environment", "runPatch.init[1]", "dockerfile.shell"):
        assert part in notes


def test_a_value_the_form_cannot_show_is_disabled_and_kept() -> None:
    text = SEED.replace(
        "      - 'pip3 install --no-cache-dir -U polyaxon'",
        '      - "apt-get update &&\\n  apt-get install -y git"',
    )
    form = BuildForm.from_yaml(text)
    assert form.fields["run"].disabled is True
    assert form.fields["run"].value == "- |-\n  apt-get update &&\n    apt-get install -y git"
    form.fields["image"].value = "debian:12"
    assert _dockerfile(form)["run"] == ["apt-get update &&\n  apt-get install -y git"]
    assert "runPatch.init[0].dockerfile.run" in html.unescape(form.messages.value)
    form.set_yaml(SEED)
    assert form.fields["run"].disabled is False


def test_a_templated_init_list_leaves_the_dockerfile_fields_to_the_yaml() -> None:
    text = SEED.split("runPatch:")[0] + "runPatch:\n  init: '{{ params.inits }}'\nhubRef: kaniko\n"
    form = BuildForm.from_yaml(text)
    assert all(form.fields[name].disabled for name in ("image", "run", "env", "uid"))
    assert form.fields["destination"].disabled is False
    form.fields["destination"].value = "org/other"
    assert form.operation()["runPatch"] == {"init": "{{ params.inits }}"}
    assert "`runPatch.init`" in html.unescape(form.messages.value)


def test_a_templated_param_leaves_its_field_to_the_yaml() -> None:
    text = SEED.replace(
        "    value: polyaxon/polyaxon-quick-start\n",
        "    value: polyaxon/polyaxon-quick-start\n  cache: '{{ 1 == 1 }}'\n",
    )
    form = BuildForm.from_yaml(text)
    assert form.fields["cache"].disabled is True
    form.fields["cache_ttl"].value = "5h"
    assert form.operation()["params"]["cache"] == "{{ 1 == 1 }}"
    assert "`params.cache`" in html.unescape(form.messages.value)


def test_the_form_adds_a_dockerfile_init_when_the_yaml_has_none() -> None:
    text = SEED.split("runPatch:")[0] + "hubRef: kaniko\n"
    form = BuildForm.from_yaml(text)
    assert form.fields["image"].value == ""
    form.fields["image"].value = "alpine:3"
    data = _yaml_dict(form)
    assert list(data) == ["version", "kind", "name", "params", "runPatch", "hubRef"]
    assert data["runPatch"] == {"init": [{"dockerfile": {"image": "alpine:3"}}]}


# -- the Dockerfile preview -------------------------------------------------------------------


def _preview_text(form: BuildForm) -> str:
    match = re.fullmatch(r"<pre[^>]*>\n(.*)</pre>", form.preview.value, flags=re.DOTALL)
    assert match is not None
    return html.unescape(match.group(1))


def test_the_preview_is_render_dockerfile_byte_for_byte() -> None:
    form = BuildForm()
    _edit(
        form,
        env="A=<b>&\nB=2",
        path="/opt/bin",
        copy="req.txt\nsrc /app/src",
        uid="1000",
        gid="1000",
        username="me",
    )
    expected = render_dockerfile(load_dockerfile_init(_dockerfile(form)))
    assert form.dockerfile_text == expected
    assert _preview_text(form) == expected
    assert "&lt;b&gt;&amp;" in form.preview.value


def test_the_preview_follows_every_change() -> None:
    form = BuildForm()
    form.fields["run"].value = "echo one\necho two"
    assert form.dockerfile_text is not None
    assert form.dockerfile_text.endswith("RUN echo one\nRUN echo two\n")
    assert _preview_text(form) == form.dockerfile_text


# -- executor options: context-only params ------------------------------------------------------

OPTIONS = SEED.replace(
    "runPatch:",
    """\
  build_args:
    value: {PY: '3.11', N: 1}
    contextOnly: true
  target: {value: runtime, contextOnly: true}
  tags:
    value: [':v2', reg.example.com/org/app:latest]
    contextOnly: true
runPatch:""",
)


def test_the_executor_option_fields_are_text_boxes_in_their_own_section() -> None:
    form = BuildForm()
    assert isinstance(form.fields["build_args"], widgets.Textarea)
    assert isinstance(form.fields["target"], widgets.Text)
    assert isinstance(form.fields["tags"], widgets.Textarea)
    assert "<b>Executor options</b>" in [getattr(w, "value", None) for w in _descendants(form)]
    assert {name: form.fields[name].value for name in ("build_args", "target", "tags")} == {
        "build_args": "",
        "target": "",
        "tags": "",
    }


def _descendants(form: BuildForm) -> list[Any]:
    found: list[Any] = []
    stack: list[Any] = [form.widget]
    while stack:
        widget = stack.pop()
        found.append(widget)
        stack += list(getattr(widget, "children", ()))
    return found


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "build_args",
            "PY=3.11\n\n BASE = slim \nEMPTY=",
            {"PY": "3.11", "BASE": "slim", "EMPTY": ""},
        ),
        ("target", " runtime ", "runtime"),
        ("tags", ":v2\n\n  reg.example.com/org/app:1  ", [":v2", "reg.example.com/org/app:1"]),
    ],
    ids=["build-args", "target", "tags"],
)
def test_an_option_field_writes_a_context_only_param(field: str, value: str, expected: Any) -> None:
    form = BuildForm()
    form.fields[field].value = value
    params = _yaml_dict(form)["params"]
    assert list(params[field].items()) == [("value", expected), ("contextOnly", True)]
    assert list(params) == ["destination", field]
    assert form.errors == {}
    assert form.build_button.disabled is False
    form.fields[field].value = " \n "
    assert field not in _yaml_dict(form)["params"]
    assert form.operation() == yaml.safe_load(SEED)


def test_option_params_are_absent_from_the_yaml_while_their_fields_are_empty() -> None:
    form = BuildForm()
    form.fields["image"].value = "python:3.12"
    assert set(_yaml_dict(form)["params"]) == {"destination"}


def test_option_params_in_the_yaml_set_the_fields() -> None:
    form = BuildForm.from_yaml(OPTIONS)
    assert form.fields["build_args"].value == "PY=3.11\nN=1"
    assert form.fields["target"].value == "runtime"
    assert form.fields["tags"].value == ":v2\nreg.example.com/org/app:latest"
    assert not any(form.fields[name].disabled for name in ("build_args", "target", "tags"))
    assert form.errors == {}
    # The form shows the options: they are not listed as YAML-only (`contextOnly` included).
    assert "params." not in html.unescape(form.messages.value)


def test_a_short_form_option_is_read_and_becomes_context_only_when_edited() -> None:
    text = SEED.replace("runPatch:", "  target: runtime\n  build_args: {PY: '3.11'}\nrunPatch:")
    form = BuildForm.from_yaml(text)
    assert form.fields["target"].value == "runtime"
    assert form.fields["build_args"].value == "PY=3.11"
    # Without `contextOnly` polymagic refuses the param: the message goes under its field.
    assert list(form.errors) == ["target"]
    assert "unknown param `target`" in form.errors["target"]
    form.fields["target"].value = "runtime2"
    assert _yaml_dict(form)["params"]["target"] == {"value": "runtime2", "contextOnly": True}
    assert _yaml_dict(form)["params"]["build_args"] == {"PY": "3.11"}  # not edited: as written
    assert list(form.errors) == ["build_args"]
    assert "unknown param `build_args`" in form.errors["build_args"]
    form.fields["build_args"].value = "PY=3.12"
    assert _yaml_dict(form)["params"]["build_args"] == {
        "value": {"PY": "3.12"},
        "contextOnly": True,
    }
    assert form.errors == {}


def test_editing_an_option_keeps_the_rest_of_its_param_and_its_spelling() -> None:
    text = SEED.replace("runPatch:", "  target: {context_only: true, value: a}\nrunPatch:")
    form = BuildForm.from_yaml(text)
    assert form.errors == {}
    form.fields["target"].value = "b"
    target = _yaml_dict(form)["params"]["target"]
    assert list(target.items()) == [("context_only", True), ("value", "b")]


def test_build_arg_values_keep_their_type_when_their_line_is_unchanged() -> None:
    form = BuildForm.from_yaml(OPTIONS)
    form.fields["build_args"].value = "PY=3.12\nN=1"
    assert _yaml_dict(form)["params"]["build_args"]["value"] == {"PY": "3.12", "N": 1}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("build_args", "PY=3.11\nJUSTNAME", "line 2: write `NAME=value` (got `JUSTNAME`)"),
        ("build_args", "=3.11", "line 1: write `NAME=value`"),
        ("build_args", "A=1\nB=2\nA=3", "line 3: `A` is already set on line 1"),
        ("tags", ":v2\nreg.io/a:1 reg.io/b:1", "line 2: write one reference or `:tag` per line"),
    ],
    ids=["no-equals", "no-name", "twice", "two-tags-on-a-line"],
)
def test_an_unreadable_option_line_is_shown_under_its_field(
    field: str, value: str, expected: str
) -> None:
    form = BuildForm.from_yaml(OPTIONS)
    before = _yaml_dict(form)["params"][field]
    form.fields[field].value = value
    assert list(form.errors) == [field]
    assert form.errors[field].startswith(expected)
    assert html.escape(expected) in form.field_messages[field].value
    assert _yaml_dict(form)["params"][field] == before  # the YAML keeps the last good value
    assert form.build_button.disabled is True
    form.fields[field].value = ""
    assert form.errors == {}
    assert field not in _yaml_dict(form)["params"]


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (
            "build_args: {value: [PY, '3.11'], contextOnly: true}",
            "must be a mapping of NAME: value",
        ),
        ("tags: {value: ':v2', contextOnly: true}", "must be a list"),
    ],
    ids=["build-args-not-a-mapping", "tags-not-a-list"],
)
def test_an_option_polymagic_refuses_is_shown_under_its_disabled_field(
    param: str, expected: str
) -> None:
    form = BuildForm.from_yaml(SEED.replace("runPatch:", f"  {param}\nrunPatch:"))
    field = param.split(":")[0]
    assert list(form.errors) == [field]
    assert expected in form.errors[field]
    assert expected in form.field_messages[field].value
    assert form.fields[field].disabled is True
    assert form.build_button.disabled is True
    assert form.dockerfile_text is not None  # the Dockerfile itself is fine
    assert f"`params.{field}`" in html.unescape(form.messages.value)


def test_options_round_trip_through_form_edits_and_the_yaml_text() -> None:
    text = EXTRAS.replace(
        "runPatch:",
        "  build_args: {value: {PY: '3.11'}, contextOnly: true, toEnv: PY_ARGS}\n"
        "  tags: {value: [':v2'], contextOnly: true}\nrunPatch:",
    )
    form = BuildForm.from_yaml(text)
    assert form.errors == {}
    original = form.operation()
    form.fields["image"].value = "python:3.12"
    form.fields["target"].value = "runtime"
    document = form.operation()
    assert document["params"]["build_args"] == original["params"]["build_args"]
    assert document["params"]["tags"] == {"value": [":v2"], "contextOnly": True}
    assert document["params"]["target"] == {"value": "runtime", "contextOnly": True}
    assert document["runPatch"]["environment"] == original["runPatch"]["environment"]
    assert document["runPatch"]["init"][1] == original["runPatch"]["init"][1]
    assert "params.build_args.toEnv" in html.unescape(form.messages.value)
    again = BuildForm.from_yaml(form.yaml)
    assert again.operation() == document
    assert {n: again.fields[n].value for n in again.fields} == {
        n: form.fields[n].value for n in form.fields
    }
    again.fields["tags"].value = ":v2\n:v3"
    assert again.operation()["params"]["tags"]["value"] == [":v2", ":v3"]
    assert again.operation()["params"]["build_args"] == original["params"]["build_args"]
    assert again.errors == {}


def test_build_hands_over_the_yaml_with_the_options() -> None:
    calls: list[str] = []
    form = BuildForm()
    form.on_build(lambda text, namespace: calls.append(text))
    _edit(form, build_args="PY=3.11", target="runtime", tags=":v2")
    form.build_button.click()
    assert calls == [form.yaml]
    params = yaml.safe_load(calls[0])["params"]
    assert params["build_args"] == {"value": {"PY": "3.11"}, "contextOnly": True}
    assert params["target"] == {"value": "runtime", "contextOnly": True}
    assert params["tags"] == {"value": [":v2"], "contextOnly": True}


# -- resources: the run container's memory and CPU limits ---------------------------------------

LIMITS = SEED.replace(
    "runPatch:\n",
    """\
runPatch:
  container:
    image: ghcr.io/osscontainertools/kaniko:v1.28.3
    env: [{name: GODEBUG, value: madvdontneed=1}]
    resources:
      requests: {cpu: 500m}
      limits: {memory: 1Gi, cpu: 2}
""",
)


def _notes(form: BuildForm) -> str:
    return html.unescape(form.messages.value)


def test_the_limit_fields_are_text_boxes_in_a_resources_section() -> None:
    form = BuildForm()
    assert "<b>Resources</b>" in [getattr(w, "value", None) for w in _descendants(form)]
    for name, label, placeholder in [
        ("memory_limit", "Memory limit", "e.g. 4Gi"),
        ("cpu_limit", "CPU limit", "e.g. 2 or 500m"),
    ]:
        widget = form.fields[name]
        assert isinstance(widget, widgets.Text)
        assert (widget.description, widget.placeholder, widget.value) == (label, placeholder, "")
        assert widget.disabled is False


def test_typing_a_memory_limit_writes_the_run_patch_into_the_yaml_and_the_cell() -> None:
    form = BuildForm()
    form.fields["memory_limit"].value = " 512Mi "
    form.fields["cpu_limit"].value = "2"
    expected = {"resources": {"limits": {"memory": "512Mi", "cpu": 2}}}
    assert _yaml_dict(form)["runPatch"]["container"] == expected
    assert "        memory: 512Mi\n" in form.yaml
    assert "        cpu: 2\n" in form.yaml  # a number, as one writes it, not '2'
    form.fields["cpu_limit"].value = "500m"
    assert _yaml_dict(form)["runPatch"]["container"]["resources"]["limits"]["cpu"] == "500m"
    form.fields["cpu_limit"].value = "9" * 5000  # too long for int(): kept as text, refused
    assert "cpu_limit" in form.errors
    form.fields["cpu_limit"].value = "2"
    assert list(_yaml_dict(form)) == ["version", "kind", "name", "params", "runPatch", "hubRef"]
    assert _yaml_dict(form)["runPatch"]["init"] == yaml.safe_load(SEED)["runPatch"]["init"]
    cell = form.cell_text()
    assert cell.startswith("%%polybuild\n")
    assert yaml.safe_load(cell.split("\n", 1)[1])["runPatch"]["container"] == expected
    assert form.errors == {}
    assert form.build_button.disabled is False
    assert "runPatch.container" not in _notes(form)


@pytest.mark.parametrize("patch_key", ["runPatch", "run_patch"])
def test_a_yaml_limit_shows_in_its_field_and_the_rest_of_the_container_is_listed(
    patch_key: str,
) -> None:
    text = LIMITS.replace("runPatch:", f"{patch_key}:")
    form = BuildForm.from_yaml(text)
    assert (form.fields["memory_limit"].value, form.fields["cpu_limit"].value) == ("1Gi", "2")
    assert form.fields["memory_limit"].disabled is False
    assert form.fields["cpu_limit"].disabled is False
    assert form.errors == {}
    listed = re.findall(r"`([^`]+)`", _notes(form).split("Only editable in the YAML", 1)[1])
    where = f"{patch_key}.container"
    assert listed == [f"{where}.image", f"{where}.env", f"{where}.resources.requests"]
    form.fields["memory_limit"].value = "3Gi"
    assert list(form.operation()) == list(yaml.safe_load(text))  # no second spelling added
    patch = form.operation()[patch_key]
    assert patch["container"]["resources"] == {
        "requests": {"cpu": "500m"},
        "limits": {"memory": "3Gi", "cpu": 2},  # the untouched CPU limit keeps its type
    }


def test_a_container_holding_only_the_limits_is_not_listed_as_yaml_only() -> None:
    text = SEED.replace(
        "runPatch:\n", "runPatch:\n  container: {resources: {limits: {memory: 1Gi, cpu: 2}}}\n"
    )
    form = BuildForm.from_yaml(text)
    assert form.errors == {}
    assert "Only editable in the YAML" not in _notes(form)


def test_emptying_a_limit_removes_it_and_keeps_the_other_container_keys() -> None:
    form = BuildForm.from_yaml(LIMITS)
    original = form.operation()["runPatch"]["container"]
    form.fields["memory_limit"].value = ""
    container = _yaml_dict(form)["runPatch"]["container"]
    assert container == {**original, "resources": {**original["resources"], "limits": {"cpu": 2}}}
    form.fields["cpu_limit"].value = " "
    container = _yaml_dict(form)["runPatch"]["container"]
    assert container == {
        "image": original["image"],
        "env": original["env"],
        "resources": {"requests": {"cpu": "500m"}},
    }
    assert form.errors == {}


def test_emptying_the_only_limit_removes_the_mappings_around_it() -> None:
    form = BuildForm()
    form.fields["memory_limit"].value = "512Mi"
    form.set_yaml(form.yaml)  # the limit is now the YAML's, not the form's own edit
    form.fields["memory_limit"].value = ""
    assert _yaml_dict(form) == yaml.safe_load(SEED)
    assert form.operation() == yaml.safe_load(SEED)


@pytest.mark.parametrize(
    ("container", "hidden", "listed"),
    [
        ("'{{ params.c }}'", ["memory_limit", "cpu_limit"], "runPatch.container"),
        (
            "{resources: {limits: '{{ params.l }}'}}",
            ["memory_limit", "cpu_limit"],
            "runPatch.container.resources.limits",
        ),
        (
            "{resources: {limits: [4Gi]}}",
            ["memory_limit", "cpu_limit"],
            "runPatch.container.resources.limits",
        ),
        (
            "{resources: {limits: {memory: [1Gi], cpu: 2}}}",
            ["memory_limit"],
            "runPatch.container.resources.limits.memory",
        ),
        (
            '{resources: {limits: {memory: "1\\nGi"}}}',
            ["memory_limit"],
            "runPatch.container.resources.limits.memory",
        ),
    ],
    ids=["container-template", "limits-template", "limits-a-list", "memory-a-list", "two-lines"],
)
def test_a_limit_without_a_place_for_it_is_disabled_and_kept(
    container: str, hidden: list[str], listed: str
) -> None:
    text = SEED.replace("runPatch:\n", f"runPatch:\n  container: {container}\n")
    form = BuildForm.from_yaml(text)
    assert YAML not in form.errors
    assert [n for n in ("memory_limit", "cpu_limit") if form.fields[n].disabled] == hidden
    assert f"`{listed}`" in _notes(form)
    before = form.operation()["runPatch"]["container"]
    form.fields["image"].value = "python:3.12"
    _edit(form, **{name: "8Gi" for name in hidden})  # a disabled field's value is not written
    assert form.operation()["runPatch"]["container"] == before
    assert yaml.safe_load(form.yaml)["runPatch"]["container"] == before


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [("memory_limit", "lots", "limits.memory"), ("cpu_limit", "-1", "limits.cpu")],
    ids=["memory-lots", "cpu-negative"],
)
def test_a_bad_amount_is_shown_under_its_field_and_blocks_build(
    field: str, value: str, path: str
) -> None:
    calls: list[str] = []
    form = BuildForm()
    form.on_build(lambda text, namespace: calls.append(text))
    form.fields[field].value = value
    expected = f"`{value}` is not a Kubernetes quantity; write it like 4Gi or 512Mi"
    assert list(form.errors) == [field]
    assert form.errors[field].startswith(expected)
    assert html.escape(expected) in form.field_messages[field].value
    # Shown only with a message: an empty one would leave a blank row under every field.
    shown = [n for n, m in form.field_messages.items() if m.layout.display != "none"]
    assert shown == [field]
    assert form.build_button.disabled is True
    form.build_button.click()
    assert calls == []
    assert "fix the problems" in form.messages.value
    assert form.dockerfile_text is not None  # the Dockerfile itself is fine
    form.fields[field].value = "1"
    assert form.errors == {}
    assert all(m.layout.display == "none" for m in form.field_messages.values())
    form.build_button.click()
    assert len(calls) == 1


def test_limits_round_trip_from_the_yaml_through_the_form_to_the_yaml() -> None:
    form = BuildForm.from_yaml(LIMITS)
    document = form.operation()
    assert document == yaml.safe_load(LIMITS)
    form.fields["image"].value = "python:3.12"
    form.fields["image"].value = "tensorflow/tensorflow:2.0.1-py3"
    assert form.operation() == document
    again = BuildForm.from_yaml(form.yaml)
    assert again.operation() == document
    assert {n: again.fields[n].value for n in again.fields} == {
        n: form.fields[n].value for n in form.fields
    }
    again.fields["memory_limit"].value = "2Gi"
    third = BuildForm.from_yaml(again.yaml)
    assert third.fields["memory_limit"].value == "2Gi"
    assert third.operation()["runPatch"]["container"]["resources"]["limits"] == {
        "memory": "2Gi",
        "cpu": 2,
    }


def test_the_forms_memory_limit_is_the_fixs_runpatch_and_reaches_the_executor() -> None:
    fix = fix_out_of_memory("1Gi", "2Gi")
    patch = fix.split("in the operation `runPatch: ", 1)[1].split("`", 1)[0]
    assert "the build form's Memory limit" in fix
    route = yaml.safe_load(SEED)
    route["runPatch"].update(yaml.safe_load(patch))
    form = BuildForm()
    form.fields["memory_limit"].value = "2Gi"
    assert form.operation() == route
    connections = load_connections(REGISTRY)
    build = compile_operation(form.yaml, connections=connections)
    (container,) = build_manifests(build, namespace="ml").pod["spec"]["containers"]
    assert container["name"] == "kaniko"
    assert container["resources"]["limits"] == {"memory": "2Gi"}
    # `--cpu 1` (KanikoOptions.resources) sets the CPU amounts and keeps the form's memory limit.
    options = KanikoOptions(resources={"requests": {"cpu": "1"}, "limits": {"cpu": "1"}})
    (container,) = build_manifests(build, namespace="ml", kaniko=options).pod["spec"]["containers"]
    assert container["resources"]["limits"] == {"memory": "2Gi", "cpu": "1"}


# -- building and writing a cell --------------------------------------------------------------


def test_build_calls_the_callback_with_the_yaml_and_namespace() -> None:
    calls: list[tuple[str, str | None]] = []
    form = BuildForm(namespace="ml")
    form.on_build(lambda text, namespace: calls.append((text, namespace)))
    form.build_button.click()
    form.namespace_field.value = ""
    form.build_button.click()
    assert calls == [(SEED, "ml"), (SEED, None)]


def test_build_does_not_call_the_callback_while_there_are_errors() -> None:
    calls: list[str] = []
    form = BuildForm()
    form.on_build(lambda text, namespace: calls.append(text))
    form.fields["image"].value = "bad image"
    form.build_button.click()
    assert calls == []
    assert "fix the problems" in form.messages.value


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (RuntimeError("cluster down"), "RuntimeError: cluster down"),
        (SpecError("no such thing", path="params.x"), "params.x: no such thing"),
    ],
    ids=["any-exception", "polymagic-error"],
)
def test_a_failing_build_callback_is_shown_not_raised(error: Exception, shown: str) -> None:
    def fail(text: str, namespace: str | None) -> None:
        raise error

    form = BuildForm()
    form.on_build(fail)
    form.build_button.click()
    assert f"the build failed: {shown}" in html.unescape(form.messages.value)
    form.fields["run"].value = "echo hi"  # the next edit clears the note
    assert "the build failed" not in form.messages.value


def test_build_without_a_callback_says_so() -> None:
    form = BuildForm()
    form.build_button.click()
    assert "on_build" in form.messages.value


def test_cell_text_is_a_polybuild_cell_with_the_yaml() -> None:
    form = BuildForm()
    assert form.cell_text() == "%%polybuild\n" + SEED
    form.namespace_field.value = "ml"
    assert form.cell_text() == "%%polybuild --namespace ml\n" + SEED


class _Shell:
    def __init__(self) -> None:
        self.inputs: list[tuple[str, bool]] = []

    def set_next_input(self, text: str, replace: bool = False) -> None:
        self.inputs.append((text, replace))


def test_write_cell_puts_the_cell_below(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = _Shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    form = BuildForm()
    form.write_cell_button.click()
    assert shell.inputs == [(form.cell_text(), False)]


def test_write_cell_without_ipython_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    form = BuildForm()
    form.write_cell()
    assert "no IPython session" in form.messages.value


def test_the_mimebundle_has_the_widget_and_the_yaml_as_text() -> None:
    form = BuildForm()
    bundle = form._repr_mimebundle_()
    assert bundle["text/plain"] == form.yaml
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == form.widget.model_id


# -- error paths to fields ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("runPatch.init[0].dockerfile.image", "image"),
        ("runPatch.init[0].dockerfile.copy[1]", "copy"),
        ("runPatch.init[0].dockerfile.lang_env", "lang_env"),
        ("runPatch.init[1].dockerfile.image", None),
        ("run.init[0].dockerfile.uid", "uid"),
        ("runPatch.init[0].dockerfile.shell", None),
        ("params.destination", "destination"),
        ("params.destination.connection", "connection"),
        ("params.cache", "cache"),
        ("params.cache_ttl", "cache_ttl"),
        ("params.context", None),
        ("params.build_args", "build_args"),
        ("params.build_args.value", "build_args"),
        ("params.target", "target"),
        ("params.tags", "tags"),
        ("params.reproducible", None),
        ("run.connections[0]", "connection"),
        ("run.container.resources.limits.memory", "memory_limit"),
        ("runPatch.container.resources.limits.cpu", "cpu_limit"),
        ("run_patch.container.resources.limits.memory", "memory_limit"),
        ("run.container.resources.limits", None),
        ("run.container.resources.requests.memory", None),
        ("run.container.resources.limits.nvidia.com/gpu", None),
        ("hubRef", None),
        (None, None),
    ],
    ids=lambda value: str(value),
)
def test_field_for_path(path: str | None, expected: str | None) -> None:
    assert field_for_path(path, 0) == expected


ODD_YAML = [
    "",
    "[1, 2]",
    "kind: operation",
    "operation.yml",
    "\x00",
    "a: &a [*a]\n",
    "kind: operation\nhubRef: kaniko\nrunPatch: '{{ x }}'\n",
    "kind: operation\nhubRef: kaniko\nrunPatch:\n  init:\n  - dockerfile: '{{ x }}'\n",
    "kind: operation\nhubRef: kaniko\nrun_patch:\n  init:\n  - git: {url: x}\n",
    "kind: operation\nhubRef: kaniko\nparams:\n",
]
ODD_VALUES = ["", "x y z", "A=", "=", " \n ", "{{ a }}", "-5", "a\u2028b", "<script>"]


@pytest.mark.parametrize("text", ODD_YAML, ids=range(len(ODD_YAML)))
def test_no_input_makes_a_callback_raise_or_fail_inside(text: str) -> None:
    form = BuildForm()
    form.set_yaml(text)
    for name, widget in form.fields.items():
        for value in [True, False] if name == "cache" else ODD_VALUES:
            widget.value = value
            assert "internal error" not in form.messages.value, (name, value)
            assert "<script>" not in form.messages.value + form.preview.value
    form.yaml_view.value = SEED
    assert form.errors == {}


def test_the_forms_fields_document_and_checks_need_no_widgets() -> None:
    """Codecs, the form <-> document mapping and the checks are plain functions: a program (or
    a test) can edit and check an operation the way the form does without ipywidgets."""
    code = (
        "import sys\n"
        "from polymagic.notebook.form_check import check_document, form_errors\n"
        "from polymagic.notebook.form_document import merge_form_values, read_form_values\n"
        "from polymagic.notebook.form_fields import FIELDS\n"
        "from polymagic.notebook.form_check import parse_operation_text\n"
        f"document = parse_operation_text({SEED!r})\n"
        "values, hidden = read_form_values(document)\n"
        "values['image'] = 'python:3.12-slim'\n"
        "edited, problems = merge_form_values(document, values, hidden)\n"
        "check = check_document(edited)\n"
        "assert check.dockerfile.startswith('\\nFROM python:3.12-slim'), check\n"
        "assert form_errors(problems, check, '', None) == {}, check\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'IPython')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
