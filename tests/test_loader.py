"""Loading documents: line numbers, field paths, suggestions, warnings and sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymagic.errors import (
    ConnectionsError,
    DuplicateKeyError,
    LimitError,
    SpecError,
    YamlSyntaxError,
)
from polymagic.render.compiler import compile_operation
from polymagic.spec.loader import (
    load_component,
    load_connections,
    load_dockerfile_init,
    load_operation,
)
from polymagic.spec.yaml_reader import parse_yaml, read_spec_file
from tests.data import SEED


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


def test_a_typo_in_a_required_field_is_reported_as_the_typo() -> None:
    # `imag` is both unknown and the reason `image` is missing: the typo is what to fix.
    text = SEED.replace("image:", "imag:", 1)
    with pytest.raises(SpecError) as caught:
        load_operation(text)
    assert caught.value.path == "runPatch.init[0].dockerfile.imag"
    assert str(caught.value).startswith(
        "line 11: runPatch.init[0].dockerfile.imag: unknown field `imag`; did you mean `image`?"
    )
    assert str(caught.value).endswith("(and 1 more problem)")


def test_an_unknown_field_unlike_the_missing_one_leaves_the_missing_one_first() -> None:
    text = SEED.replace("image:", "colour: blue\n      wanted:", 1)
    with pytest.raises(SpecError) as caught:
        load_operation(text)
    assert caught.value.path == "runPatch.init[0].dockerfile.image"


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
        (
            "",
            r"expected an operation \(a mapping with `version`, `kind: operation`, .*\), got an empty document",
        ),
        ("- a\n- b\n", r"expected an operation \(a mapping .*\), got a list of 2 items"),
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


# -- duplicate keys -------------------------------------------------------------------------


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    text = SEED.replace(
        "    value: polyaxon/polyaxon-quick-start\n",
        "    value: polyaxon/polyaxon-quick-start\n    connection: other\n",
    )
    path = tmp_path / "op.yaml"
    path.write_text(text)
    with pytest.raises(DuplicateKeyError) as caught:
        load_operation(path)
    assert str(caught.value) == (
        f"{path}, line 8: params.destination.connection: duplicate key `connection`"
        " (first on line 6); remove one"
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            "kind: operation\nhubRef: kaniko\nkind: operation\n",
            3,
            "kind: duplicate key `kind` (first on line 1)",
            id="top",
        ),
        pytest.param(
            "kind: operation\nhubRef: kaniko\nparams: {a: 1, b: 2, a: 3}\n",
            3,
            "params.a: duplicate key `a` (first on line 3)",
            id="flow",
        ),
        pytest.param(
            "kind: operation\nhubRef: kaniko\ntags:\n- {x: 1,\n   x: 2}\n",
            5,
            "tags[0].x: duplicate key `x` (first on line 4)",
            id="in-list",
        ),
        pytest.param(
            "kind: operation\nhubRef: kaniko\nparams:\n  1: a\n  1.0: b\n",
            5,
            "params.1.0: duplicate key `1.0` (first on line 4)",
            id="same-number",
        ),
        pytest.param(
            "kind: operation\nhubRef: kaniko\nparams:\n  x: a\n  'x': b\n",
            5,
            "duplicate key `x` (first on line 4)",
            id="quoted",
        ),
    ],
)
def test_duplicate_keys_are_refused_everywhere_in_an_operation(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(DuplicateKeyError) as caught:
        load_operation(text)
    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).endswith("; remove one")


def test_duplicate_keys_are_refused_in_components_catalogs_and_inits(tmp_path: Path) -> None:
    component = tmp_path / "component.yaml"
    component.write_text("kind: component\nname: a\nname: b\nrun: {kind: job}\n")
    with pytest.raises(DuplicateKeyError, match="name: duplicate key `name` \\(first on line 2\\)"):
        load_component(component)
    with pytest.raises(ConnectionsError, match=r"\[0\]\.kind: duplicate key `kind`"):
        load_connections("- name: reg\n  kind: registry\n  kind: git\n")
    with pytest.raises(DuplicateKeyError, match="image: duplicate key"):
        load_dockerfile_init("{image: a, image: b}")


def test_merge_keys_and_null_keys_are_not_duplicates() -> None:
    data, _ = parse_yaml("base: &b {x: 1, y: 2}\nmerged:\n  <<: *b\n  x: 3\n")
    assert data["merged"] == {"x": 3, "y": 2}
    data, _ = parse_yaml("~: 1\n'None': 2\n")
    assert data == {None: 1, "None": 2}


# -- syntax errors, shapes and lines --------------------------------------------------------


def test_an_unclosed_flow_mapping_names_the_line_it_starts_on() -> None:
    text = "version: 1.1\nkind: operation\nparams:\n  destination: {value: x, connection: y\nhubRef: kaniko\n"
    with pytest.raises(YamlSyntaxError) as caught:
        load_operation(text)
    assert caught.value.line == 5  # where the parser gave up
    assert "the flow mapping that starts on line 4" in str(caught.value)


def test_an_unclosed_quote_names_the_line_it_starts_on() -> None:
    with pytest.raises(YamlSyntaxError, match="the quoted scalar that starts on line 2"):
        parse_yaml("a: 1\nb: 'open\nc: 3\nd: 4\n")


def test_two_documents_say_where_each_starts() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml("a: 1\n---\nb: 2\n")
    assert str(caught.value) == (
        "line 2: YAML syntax error: expected a single document in the stream (line 1),"
        " but found another document"
    )


@pytest.mark.parametrize(
    ("load", "text", "message"),
    [
        (
            load_component,
            "- a\n",
            "expected a component (a mapping with `version`, `kind: component`, `inputs`",
        ),
        (
            load_dockerfile_init,
            "[1]",
            "dockerfile: expected a dockerfile init (a mapping with `image`",
        ),
        (load_connections, "- 3\n", "[0]: expected a connection (a mapping with `name`, `kind`"),
        (load_operation, "just text\n", "got the text `just text`"),
    ],
    ids=["component", "dockerfile-init", "connection", "text"],
)
def test_a_document_that_is_not_a_mapping_says_what_was_expected(
    load: object, text: str, message: str
) -> None:
    assert callable(load)
    with pytest.raises(SpecError) as caught:
        load(text)
    assert message in str(caught.value)
    assert "mapping of fields" not in str(caught.value)


def test_lines_of_aliased_and_nested_parts() -> None:
    _, lines = parse_yaml("a: &x\n  k: 1\nb: *x\nc:\n- 1\n- {d: 2}\n")
    assert lines.line_of(("a", "k")) == 2
    assert lines.line_of(("b", "k")) == 3  # an alias's parts: the alias's own line
    assert lines.line_of(("c", 1, "d")) == 6
    assert lines.line_of(("c", 7)) == 4
    assert lines.nested(("c",)).line_of((1,)) == 6
    assert lines.nested(("missing",)).line_of(("x",)) is None


# -- reading files --------------------------------------------------------------------------


def test_a_directory_is_not_read(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="it is a directory; give the path of a regular file"):
        read_spec_file(tmp_path)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "op.yaml"
    path.write_bytes(b"kind: operation\nname: caf\xe9\n")
    with pytest.raises(SpecError) as caught:
        load_operation(path)
    assert str(caught.value) == (
        f"{path}, line 2: not UTF-8 text: byte 0xe9 cannot be decoded (polymagic reads YAML as UTF-8)"
    )


def test_a_file_over_the_size_bound_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("polymagic.spec.yaml_reader.INPUT_MAX_BYTES", 100)
    path = tmp_path / "op.yaml"
    path.write_text(SEED)
    with pytest.raises(
        LimitError, match=r"is \d+ bytes, more than polymagic reads .*INPUT_MAX_BYTES"
    ):
        read_spec_file(path)


# -- text that Polyaxon reads as a literal --------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'run: ["pip3 install --no-cache-dir -U polyaxon"]'.replace('"', "'"),
            "run: ['2']",
            "run.init[0].dockerfile.run[0]: `2` is read as the number `2`, but this field needs"
            " text",
        ),
        (
            "langEnv: 'en_US.UTF-8'",
            "env: [[K, '1']]",
            "`env: {K: 1}`",
        ),
    ],
    ids=["run", "env-pair"],
)
def test_text_read_as_a_number_says_what_happened_and_how_to_keep_it_text(
    old: str, new: str, message: str
) -> None:
    text = SEED.replace(
        "      run:\n      - 'pip3 install --no-cache-dir -U polyaxon'\n", f"      {new}\n"
    )
    if new.startswith("env"):
        text = SEED.replace("      langEnv: 'en_US.UTF-8'\n", f"      {new}\n")
    with pytest.raises(SpecError) as caught:
        compile_operation(text)
    assert message in str(caught.value)
    assert "input should be a valid string" not in str(caught.value)
    assert "quote it inside the string" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nkind: operation\nparams:\n\tdestination: {value: x}\n",
        'name: "é"\n\tkind: operation\n',
    ],
)
def test_a_tab_used_as_indentation_is_named(text: str) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml(text)
    assert "a tab: YAML indents with spaces only" in str(caught.value)


def test_a_syntax_error_elsewhere_says_nothing_of_tabs() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml("a:\tb\n  - c: [1,\n")
    assert "tab" not in str(caught.value)
