"""Robustness of reading text: random unicode, random YAML documents, operations written as YAML,
anchors and aliases, several documents, tabs, deep nesting and huge ints.

Each property test counts how far its examples got (:mod:`tests.reach`) and holds a floor per
stage, so it keeps proving something about the code after the YAML parser.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymagic.errors import PolymagicError, SpecError
from polymagic.spec.loader import load_connections, load_operation
from polymagic.spec.yaml_reader import parse_yaml
from tests.reach import Reach
from tests.robustness.chain import (
    CATALOG,
    MANY,
    MEDIUM,
    REPO,
    RICH_SEED,
    SEED_TEXT,
    attempt,
    check_text_error,
    dump,
    paths_of,
    run_all,
    set_at,
    with_run_patch,
)
from tests.robustness.strategies import (
    ANCHOR_FRAGMENTS,
    YAML_ALPHABET,
    catalog_like,
    connection_noise,
    mostly,
    operation_like,
    yaml_values,
)


def _parsed(text: str, reach: Reach) -> None:
    try:
        parse_yaml(text)
    except PolymagicError:
        return
    reach.reached("parsed")


# The quick start with one value replaced by random text, written as a YAML double-quoted scalar
# (JSON's string syntax is YAML's): the document stays valid, the text reaches the fields.
_IMAGE = '"tensorflow/tensorflow:2.0.1-py3"'
seed_with_text = st.one_of(
    st.text().map(lambda text: SEED_TEXT.replace(_IMAGE, json.dumps(text))),
    st.text().map(lambda text: f"{SEED_TEXT}description: {json.dumps(text)}\n"),
)
seed_with_text_inserted = st.tuples(st.integers(0, len(SEED_TEXT)), st.text(max_size=8)).map(
    lambda cut: SEED_TEXT[: cut[0]] + cut[1] + SEED_TEXT[cut[0] :]
)


def test_arbitrary_text(reach: Reach) -> None:
    @MANY
    @given(
        st.one_of(
            st.text(),
            st.text(alphabet=st.characters(codec="utf-8")),
            st.lists(YAML_ALPHABET, max_size=40).map("".join),
            st.builds(
                lambda t, s: t + s,
                st.text(max_size=20),
                st.sampled_from([".yaml", ".yml", ".json"]),
            ),
            seed_with_text,
            seed_with_text_inserted,
        )
    )
    def examples(text: str) -> None:
        reach.example()
        _parsed(text, reach)
        run_all(text, reach=reach)

    examples()
    reach.require(parsed=0.25, loaded=0.05, compiled=0.05, manifests=0.05)


def test_random_yaml_documents(reach: Reach) -> None:
    @MEDIUM
    @given(mostly(operation_like, yaml_values), st.sampled_from([False, True, None]))
    def examples(data: Any, flow: bool | None) -> None:
        reach.example()
        run_all(dump(data, flow), reach=reach)

    examples()
    reach.require(loaded=0.12, compiled=0.1, manifests=0.1)


def test_operation_shaped_documents(reach: Reach) -> None:
    @MEDIUM
    @given(operation_like, st.sampled_from(["ok", "dumped"]))
    def examples(data: dict[str, Any], form: str) -> None:
        reach.example()
        run_all(data if form == "ok" else dump(data), connections=CATALOG, reach=reach)

    examples()
    reach.require(loaded=0.12, compiled=0.1, manifests=0.1)


SENTINEL = "SENTINEL-7c1e"
ANCHORED = "<anchor the value that was there>"
"""A fragment that anchors the value it replaces (``&k0 <value>``): the document stays valid."""


def test_yaml_anchors_aliases_and_odd_scalars(reach: Reach) -> None:
    @MEDIUM
    @given(
        st.lists(
            st.sampled_from([path for path in paths_of(RICH_SEED) if path]), min_size=1, max_size=3
        ),
        st.lists(
            mostly(st.just(ANCHORED), st.sampled_from(ANCHOR_FRAGMENTS)), min_size=3, max_size=3
        ),
        st.booleans(),
    )
    def examples(paths: list[tuple[Any, ...]], fragments: list[str], also_block: bool) -> None:
        reach.example()
        doc = copy.deepcopy(RICH_SEED)
        was: dict[int, Any] = {}
        for index, path in enumerate(paths):
            if path in paths_of(doc):  # not under a value replaced just before
                parent = doc
                for part in path[:-1]:
                    parent = parent[part]
                was[index] = parent[path[-1]]
                doc = set_at(doc, path, f"{SENTINEL}{index}")
        text = dump(doc, flow=True)
        for index, fragment in enumerate(fragments):
            shown = f"&k{index} {json.dumps(was.get(index))}" if fragment == ANCHORED else fragment
            text = text.replace(f"{SENTINEL}{index}", shown)
        _parsed(text, reach)
        run_all(text, connections=CATALOG, reach=reach)
        if also_block:
            # Anchor a block mapping and refer to it from elsewhere.
            run_all(SEED_TEXT.replace("params:\n", "params: &p\n") + "runPatch2: *p\n")

    examples()
    reach.require(parsed=0.4, loaded=0.25, compiled=0.25, manifests=0.25)


def test_multiple_documents_and_tabs(reach: Reach) -> None:
    @MEDIUM
    @given(
        st.integers(min_value=1, max_value=4),
        st.lists(st.integers(min_value=0, max_value=len(SEED_TEXT)), max_size=4),
        st.sampled_from(
            ["---\n", "...\n", "--- ", "\n---\n", "%YAML 1.1\n---\n", "%TAG ! tag:x,2000:\n---\n"]
        ),
    )
    def examples(copies: int, tab_positions: list[int], separator: str) -> None:
        reach.example()
        run_all(separator.join([SEED_TEXT] * copies))
        run_all(separator + SEED_TEXT)
        tabbed = SEED_TEXT
        for position in sorted(tab_positions, reverse=True):
            tabbed = tabbed[:position] + "\t" + tabbed[position:]
        run_all(tabbed, reach=reach)

    examples()
    # A tab where YAML allows one (inside a flow scalar, at a line's end) keeps the build whole.
    reach.require(loaded=0.15, compiled=0.15, manifests=0.15)


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


def test_connection_catalog_text(reach: Reach) -> None:
    @MEDIUM
    @given(
        st.one_of(
            catalog_like().map(dump),
            catalog_like().map(lambda data: dump({"connections": data})),
            st.lists(connection_noise, max_size=3).map(dump),
            yaml_values.map(dump),
            st.text(max_size=40),
        )
    )
    def examples(text: str) -> None:
        reach.example()
        catalog, error = attempt(load_connections, text)
        check_text_error(text, error)
        if catalog is not None:
            reach.reached("catalog")

    examples()
    reach.require(catalog=0.15)


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
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=str(REPO)
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
