"""The oracle harness reproduces every golden case in tests/conformance exactly.

Owns the proof that ``tests.oracle.harness`` drives the real Polyaxon the way the golden
files were generated: each ``dockerfile/NAME.json`` renders byte for byte to
``NAME.Dockerfile``, each body of ``dockerfile/rejected.json`` is rejected, and each
``compile/NAME/`` case resolves to ``expected.json`` (compared after the notes of
conformance/README.md: empty args dropped, env values compared as strings). All golden
cases go to the oracle in one batch.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import oracle_python, run_oracle

pytestmark = pytest.mark.oracle

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = REPO / "tests" / "conformance"
DOCKERFILES = CONFORMANCE / "dockerfile"
COMPILES = CONFORMANCE / "compile"
KANIKO_COMPONENT = REPO / "polymagic" / "spec" / "hub" / "kaniko-1.2.yaml"

DOCKERFILE_NAMES = sorted(p.stem for p in DOCKERFILES.glob("*.json") if p.name != "rejected.json")
REJECTED_BODIES: list[Any] = json.loads((DOCKERFILES / "rejected.json").read_text(encoding="utf-8"))
COMPILE_NAMES = sorted(p.name for p in COMPILES.iterdir() if p.is_dir())


def _compile_case(name: str) -> dict[str, Any]:
    folder = COMPILES / name
    params_file = folder / "params"
    params = (
        [
            line.strip()
            for line in params_file.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        if params_file.exists()
        else []
    )
    return {
        "kind": "compile",
        "op": (folder / "op.yaml").read_text(encoding="utf-8"),
        "params": params,
        "connections": yaml.safe_load((folder / "connections.yaml").read_text(encoding="utf-8"))
        or [],
        "component": yaml.safe_load(KANIKO_COMPONENT.read_text(encoding="utf-8")),
    }


def _normalize_run(run: dict[str, Any]) -> dict[str, Any]:
    """Apply conformance/README.md: drop "" args, compare env values as strings."""
    run = copy.deepcopy(run)
    container = run.get("container")
    if isinstance(container, dict):
        if isinstance(container.get("args"), list):
            container["args"] = [a for a in container["args"] if a != ""]
        for env_var in container.get("env") or []:
            if isinstance(env_var, dict) and env_var.get("value") is not None:
                env_var["value"] = str(env_var["value"])
    return run


@pytest.fixture(scope="module")
def oracle_results() -> dict[tuple[str, str], dict[str, Any]]:
    """Every golden case through the oracle in one batch, keyed by (group, name)."""
    keyed: list[tuple[tuple[str, str], dict[str, Any]]] = []
    for name in DOCKERFILE_NAMES:
        body = json.loads((DOCKERFILES / f"{name}.json").read_text(encoding="utf-8"))
        keyed.append((("dockerfile", name), {"kind": "dockerfile", "body": body}))
    for index, body in enumerate(REJECTED_BODIES):
        keyed.append((("rejected", str(index)), {"kind": "dockerfile", "body": body}))
    for name in COMPILE_NAMES:
        keyed.append((("compile", name), _compile_case(name)))
    results = run_oracle([case for _, case in keyed])
    return {key: result for (key, _), result in zip(keyed, results, strict=True)}


def test_golden_sets_are_present() -> None:
    assert DOCKERFILE_NAMES, "no dockerfile goldens found"
    assert REJECTED_BODIES, "no rejected dockerfile bodies found"
    assert COMPILE_NAMES, "no compile goldens found"


def test_oracle_python_is_cached() -> None:
    first = oracle_python()
    assert first.exists()
    assert oracle_python() == first


@pytest.mark.parametrize("name", DOCKERFILE_NAMES)
def test_dockerfile_golden(
    name: str, oracle_results: dict[tuple[str, str], dict[str, Any]]
) -> None:
    result = oracle_results[("dockerfile", name)]
    assert "error" not in result, result["error"]
    expected = (DOCKERFILES / f"{name}.Dockerfile").read_bytes().decode("utf-8")
    assert result["ok"] == expected


@pytest.mark.parametrize("index", range(len(REJECTED_BODIES)))
def test_dockerfile_rejected(
    index: int, oracle_results: dict[tuple[str, str], dict[str, Any]]
) -> None:
    result = oracle_results[("rejected", str(index))]
    assert "ok" not in result, f"accepted {REJECTED_BODIES[index]!r}: {result}"
    # Rejected by Polyaxon's schema validation, not by a broken oracle.
    assert re.match(r"\d+ validation errors? for V1DockerfileType\n", result["error"]), result[
        "error"
    ]


@pytest.mark.parametrize("name", COMPILE_NAMES)
def test_compile_golden(name: str, oracle_results: dict[tuple[str, str], dict[str, Any]]) -> None:
    result = oracle_results[("compile", name)]
    assert "error" not in result, result["error"]
    expected = json.loads((COMPILES / name / "expected.json").read_text("utf-8"))
    assert _normalize_run(result["ok"]) == _normalize_run(expected)


def test_oracle_reports_errors_per_case() -> None:
    cases: list[dict[str, Any]] = [
        {"kind": "dockerfile", "body": {"image": "python:3.11"}},
        {"kind": "no-such-kind"},
        {"kind": "compile", "op": "kind: operation\nhubRef: kaniko\n", "params": ["x"]},
    ]
    ok, unknown, bad_param = run_oracle(cases)
    assert ok["ok"].startswith("\nFROM python:3.11\n")
    assert "error" in unknown
    assert bad_param == {"error": "Invalid format for -P parameter: 'x'. Use -P name=value."}
