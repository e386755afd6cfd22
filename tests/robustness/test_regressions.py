"""Deterministic reproductions of what the robustness properties found: one case per problem,
each fixed and checked on its own (an escape, a message that is not one line, a line that is not
in the text)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from polymagic.spec.loader import load_connections
from tests.robustness.chain import (
    SEED,
    SEED_TEXT,
    attempt,
    check_text_error,
    run_all,
    set_at,
    with_run_patch,
)
from tests.robustness.strategies import Opaque


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = set_at(copy.deepcopy(SEED), path, value)
    return doc


def _loop_dict() -> dict[str, Any]:
    loop: dict[str, Any] = {"resources": {}}
    loop["resources"]["limits"] = loop["resources"]
    return loop


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
        lambda: run_all(_with(("runPatch", "container"), {"resources": {"limits": Opaque()}})),
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
