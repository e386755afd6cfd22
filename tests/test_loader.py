"""Loading documents: line numbers, field paths, suggestions, warnings and sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymagic.errors import ConnectionsError, SpecError, YamlSyntaxError
from polymagic.loader import load_connections, load_operation
from tests.conftest import SEED


def test_seed_loads_from_text_dict_and_path(tmp_path: Path) -> None:
    path = tmp_path / "op.yaml"
    path.write_text(SEED)
    from_text = load_operation(SEED).model
    assert load_operation(path).model == from_text
    assert load_operation(str(path)).model == from_text
    assert from_text.hub_ref == "kaniko"
    assert from_text.params is not None
    assert from_text.params["destination"].connection == "docker-connection"


def test_missing_image_names_line_and_dotted_path() -> None:
    text = SEED.replace('      image: "tensorflow/tensorflow:2.0.1-py3"\n', "")
    with pytest.raises(SpecError) as caught:
        load_operation(text)
    assert caught.value.path == "runPatch.init[0].dockerfile.image"
    assert caught.value.line == 10  # the `- dockerfile:` entry that lacks it
    assert str(caught.value) == "line 10: runPatch.init[0].dockerfile.image: field required"


def test_typo_points_at_its_line_with_a_suggestion() -> None:
    text = SEED.replace("langEnv", "langEvn")
    with pytest.raises(SpecError) as caught:
        load_operation(text)
    assert caught.value.line == 14
    assert "did you mean `langEnv`?" in str(caught.value)
    assert caught.value.path == "runPatch.init[0].dockerfile.langEvn"


def test_top_level_typo_suggests_the_field() -> None:
    with pytest.raises(SpecError, match="did you mean `runPatch`"):
        load_operation(SEED.replace("runPatch", "runPach"))


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_operation(SEED + "  - : [unclosed\n")
    assert caught.value.line is not None
    assert "YAML syntax error" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping"),
        ("- a\n- b\n", "expected a mapping"),
        ("kind: component\n", "expected `kind: operation`"),
        ("name: x\n", "needs `kind: operation`"),
        ("kind: operation\nhubRef: kaniko\npathRef: x.yaml\n", "(?i)one and only one reference"),
        ("kind: operation\nhubRef: kaniko\ncontainer: {image: x}\n", "put it under `runPatch`"),
        ("kind: operation\nhubRef: kaniko\npatchStrategy: merge\n", "patchStrategy"),
        ("kind: operation\nhubRef: kaniko\nname: 'bad name!'\n", "not a valid name"),
    ],
    ids=[
        "empty",
        "list",
        "component-kind",
        "no-kind",
        "two-refs",
        "shortcut",
        "bad-strategy",
        "bad-name",
    ],
)
def test_invalid_operations_give_one_message(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        load_operation(text)
    assert "\n" not in str(caught.value)


def test_server_side_fields_are_accepted_and_named() -> None:
    loaded = load_operation(SEED + "queue: gpus\nmatrix: {kind: grid}\nschedule: {kind: cron}\n")
    assert loaded.warnings == (
        "ignored (they need a Polyaxon server): `queue`, `schedule`, `matrix`",
    )


def test_version_two_warns() -> None:
    assert any(
        "version" in w for w in load_operation(SEED.replace("version: 1", "version: 2.1")).warnings
    )


def test_params_short_and_full_forms() -> None:
    op = load_operation(
        "kind: operation\nhubRef: kaniko\nparams:\n  a: 1\n  b: {value: 2, toEnv: B}\n  c: {x: 1}\n  d: {}\n"
    ).model
    assert op.params is not None
    assert op.params["a"].value == 1
    assert (op.params["b"].value, op.params["b"].to_env) == (2, "B")
    assert op.params["c"].value == {"x": 1}
    assert op.params["d"].value is None


def test_file_and_git_inits_are_validated() -> None:
    text = SEED.replace(
        "  - dockerfile:",
        "  - file: {content: 'x', filename: a.sh, chmod: '+x'}\n  - git: {url: https://x/y.git, revision: main}\n  - dockerfile:",
    )
    inits = load_operation(text).model.run_patch.init  # type: ignore[union-attr]
    assert isinstance(inits, list)
    assert inits[0].file is not None
    assert inits[1].git is not None
    with pytest.raises(SpecError, match=r"runPatch.init\[0\].file.content: field required"):
        load_operation(
            SEED.replace("  - dockerfile:", "  - file: {filename: a.sh}\n  - dockerfile:")
        )


def test_connections_catalog_forms(tmp_path: Path) -> None:
    text = "- name: reg\n  kind: registry\n  schema: {url: r.io}\n  secret: {name: s, mountPath: /kaniko/.docker}\n"
    (tmp_path / "c.yaml").write_text(text)
    listed = load_connections(tmp_path / "c.yaml")
    wrapped = load_connections(
        {
            "connections": [
                {
                    "name": "reg",
                    "kind": "registry",
                    "schema": {"url": "r.io"},
                    "secret": {"name": "s", "mountPath": "/kaniko/.docker"},
                }
            ]
        }
    )
    assert listed == wrapped
    assert listed.get("reg") is not None
    assert listed.names() == ["reg"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- {name: a, kind: registry}\n- {name: a, kind: git}\n", "defined twice"),
        ("- {name: a, kind: docker}\n", r"\[0\]\.kind"),
        ("- {name: a, kind: registry, secrte: {name: s}}\n", "did you mean `secret`"),
        ("name: a\n", "list of connections"),
    ],
)
def test_bad_catalogs(text: str, message: str) -> None:
    with pytest.raises(ConnectionsError, match=message):
        load_connections(text)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_operation(tmp_path / "nope.yaml")
