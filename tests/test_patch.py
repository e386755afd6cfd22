"""runPatch strategies: the reference table's example, strategy by strategy."""

from __future__ import annotations

from typing import Any

import pytest

from polymagic.spec.documents import PatchStrategy
from polymagic.spec.patch import patch_run

BASE: dict[str, Any] = {
    "kind": "job",
    "init": [{"git": {"url": "https://x/r.git"}}],
    "container": {
        "image": "img:1",
        "command": ["sh"],
        "args": ["a", "b"],
        "env": [{"name": "X", "value": "1"}],
        "resources": {"requests": {"cpu": 1}},
    },
}
PATCH: dict[str, Any] = {
    "init": [{"dockerfile": {"image": "python:3.11"}}],
    "container": {
        "image": "img:2",
        "args": ["c"],
        "env": [{"name": "Y", "value": "2"}],
        "resources": {"limits": {"cpu": 2}},
    },
}
GIT, DOCKERFILE = BASE["init"][0], PATCH["init"][0]
X, Y = BASE["container"]["env"][0], PATCH["container"]["env"][0]


def test_post_merge_is_the_default() -> None:
    run = patch_run(BASE, PATCH)
    assert run["init"] == [GIT, DOCKERFILE]
    container = run["container"]
    assert (container["image"], container["command"], container["args"]) == (
        "img:2",
        ["sh"],
        ["a", "b", "c"],
    )
    assert container["env"] == [X, Y]
    assert container["resources"] == {"requests": {"cpu": 1}, "limits": {"cpu": 2}}


def test_pre_merge_puts_the_patch_first_and_keeps_base_values() -> None:
    run = patch_run(BASE, PATCH, PatchStrategy.PRE_MERGE)
    assert run["init"] == [DOCKERFILE, GIT]
    container = run["container"]
    assert (container["image"], container["args"], container["env"]) == (
        "img:1",
        ["c", "a", "b"],
        [Y, X],
    )


def test_replace_keeps_container_attributes_the_patch_does_not_name() -> None:
    run = patch_run(BASE, PATCH, PatchStrategy.REPLACE)
    assert run["init"] == [DOCKERFILE]
    container = run["container"]
    assert (container["image"], container["command"], container["args"]) == ("img:2", ["sh"], ["c"])
    assert container["env"] == [Y]
    assert container["resources"] == {"limits": {"cpu": 2}}


def test_isnull_fills_only_empty_fields() -> None:
    assert patch_run(BASE, PATCH, PatchStrategy.ISNULL) == BASE
    filled = patch_run(
        {"kind": "job", "container": {"image": "a"}},
        {"init": [DOCKERFILE], "container": {"image": "b", "args": ["x"]}},
        PatchStrategy.ISNULL,
    )
    assert filled["init"] == [DOCKERFILE]
    assert filled["container"] == {"image": "a", "args": ["x"]}


@pytest.mark.parametrize("strategy", list(PatchStrategy))
def test_inputs_are_not_mutated(strategy: PatchStrategy) -> None:
    before = repr(BASE), repr(PATCH)
    patch_run(BASE, PATCH, strategy)
    assert (repr(BASE), repr(PATCH)) == before


def test_post_merge_skips_items_already_present() -> None:
    run = patch_run({"container": {"args": ["-c", "x"]}}, {"container": {"args": ["--y", "-c"]}})
    assert run["container"]["args"] == ["-c", "x", "--y"]


def test_environment_is_patched_field_by_field() -> None:
    run = patch_run(
        {"environment": {"labels": {"a": "1"}, "nodeSelector": {"n": "1"}}},
        {"environment": {"labels": {"b": "2"}, "serviceAccountName": "sa"}},
    )
    assert run["environment"] == {
        "labels": {"a": "1", "b": "2"},
        "nodeSelector": {"n": "1"},
        "serviceAccountName": "sa",
    }
