"""Robustness: whatever a user feeds polymagic, only a ``PolymagicError`` comes back out.

Property-based (hypothesis) tests drive the public entry points with hostile input:

* ``load_operation(text)``: random unicode, random YAML documents (dicts / lists / scalars /
  None / bools / floats / dates / binary, ``yaml.safe_dump``-ed), YAML with anchors and aliases
  (self-referencing ones too), several documents, tabs, deep nesting and huge ints;
* ``load_operation(dict)``: arbitrary nested Python structures;
* mutations of the quick-start operation (keys replaced, deleted or added at random paths, and a
  wrong-typed value in every field, ``runPatch.init[0].dockerfile`` included);
* ``compile_operation`` on all of the above, with random ``-P`` strings and random connection
  catalogs (``load_connections``), and ``build_manifests`` on every build that compiled.

Every error must be a ``PolymagicError`` whose message is one non-empty line; a validation
error raised for YAML text must carry ``line``, and that line must exist in the text.

The deterministic ``test_regression`` cases (and the tests after them) pin each problem the
properties found, one reproduction per case, so each can be fixed and checked on its own.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import os
import re
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from pydantic import BaseModel

from polymagic.errors import PolymagicError, SpecError, YamlSyntaxError
from polymagic.render.build_objects import SecretShape
from polymagic.render.compiler import CompiledBuild, compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.spec import models
from polymagic.spec.connections import ConnectionCatalog
from polymagic.spec.loader import load_connections, load_operation
from polymagic.spec.yaml_reader import parse_yaml

_REPO = Path(__file__).resolve().parents[1]

# On a failure hypothesis's pytest plugin imports its patch writer, which imports libcst, which
# trips a DeprecationWarning (mypy_extensions.TypedDict); with filterwarnings=error that turns
# every falsified property into an INTERNALERROR. Import it once here, with that warning off.
with warnings.catch_warnings(), contextlib.suppress(ImportError):  # no libcst: no patch writer
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

SEED_TEXT = """\
version: 1
kind: operation
name: build
params:
  destination: {connection: docker-connection, value: polyaxon/polyaxon-quick-start}
runPatch:
  init:
  - dockerfile: {image: "tensorflow/tensorflow:2.0.1-py3", run: ["pip3 install --no-cache-dir -U polyaxon"], langEnv: "en_US.UTF-8"}
hubRef: kaniko
"""
SEED: dict[str, Any] = yaml.safe_load(SEED_TEXT)


def with_run_patch(lines: str) -> str:
    """The seed text with ``lines`` (indented two spaces) added under ``runPatch``."""
    return SEED_TEXT.replace("runPatch:\n", "runPatch:\n" + lines)


# The seed with every part of a run a build uses filled in: mutations of it reach deeper.
RICH_SEED_TEXT = """\
version: 1.1
kind: operation
name: build
params:
  destination: {connection: docker-connection, value: polyaxon/polyaxon-quick-start}
  cache: false
  cache_ttl: 2h
runPatch:
  connections: [settings-connection]
  environment:
    labels: {team: ml}
    annotations: {owner: me}
    nodeSelector: {pool: build}
    tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]
    serviceAccountName: builder
  container:
    args: [--verbosity=info]
    env: [{name: A, value: "1"}]
    resources: {limits: {cpu: "2", memory: 4Gi}}
  volumes: [{name: scratch, emptyDir: {}}]
  init:
  - dockerfile:
      image: "tensorflow/tensorflow:2.0.1-py3"
      env: {A: 1}
      copy: [a, [b, c]]
      run: ["pip3 install --no-cache-dir -U polyaxon"]
      langEnv: "en_US.UTF-8"
      filename: Dockerfile.dev
  - file: {content: hello, filename: notes.txt}
termination: {timeout: 600}
hubRef: kaniko
"""
RICH_SEED: dict[str, Any] = yaml.safe_load(RICH_SEED_TEXT)
CATALOG_DATA: list[dict[str, Any]] = [
    {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": "https://registry.example.com/org"},
        "secret": {"name": "docker-conf", "mountPath": "/kaniko/.docker"},
    },
    {
        "name": "settings-connection",
        "kind": "custom",
        "configMap": {"name": "settings"},
        "env": [{"name": "B", "value": "2"}],
    },
]
CATALOG = load_connections(CATALOG_DATA)

FAST = settings(
    max_examples=60,
    deadline=None,
    database=None,
    # No "explain" phase and one shrunk example per test: a failing run stays short too.
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    report_multiple_bugs=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
MEDIUM = settings(FAST, max_examples=120)
MANY = settings(FAST, max_examples=250)


# -- checking what comes out ------------------------------------------------------------------

# Every character ``str.splitlines`` breaks on: a one-line message contains none of them.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def _check_message(exc: PolymagicError) -> None:
    message = str(exc)
    assert message.strip(), f"{type(exc).__name__} has an empty message"
    assert not any(ch in message for ch in _LINE_BREAKS), (
        f"{type(exc).__name__} message is not a single line: {message!r}"
    )


def _yaml_lines(text: str) -> int:
    """How many lines PyYAML sees (it breaks on \\r\\n, \\r, \\n, NEL, LS and PS)."""
    return len(re.findall("\r\n|[\n\r\x85\u2028\u2029]", text)) + 1


def _is_path_like(text: str) -> bool:
    # load_operation reads a one-line string ending in .yaml/.yml/.json as a file path.
    return "\n" not in text and text.endswith((".yaml", ".yml", ".json"))


def _where(exc: BaseException) -> str:
    """The last few polymagic frames the exception went through."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if f"{os.sep}polymagic{os.sep}" in f.filename
    ]
    shown = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames[-3:]]
    return f" (at {' <- '.join(reversed(shown))})" if shown else ""


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, PolymagicError | None]:
    """``fn(...)``'s result, or the PolymagicError it raised; any other exception fails the test."""
    try:
        return fn(*args, **kwargs), None
    except PolymagicError as exc:
        if currently_in_test_context():
            note(f"{fn.__name__} raised {type(exc).__name__}: {exc!r}")
        _check_message(exc)
        return None, exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # RecursionError and MemoryError included
        # Short and cheap to report: a RecursionError's own traceback runs to thousands of frames.
        raise AssertionError(
            f"{type(exc).__name__} escaped from {fn.__name__}{_where(exc)}: {str(exc)[:300]}"
        ) from None


def _empty_document(text: str) -> bool:
    try:
        return parse_yaml(text)[0] is None
    except PolymagicError:
        return False


def check_text_error(text: str, exc: PolymagicError | None) -> None:
    """A validation error for YAML text names a line of that text (a syntax error may not)."""
    if exc is None or _is_path_like(text):
        return
    if isinstance(exc, YamlSyntaxError) or isinstance(exc.__cause__, YamlSyntaxError):
        line = getattr(exc, "line", None)
        if line is not None:
            assert 1 <= line <= _yaml_lines(text), f"line {line} is not in the text: {exc!r}"
        return
    if isinstance(exc, SpecError):
        if exc.line is None:
            # Only an empty document has no line to point at.
            assert _empty_document(text), f"validation error without a line: {exc!r}"
            return
        assert 1 <= exc.line <= _yaml_lines(text), f"line {exc.line} is not in the text: {exc!r}"


def run_all(
    source: Any,
    *,
    params: Any = (),
    connections: ConnectionCatalog | None = None,
    shapes: Mapping[str, SecretShape] | None = None,
) -> CompiledBuild | None:
    """load → compile → manifests; only PolymagicErrors may stop the chain."""
    _, error = attempt(load_operation, source)
    if isinstance(source, str):
        check_text_error(source, error)
    build: CompiledBuild | None
    build, _ = attempt(compile_operation, source, params=params, connections=connections)
    if build is not None:
        attempt(build_manifests, build, secret_shapes=shapes)
    return build


# -- strategies ---------------------------------------------------------------------------------


def _field_names() -> list[str]:
    names: set[str] = set()
    for obj in vars(models).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            names.update(info.alias or name for name, info in obj.model_fields.items())
    return sorted(names)


FIELD_NAMES = _field_names()
PARAM_NAMES = ["destination", "cache", "cache_ttl", "context"]
INTERESTING_STRINGS = [
    "",
    " ",
    "operation",
    "component",
    "job",
    "kaniko",
    "kaniko:1.2",
    "kaniko:latest",
    "kaniko:0.0",
    "polyaxon/kaniko",
    "docker-connection",
    "regcred",
    "post_merge",
    "pre_merge",
    "replace",
    "isnull",
    "Dockerfile",
    "Dockerfile.dev",
    "{{ destination }}",
    "{{ params.destination.connection }}",
    "{{ globals.artifacts_path }}",
    "{{ connections }}",
    "{{ undefined_name }}",
    "{{ 1 / 0 }}",
    "{{ [1, 2] }}",
    "{{ {'a': 1} }}",
    "{{ '{{ x }}' }}",
    "{% if %}",
    "{{",
    "}}",
    "https://registry.example.com/org",
    "http://",
    "registry.example.com:5000/org/img:tag",
    "a:b:c",
    "a b",
    "1",
    "1.5",
    "true",
    "None",
    "[1, 2]",
    "{}",
    "-f",
    "--dockerfile=x",
    "-d",
    "--digest-file=/x",
    "${PATH}",
    "\n",
    "\t",
    "a\nb",
    "ünïcödé ✓",
    "\u2028",
    "a" * 300,
    ".",
    "..",
    "/",
    "/plx-context/artifacts",
    "a/b",
]

text_values = st.one_of(st.text(max_size=20), st.sampled_from(INTERESTING_STRINGS))
yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    text_values,
    st.dates(),
    st.datetimes(),
    st.binary(max_size=8),
)
yaml_keys = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.sampled_from(PARAM_NAMES),
    st.text(max_size=10),
    st.integers(min_value=-5, max_value=5),
    st.none(),
    st.booleans(),
)


def nested(
    leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[Any] = yaml_keys
) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=5),
        max_leaves=25,
    )


yaml_values = nested(yaml_scalars)


class _Opaque:
    """An object no serializer knows."""

    def __repr__(self) -> str:
        return "<opaque>"


python_scalars = st.one_of(
    yaml_scalars,
    st.decimals(allow_nan=True),
    st.complex_numbers(max_magnitude=10),
    st.times(),
    st.builds(_Opaque),
)
python_keys = st.one_of(yaml_keys, st.tuples(st.integers(0, 3)), st.binary(max_size=4))
python_values = st.recursive(
    python_scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.tuples(kids, kids),
        st.frozensets(st.integers(0, 9) | st.text(max_size=3), max_size=3),
        st.dictionaries(python_keys, kids, max_size=5),
    ),
    max_leaves=25,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the plausible value, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, yaml_values)


images = st.one_of(
    st.sampled_from(
        ["tensorflow/tensorflow:2.0.1-py3", "python:3.11", "a:1", "reg.io:5000/org/img:tag"]
    ),
    text_values,
)
string_lists = st.lists(text_values, max_size=3)
dockerfile_like = st.fixed_dictionaries(
    {"image": _maybe(images)},
    optional={
        "env": _maybe(
            st.dictionaries(st.text(max_size=5), yaml_scalars, max_size=3)
            | st.lists(string_lists, max_size=3)
        ),
        "path": _maybe(string_lists),
        "copy": _maybe(st.lists(text_values | string_lists, max_size=3)),
        "postRunCopy": _maybe(st.lists(text_values | string_lists, max_size=3)),
        "run": _maybe(string_lists),
        "langEnv": _maybe(text_values),
        "uid": _maybe(st.integers(-1, 2000)),
        "gid": _maybe(st.integers(-1, 2000)),
        "username": _maybe(text_values),
        "filename": _maybe(
            st.sampled_from(["Dockerfile", "Dockerfile.dev", "a/b", "..", "", "x y"]) | text_values
        ),
        "workdir": _maybe(text_values),
        "workdirPath": _maybe(text_values),
        "shell": _maybe(text_values),
    },
)
file_like = st.fixed_dictionaries(
    {"content": _maybe(text_values)},
    optional={
        "filename": _maybe(text_values),
        "kind": _maybe(text_values),
        "chmod": _maybe(text_values),
    },
)
init_like = st.fixed_dictionaries(
    {},
    optional={
        "dockerfile": _maybe(dockerfile_like),
        "file": _maybe(file_like),
        "git": _maybe(
            st.fixed_dictionaries({}, optional={"url": text_values, "revision": text_values})
        ),
        "path": _maybe(
            st.sampled_from(["/plx-context/artifacts", "/other", "rel", ""]) | text_values
        ),
        "connection": _maybe(text_values),
        "artifacts": yaml_values,
    },
)
container_like = st.fixed_dictionaries(
    {},
    optional={
        "image": _maybe(images),
        "args": _maybe(string_lists),
        "command": _maybe(string_lists),
        "env": _maybe(
            st.lists(
                st.fixed_dictionaries({"name": text_values, "value": yaml_scalars}), max_size=2
            )
        ),
        "resources": _maybe(
            st.fixed_dictionaries({}, optional={"limits": yaml_values, "requests": yaml_values})
        ),
        "volumeMounts": _maybe(
            st.lists(st.dictionaries(text_values, yaml_scalars, max_size=3), max_size=2)
        ),
        "name": _maybe(text_values),
    },
)
environment_like = st.fixed_dictionaries(
    {},
    optional={
        key: yaml_values
        for key in (
            "labels",
            "annotations",
            "nodeSelector",
            "tolerations",
            "serviceAccountName",
            "imagePullSecrets",
            "restartPolicy",
            "hostNetwork",
            "priority",
            "securityContext",
        )
    },
)
run_like = st.fixed_dictionaries(
    {},
    optional={
        "kind": _maybe(st.sampled_from(["job", "service", "dag"])),
        "init": _maybe(st.lists(_maybe(init_like), max_size=3)),
        "container": _maybe(container_like),
        "environment": _maybe(environment_like),
        "connections": _maybe(st.lists(text_values, max_size=3)),
        "volumes": _maybe(
            st.lists(st.dictionaries(text_values, yaml_values, max_size=3), max_size=2)
        ),
        "sidecars": _maybe(st.lists(container_like, max_size=2)),
    },
)
param_like = st.one_of(
    yaml_scalars,
    st.fixed_dictionaries(
        {},
        optional={
            "value": yaml_values,
            "connection": _maybe(text_values),
            "ref": _maybe(text_values),
            "contextOnly": _maybe(st.booleans()),
            "toInit": _maybe(st.booleans()),
            "toEnv": _maybe(text_values),
        },
    ),
)
operation_like = st.fixed_dictionaries(
    {"kind": _maybe(st.just("operation"))},
    optional={
        "version": _maybe(st.sampled_from([1, 1.1, 2, "1"])),
        "name": _maybe(text_values),
        "description": _maybe(text_values),
        "tags": _maybe(string_lists),
        "hubRef": _maybe(
            st.sampled_from(["kaniko", "kaniko:1.2", "kaniko:nope", "polyaxon/kaniko", "other"])
        ),
        "pathRef": _maybe(text_values),
        "params": _maybe(
            st.dictionaries(
                st.sampled_from(PARAM_NAMES) | st.text(max_size=8), param_like, max_size=4
            )
        ),
        "runPatch": _maybe(run_like),
        "patchStrategy": _maybe(st.sampled_from(["post_merge", "pre_merge", "replace", "isnull"])),
        "termination": _maybe(
            st.fixed_dictionaries(
                {},
                optional={"timeout": yaml_scalars, "maxRetries": yaml_scalars, "ttl": yaml_scalars},
            )
        ),
        "component": _maybe(
            st.fixed_dictionaries(
                {"kind": st.just("component"), "run": _maybe(run_like)},
                optional={"name": text_values},
            )
        ),
        "queue": yaml_values,
    },
)

odd_leaves = st.one_of(
    st.binary(min_size=1, max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.dates(),
    st.datetimes(),
    st.sampled_from(INTERESTING_STRINGS),
    st.none(),
    st.booleans(),
)
odd_values = nested(odd_leaves, st.text(max_size=6) | st.sampled_from(FIELD_NAMES))


@st.composite
def plausible_operation(draw: st.DrawFn) -> dict[str, Any]:
    """The rich seed with a few leaves (or whole sub-trees) swapped for odd values."""
    doc: Any = copy.deepcopy(RICH_SEED)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [path for path in _paths(doc) if len(path) >= 2]
        if not paths:
            break
        doc = _set(doc, draw(st.sampled_from(paths)), draw(odd_values))
    result: dict[str, Any] = doc
    return result


overrides = st.one_of(
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.builds(
                lambda name, value: f"{name}={value}",
                st.sampled_from(PARAM_NAMES) | st.text(max_size=8),
                text_values
                | st.sampled_from(["false", "true", "0", "[1]", "{", "1" * 5000, "[" * 2000]),
            ),
        ),
        max_size=4,
    ),
    st.dictionaries(st.sampled_from(PARAM_NAMES) | st.text(max_size=8), yaml_values, max_size=3),
)

resource_like = st.fixed_dictionaries(
    {"name": _maybe(st.sampled_from(["docker-conf", "regcred", "cm"]) | text_values)},
    optional={
        "mountPath": _maybe(
            st.sampled_from(["/kaniko/.docker", "/plx-context/artifacts", "/x"]) | text_values
        ),
        "items": _maybe(string_lists),
        "defaultMode": _maybe(st.integers(-1, 1000)),
    },
)
connection_like = st.fixed_dictionaries(
    {
        "name": _maybe(
            st.sampled_from(["docker-connection", "a_b", "a-b", "x" * 70]) | text_values
        ),
        "kind": _maybe(st.sampled_from(["registry", "git", "s3", "custom", "nope"])),
    },
    optional={
        "schema": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "url": _maybe(st.sampled_from(INTERESTING_STRINGS)),
                    "insecure": yaml_scalars,
                },
            )
        ),
        "secret": _maybe(resource_like),
        "configMap": _maybe(resource_like),
        "env": _maybe(st.lists(st.dictionaries(text_values, yaml_scalars, max_size=2), max_size=2)),
        "annotations": _maybe(st.dictionaries(text_values, text_values, max_size=2)),
        "description": _maybe(text_values),
        "tags": _maybe(string_lists),
    },
)
catalog_sources = st.one_of(
    st.lists(connection_like, max_size=3),
    st.fixed_dictionaries({"connections": st.lists(connection_like, max_size=3)}),
    st.lists(connection_like, max_size=3).map(lambda data: yaml.safe_dump(data, sort_keys=False)),
    yaml_values,
    st.text(max_size=40),
)
shapes = st.dictionaries(
    st.sampled_from(["docker-conf", "regcred", "cm"]) | st.text(max_size=5),
    st.sampled_from(list(SecretShape)),
    max_size=2,
)


def _dump(data: Any, flow: bool | None = False) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=flow, allow_unicode=True)


# -- random text and YAML --------------------------------------------------------------------

YAML_ALPHABET = st.sampled_from(
    [
        *":-[]{}&*!|>'\"%@`#,?~ \t\n\r",
        "kind",
        "operation",
        "hubRef",
        "kaniko",
        "runPatch",
        "init",
        "dockerfile",
        "image",
        "params",
        "&a ",
        "*a",
        "<<",
        "---",
        "...",
        "!!binary",
        "!!python/object",
        "\ufeff",
    ]
)


@MANY
@given(
    st.one_of(
        st.text(),
        st.text(alphabet=st.characters(codec="utf-8")),
        st.lists(YAML_ALPHABET, max_size=40).map("".join),
        st.builds(
            lambda t, s: t + s, st.text(max_size=20), st.sampled_from([".yaml", ".yml", ".json"])
        ),
    )
)
def test_arbitrary_text(text: str) -> None:
    run_all(text)


@MEDIUM
@given(st.one_of(yaml_values, operation_like), st.sampled_from([False, True, None]))
def test_random_yaml_documents(data: Any, flow: bool | None) -> None:
    run_all(_dump(data, flow))


@MEDIUM
@given(operation_like, st.sampled_from(["ok", "dumped"]))
def test_operation_shaped_documents(data: dict[str, Any], form: str) -> None:
    run_all(data if form == "ok" else _dump(data))


# Fragments with anchors and aliases that fit anywhere a flow value does.
ANCHOR_FRAGMENTS = [
    "&a [*a]",
    "&a {k: *a}",
    "&a {k: [1, *a]}",
    "[&a x, *a, *a]",
    "&a {value: *a}",
    "&a [[[*a]]]",
    "{<<: &m {a: 1}, b: *m}",
    "&a {<<: *a}",
    "*undefined",
    "&a",
    "&a &b x",
    "!!binary /w==",
    "!!binary Zm9v",
    "!!python/object:object {}",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!timestamp 2001-12-14",
    "!!float .nan",
    "!!int 0x_",
    "1" * 400,
    "-" + "9" * 5000,
    "0o" + "7" * 600,
    "1e99999",
    "{" * 200 + "}" * 200,
    "[" * 200 + "]" * 200,
]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


SENTINEL = "SENTINEL-7c1e"


@MEDIUM
@given(
    st.lists(st.sampled_from([path for path in _paths(RICH_SEED) if path]), min_size=1, max_size=3),
    st.lists(st.sampled_from(ANCHOR_FRAGMENTS), min_size=3, max_size=3),
    st.booleans(),
)
def test_yaml_anchors_aliases_and_odd_scalars(
    paths: list[tuple[Any, ...]], fragments: list[str], also_block: bool
) -> None:
    doc = copy.deepcopy(RICH_SEED)
    for index, path in enumerate(paths):
        if path in _paths(doc):  # not under a value replaced just before
            doc = _set(doc, path, f"{SENTINEL}{index}")
    text = _dump(doc, flow=True)
    for index, fragment in enumerate(fragments):
        text = text.replace(f"{SENTINEL}{index}", fragment)
    run_all(text, connections=CATALOG)
    if also_block:
        # Anchor a block mapping and refer to it from elsewhere.
        run_all(SEED_TEXT.replace("params:\n", "params: &p\n") + "runPatch2: *p\n")


@MEDIUM
@given(
    st.integers(min_value=1, max_value=4),
    st.lists(st.integers(min_value=0, max_value=len(SEED_TEXT)), max_size=4),
    st.sampled_from(
        ["---\n", "...\n", "--- ", "\n---\n", "%YAML 1.1\n---\n", "%TAG ! tag:x,2000:\n---\n"]
    ),
)
def test_multiple_documents_and_tabs(copies: int, tab_positions: list[int], separator: str) -> None:
    run_all(separator.join([SEED_TEXT] * copies))
    run_all(separator + SEED_TEXT)
    tabbed = SEED_TEXT
    for position in sorted(tab_positions, reverse=True):
        tabbed = tabbed[:position] + "\t" + tabbed[position:]
    run_all(tabbed)


@pytest.mark.parametrize("depth", [10, 100, 300, 1000, 5000], ids=lambda d: f"depth{d}")
@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda d: "[" * d + "]" * d, id="flow-list"),
        pytest.param(lambda d: "{a: " * d + "1" + "}" * d, id="flow-map"),
        pytest.param(
            lambda d: "".join(f"{' ' * i}- \n" for i in range(0, 2 * d, 2)), id="block-list"
        ),
        pytest.param(lambda d: "".join(f"{' ' * i}a:\n" for i in range(d)), id="block-map"),
        pytest.param(
            lambda d: with_run_patch(
                "  container:\n    resources:\n" + "".join(f"{' ' * (6 + i)}a:\n" for i in range(d))
            ),
            id="under-runPatch",
        ),
        pytest.param(
            lambda d: with_run_patch(
                "  environment: {labels: " + "{a: " * d + "1" + "}" * d + "}\n"
            ),
            id="under-environment",
        ),
    ],
)
def test_deep_nesting_text(shape: Callable[[int], str], depth: int) -> None:
    run_all(shape(depth))


@pytest.mark.parametrize(
    "digits", [19, 20, 40, 400, 4300, 4301, 10_000], ids=lambda d: f"{d}digits"
)
@pytest.mark.parametrize(
    "where",
    [
        "version: {n}\nkind: operation\nhubRef: kaniko\n",
        SEED_TEXT + "termination: {timeout: {n}}\n",
        SEED_TEXT.replace("langEnv:", "uid: {n}, gid: {n}, langEnv:"),
        with_run_patch("  environment: {priority: {n}}\n"),
        SEED_TEXT.replace("params:\n", "params:\n  cache_ttl: {n}\n"),
    ],
    ids=["version", "timeout", "uid-gid", "priority", "param"],
)
def test_huge_ints(where: str, digits: int) -> None:
    run_all(where.replace("{n}", "9" * digits))
    run_all(where.replace("{n}", "-" + "1" * digits))


# -- Python structures --------------------------------------------------------------------------


@MEDIUM
@given(st.one_of(python_values, st.dictionaries(python_keys, python_values, max_size=6)))
def test_arbitrary_python_structures(data: Any) -> None:
    if isinstance(data, dict):
        run_all(data)
        run_all({**data, "kind": "operation", "hubRef": "kaniko"})
    else:
        # Not a Mapping: still must fail as a PolymagicError, never a TypeError.
        attempt(load_operation, data)
        attempt(compile_operation, data)


def _self_containing() -> dict[str, Any]:
    doc = copy.deepcopy(SEED)
    doc["description"] = doc
    return doc


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_self_containing, id="self-containing-root"),
        pytest.param(
            lambda: _with(("runPatch", "container"), _loop_dict()), id="loop-in-container"
        ),
        pytest.param(lambda: _with(("params", "cache_ttl"), _loop_list()), id="loop-in-param"),
        pytest.param(lambda: _with(("queue",), _loop_list()), id="loop-in-server-field"),
    ],
)
def test_self_referencing_python_structures(make: Callable[[], dict[str, Any]]) -> None:
    run_all(make())


def _loop_dict() -> dict[str, Any]:
    loop: dict[str, Any] = {"resources": {}}
    loop["resources"]["limits"] = loop["resources"]
    return loop


def _loop_list() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = _set(copy.deepcopy(SEED), path, value)
    return doc


# -- mutations of the quick start ------------------------------------------------------------------

SEED_PATHS = _paths(SEED)


@st.composite
def mutated_seed(draw: st.DrawFn, values: st.SearchStrategy[Any] = yaml_values) -> Any:
    doc: Any = copy.deepcopy(draw(st.sampled_from([SEED, RICH_SEED])))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(_paths(doc)))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        node = parent[path[-1]] if path else doc
        if action == "delete" and path:
            del parent[path[-1]]
        elif action == "add" and isinstance(node, dict):
            key = draw(
                st.sampled_from(FIELD_NAMES) | st.sampled_from(PARAM_NAMES) | st.text(max_size=8)
            )
            node[key] = draw(values)
        elif action == "add" and isinstance(node, list):
            node.insert(draw(st.integers(0, len(node))), draw(values))
        else:
            doc = _set(doc, path, draw(values))
    return doc


@MANY
@given(mutated_seed())
def test_mutated_seed_as_dict(doc: Any) -> None:
    run_all(doc, connections=CATALOG)


@MEDIUM
@given(mutated_seed(), st.sampled_from([False, True]))
def test_mutated_seed_as_yaml(doc: Any, flow: bool) -> None:
    run_all(_dump(doc, flow), connections=CATALOG)


@MANY
@given(plausible_operation(), st.sampled_from(["dict", "block", "flow"]))
def test_plausible_operations_with_odd_leaves(doc: dict[str, Any], form: str) -> None:
    source: Any = doc if form == "dict" else _dump(doc, flow=form == "flow")
    run_all(source, connections=CATALOG)


@MEDIUM
@given(mutated_seed(python_values))
def test_mutated_seed_with_python_values(doc: Any) -> None:
    run_all(doc, connections=CATALOG)


WRONG_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    float("nan"),
    float("inf"),
    10**30,
    "",
    "x",
    "a b",
    "{{ x }}",
    "{{ destination }}",
    "{% for %}",
    [],
    {},
    ["x"],
    [1, None],
    [[1]],
    [{}],
    {"a": 1},
    {"image": "a:1"},
    datetime.date(2020, 1, 1),
    b"\xff",
]

# Every path of the seed, plus every field a dockerfile init, a run patch or a connection-bearing
# param could have but the seed leaves out.
DOCKERFILE = ("runPatch", "init", 0, "dockerfile")
EXTRA_PATHS: list[tuple[Any, ...]] = [
    *[
        (*DOCKERFILE, key)
        for key in (
            "env",
            "path",
            "copy",
            "postRunCopy",
            "uid",
            "gid",
            "username",
            "filename",
            "workdir",
            "workdirPath",
            "shell",
        )
    ],
    ("runPatch", "init", 0, "file"),
    ("runPatch", "init", 0, "path"),
    ("runPatch", "init", 0, "connection"),
    ("runPatch", "init", 1),
    ("runPatch", "container"),
    ("runPatch", "environment"),
    ("runPatch", "connections"),
    ("runPatch", "volumes"),
    ("runPatch", "sidecars"),
    ("runPatch", "kind"),
    ("params", "cache"),
    ("params", "cache_ttl"),
    ("params", "context"),
    ("params", "destination", "ref"),
    ("params", "destination", "contextOnly"),
    ("patchStrategy",),
    ("termination",),
    ("description",),
    ("tags",),
    ("namespace",),
    ("component",),
    ("pathRef",),
    ("presets",),
]


def _set_creating(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    if isinstance(node, list) and path[-1] == len(node):
        node.append(value)
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    "path",
    [path for path in SEED_PATHS if path] + EXTRA_PATHS,
    ids=lambda path: ".".join(map(str, path)),
)
def test_wrong_type_in_every_field(path: tuple[Any, ...]) -> None:
    for value in WRONG_VALUES:
        doc = _set_creating(copy.deepcopy(SEED), path, copy.deepcopy(value))
        run_all(doc, connections=CATALOG)
        run_all(_dump(doc))


@pytest.mark.parametrize(
    "path", [path for path in _paths(RICH_SEED) if path], ids=lambda path: ".".join(map(str, path))
)
def test_wrong_type_in_every_field_of_a_full_build(path: tuple[Any, ...]) -> None:
    for value in WRONG_VALUES:
        doc = _set(copy.deepcopy(RICH_SEED), path, copy.deepcopy(value))
        run_all(doc, connections=CATALOG)


# -- compile with -P and connection catalogs ---------------------------------------------------------


@MANY
@given(st.one_of(st.just(SEED), mutated_seed()), overrides)
def test_compile_with_random_overrides(doc: Any, params: Any) -> None:
    run_all(doc, params=params)


@MANY
@given(catalog_sources, st.one_of(st.just(SEED), mutated_seed(), operation_like), shapes)
def test_compile_with_random_connection_catalogs(
    source: Any, doc: Any, secret_shapes: dict[str, SecretShape]
) -> None:
    catalog, _ = attempt(load_connections, source)
    if catalog is not None:
        run_all(doc, connections=catalog, shapes=secret_shapes)
        run_all(doc, connections=catalog, shapes=secret_shapes, params=["cache=false"])


@MEDIUM
@given(
    st.one_of(
        st.lists(connection_like, max_size=3).map(_dump),
        st.fixed_dictionaries({"connections": st.lists(connection_like, max_size=3)}).map(_dump),
        yaml_values.map(_dump),
        st.text(max_size=40),
    )
)
def test_connection_catalog_text(text: str) -> None:
    _, error = attempt(load_connections, text)
    check_text_error(text, error)


@MEDIUM
@given(
    st.lists(connection_like, min_size=1, max_size=3),
    st.sampled_from(["docker-connection", "{{ 'x' }}", ""]),
)
def test_connection_catalog_is_used_by_the_build(
    connections: list[Any], param_connection: str
) -> None:
    # Route the destination through a connection of the catalog so its url/secret are wired in.
    catalog, _ = attempt(load_connections, connections)
    if catalog is None:
        return
    doc = copy.deepcopy(SEED)
    names = catalog.names()
    doc["params"]["destination"]["connection"] = names[0] if names else param_connection
    doc["runPatch"]["connections"] = names
    run_all(
        doc,
        connections=catalog,
        shapes={n: SecretShape.DOCKERCONFIGJSON for n in ("docker-conf", "regcred")},
    )


# -- deterministic reproductions of what the properties above found --------------------------------

_DEEP: dict[str, Any] = {"a": None}
for _ in range(3000):
    _DEEP = {"a": _DEEP}


def _load_connections_from(text: str) -> None:
    _, error = attempt(load_connections, text)
    check_text_error(text, error)


REGRESSIONS = [
    # Escapes: something other than a PolymagicError comes out.
    pytest.param(lambda: run_all("a\x00b.yaml"), id="nul-in-path-like-text"),
    pytest.param(
        lambda: run_all(_with(("runPatch", "container"), {"resources": _DEEP})),
        id="deep-dict-in-container",
    ),
    pytest.param(
        lambda: run_all(with_run_patch("  container: {resources: &a {limits: *a}}\n")),
        id="yaml-self-reference-in-container",
    ),
    pytest.param(
        lambda: run_all(with_run_patch("  environment: {labels: &a {x: *a}}\n")),
        id="yaml-self-reference-in-environment",
    ),
    pytest.param(
        lambda: run_all(_with(("runPatch", "container"), _loop_dict())),
        id="python-self-reference-in-container",
    ),
    pytest.param(
        lambda: run_all(SEED_TEXT.replace("params:\n", "params:\n  cache_ttl: &a {x: *a}\n")),
        id="yaml-self-reference-in-param",
    ),
    pytest.param(
        lambda: run_all(SEED_TEXT + "queue: &a [*a]\n"), id="yaml-self-reference-in-server-field"
    ),
    pytest.param(lambda: run_all({**SEED, "queue": {(1,): 1}}), id="tuple-key-in-server-field"),
    pytest.param(
        lambda: run_all(with_run_patch("  container: {resources: {limits: !!binary /w==}}\n")),
        id="yaml-binary-in-container",
    ),
    pytest.param(
        lambda: run_all(with_run_patch("  environment: {tolerations: [{key: !!binary /w==}]}\n")),
        id="yaml-binary-in-tolerations",
    ),
    pytest.param(
        lambda: run_all(_with(("runPatch", "container"), {"resources": {"limits": _Opaque()}})),
        id="unserializable-object-in-container",
    ),
    pytest.param(
        lambda: run_all(_with(("runPatch", "container"), {"args": ["{{ 'a' * 2 ** 62 }}"]})),
        id="template-memory-error",
    ),
    pytest.param(lambda: run_all("[" * 1000 + "]" * 1000), id="deep-flow-list-recursion"),
    # Messages that are not one line (user input echoed raw, libyaml's two-line reader error).
    pytest.param(lambda: run_all("kind: operation\x01\n"), id="control-character-in-text"),
    pytest.param(lambda: run_all(_with(("name",), "a\nb")), id="newline-in-name"),
    pytest.param(lambda: run_all({**SEED, "\x85": 1}), id="line-break-in-unknown-key"),
    pytest.param(lambda: run_all(SEED, params=["\x1e"]), id="line-break-in-P-item"),
    pytest.param(lambda: run_all(SEED, params=["a\nb=1"]), id="newline-in-P-name"),
    pytest.param(lambda: run_all("\r.yaml"), id="line-break-in-path"),
    pytest.param(
        lambda: run_all({**_without("hubRef"), "pathRef": "\r"}), id="line-break-in-pathRef"
    ),
    pytest.param(
        lambda: attempt(load_connections, [{"name": "\n", "kind": "registry"}]),
        id="newline-in-connection-name",
    ),
    # Lines that do not exist in the text (libyaml puts the end of input on the line after).
    pytest.param(lambda: run_all("["), id="unclosed-flow-list-line"),
    pytest.param(
        lambda: run_all("kind: operation\nhubRef: [kaniko"), id="unclosed-flow-list-last-line"
    ),
    pytest.param(lambda: run_all("---"), id="empty-document-line"),
    # A validation error for YAML text without a line.
    pytest.param(
        lambda: run_all(SEED_TEXT + "termination: {timeout: 99999999999999999999}\n"),
        id="huge-int-without-line",
    ),
    # A catalog that is not a list says nothing about where.
    pytest.param(lambda: _load_connections_from("{}\n"), id="catalog-mapping-without-line"),
]


def _without(*keys: str) -> dict[str, Any]:
    doc = copy.deepcopy(SEED)
    for key in keys:
        del doc[key]
    return doc


@pytest.mark.parametrize("case", REGRESSIONS)
def test_regression(case: Callable[[], Any]) -> None:
    case()


@pytest.mark.parametrize("depth", [100_000, 1_000_000], ids=lambda d: f"depth{d}")
@pytest.mark.parametrize("closed", [False, True], ids=["unclosed", "closed"])
def test_very_deep_nesting_does_not_crash_the_interpreter(depth: int, closed: bool) -> None:
    """Run in a child process: a C-level stack overflow would kill the test run (and a notebook kernel)."""
    text_expr = f"'[' * {depth}" + (f" + ']' * {depth}" if closed else "")
    script = (
        "from polymagic.errors import PolymagicError\n"
        "from polymagic.spec.loader import load_operation\n"
        "try:\n"
        f"    load_operation({text_expr})\n"
        "except PolymagicError:\n"
        "    print('polymagic-error')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=str(_REPO)
    )
    failure = f"exit code {result.returncode}; stderr tail: {result.stderr[-300:]!r}"
    assert result.returncode == 0, failure
    assert "polymagic-error" in result.stdout, failure


_DOCKERFILE_UNDER_RUN_PATCH = (
    "kind: operation\nhubRef: kaniko\nrunPatch:\n  init:\n  - dockerfile:\n      image: a:1\n"
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("kind: operation\nhubRef: kaniko\nfoo: 1\n", 3, id="unknown-key"),
        pytest.param(
            _DOCKERFILE_UNDER_RUN_PATCH + "      uid: [1]\n",
            7,
            id="wrong-type-deep",
        ),
        pytest.param("kind: operation\nhubRef: kaniko\n1: 2\n", 3, id="int-key"),
        pytest.param("kind: operation\nhubRef: kaniko\n~: 2\n", 3, id="null-key"),
        pytest.param("kind: operation\nhubRef: kaniko\ntrue: 2\n", 3, id="bool-key"),
        pytest.param(
            _DOCKERFILE_UNDER_RUN_PATCH + "      1: x\n",
            7,
            id="int-key-deep",
        ),
    ],
)
def test_validation_error_points_at_the_offending_line(text: str, line: int) -> None:
    _, error = attempt(load_operation, text)
    assert isinstance(error, SpecError)
    assert error.line == line, f"{error!r}"
