"""Robustness of reading Python structures: arbitrary nesting, self-references, mutations of the
quick start and of a full build, and a wrong-typed value in every field.

The mutations start from valid operations and change one to three things, so most examples get
past the loader; each property test holds floors on how many load, compile and render manifests
(:mod:`tests.reach`).
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from polymagic.render.compiler import compile_operation
from polymagic.spec.loader import load_operation
from tests.reach import Reach
from tests.robustness.chain import (
    CATALOG,
    MANY,
    MEDIUM,
    RICH_SEED,
    SEED,
    attempt,
    dump,
    paths_of,
    run_all,
    set_at,
)
from tests.robustness.strategies import (
    mutated_seed,
    plausible_operation,
    python_keys,
    python_values,
)


def test_arbitrary_python_structures(reach: Reach) -> None:
    @MEDIUM
    @given(st.one_of(python_values, st.dictionaries(python_keys, python_values, max_size=6)))
    @example({})  # the seed whole: the chain runs to the manifests
    def examples(data: Any) -> None:
        reach.example()
        if isinstance(data, dict):
            run_all(data)
            # The noise over a valid operation: it must be refused field by field.
            run_all({**copy.deepcopy(SEED), **data}, reach=reach)
        else:
            # Not a Mapping: still must fail as a PolymagicError, never a TypeError.
            attempt(load_operation, data)
            _, error = attempt(compile_operation, data)
            if error is not None:
                reach.reached("refused")

    examples()
    # Noise is refused (a PolymagicError, one line); an empty dict leaves the seed whole, and
    # that one compiles through to the manifests.
    reach.require(refused=0.2, compiled=0.005, manifests=0.005)


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
    doc: dict[str, Any] = set_at(copy.deepcopy(SEED), path, value)
    return doc


def test_mutated_seed_as_dict(reach: Reach) -> None:
    @MANY
    @given(mutated_seed())
    def examples(doc: Any) -> None:
        reach.example()
        run_all(doc, connections=CATALOG, reach=reach)

    examples()
    reach.require(loaded=0.2, compiled=0.15, manifests=0.15)


def test_mutated_seed_as_yaml(reach: Reach) -> None:
    @MEDIUM
    @given(mutated_seed(), st.sampled_from([False, True]))
    def examples(doc: Any, flow: bool) -> None:
        reach.example()
        run_all(dump(doc, flow), connections=CATALOG, reach=reach)

    examples()
    reach.require(loaded=0.2, compiled=0.15, manifests=0.15)


def test_plausible_operations_with_odd_leaves(reach: Reach) -> None:
    @MANY
    @given(plausible_operation(), st.sampled_from(["dict", "block", "flow"]))
    def examples(doc: dict[str, Any], form: str) -> None:
        reach.example()
        source: Any = doc if form == "dict" else dump(doc, flow=form == "flow")
        run_all(source, connections=CATALOG, reach=reach)

    examples()
    # One to three sub-trees are odd on purpose: few survive, but some must reach the manifests.
    reach.require(loaded=0.06, compiled=0.04, manifests=0.03)


def test_mutated_seed_with_python_values(reach: Reach) -> None:
    @MEDIUM
    @given(mutated_seed(python_values))
    def examples(doc: Any) -> None:
        reach.example()
        run_all(doc, connections=CATALOG, reach=reach)

    examples()
    # Any Python value in a field: what still compiles is a deletion or an added known key.
    reach.require(loaded=0.08, compiled=0.08, manifests=0.08)


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
    [path for path in paths_of(SEED) if path] + EXTRA_PATHS,
    ids=lambda path: ".".join(map(str, path)),
)
def test_wrong_type_in_every_field(path: tuple[Any, ...]) -> None:
    for value in WRONG_VALUES:
        doc = _set_creating(copy.deepcopy(SEED), path, copy.deepcopy(value))
        run_all(doc, connections=CATALOG)
        run_all(dump(doc))


@pytest.mark.parametrize(
    "path",
    [path for path in paths_of(RICH_SEED) if path],
    ids=lambda path: ".".join(map(str, path)),
)
def test_wrong_type_in_every_field_of_a_full_build(path: tuple[Any, ...]) -> None:
    for value in WRONG_VALUES:
        doc = set_at(copy.deepcopy(RICH_SEED), path, copy.deepcopy(value))
        run_all(doc, connections=CATALOG)
