"""The test suite's own habits, checked on its source with ``ast``.

- no ``import *``: every shared name is imported by name, so a reader (and mypy) sees where it
  comes from; the cluster fixtures are registered by ``pytest_plugins`` in the root conftest;
- no import from a conftest: constants live in plain modules (``tests/data.py``), fixtures are
  requested by name and never imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _is_conftest(module: str) -> bool:
    return module == "conftest" or module.endswith(".conftest")


def habit_violations(source: str, name: str) -> list[str]:
    """``name:line: what`` for each star import and each import from a conftest in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if any(alias.name == "*" for alias in node.names):
                found.append(f"{name}:{node.lineno}: `from {module} import *`")
            if _is_conftest(node.module or "") or (
                node.level and any(_is_conftest(alias.name) for alias in node.names)
            ):
                found.append(f"{name}:{node.lineno}: imports from a conftest ({module})")
        elif isinstance(node, ast.Import):
            found.extend(
                f"{name}:{node.lineno}: imports a conftest ({alias.name})"
                for alias in node.names
                if _is_conftest(alias.name)
            )
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from tests.cluster.fixtures import *\n",
            ["x.py:1: `from tests.cluster.fixtures import *`"],
        ),
        ("from .fixtures import *\n", ["x.py:1: `from .fixtures import *`"]),
        ("import os\nfrom tests.conftest import SEED\n", ["x.py:2: imports from a conftest"]),
        ("from tests.real_executor.conftest import LOG_DIR\n", ["x.py:1: imports from a conftest"]),
        ("from . import conftest\n", ["x.py:1: imports from a conftest"]),
        ("import tests.conftest\n", ["x.py:1: imports a conftest (tests.conftest)"]),
        ("def f() -> None:\n    from tests.conftest import SEED\n", ["x.py:2: imports from"]),
        ("from tests.data import SEED\nimport conftest_helpers\n", []),
    ],
)
def test_the_checker_finds_star_imports_and_conftest_imports(
    source: str, expected: list[str]
) -> None:
    found = habit_violations(source, "x.py")

    assert len(found) == len(expected)
    assert all(f.startswith(e) for f, e in zip(found, expected, strict=True))


def test_no_test_module_star_imports_or_imports_from_a_conftest() -> None:
    sources = sorted(TESTS.rglob("*.py"))
    found = [
        v
        for path in sources
        for v in habit_violations(path.read_text(), str(path.relative_to(TESTS)))
    ]

    assert len(sources) > 50  # the scan really reads the suite
    assert found == [], (
        "import shared names by name from a plain module (e.g. tests/data.py), never `*` and "
        "never from a conftest: " + "; ".join(found)
    )


# -- pytest.raises says what it expects ---------------------------------------------------------


def raises_without_match(source: str, name: str) -> list[str]:
    """``name:line`` of each ``pytest.raises(...)`` call without ``match=``: it would pass on any
    error of that type, the wrong one included."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "raises"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "pytest"
            and not any(k.arg == "match" or k.arg is None for k in node.keywords)
        ):
            found.append(f"{name}:{node.lineno}")
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("with pytest.raises(ValueError):\n    f()\n", ["x.py:1"]),
        ("with pytest.raises(ValueError) as caught:\n    f()\n", ["x.py:1"]),
        ("with pytest.raises((A, B)):\n    f()\n", ["x.py:1"]),
        ("x = 1\nwith pytest.raises(ValueError, match='bad'):\n    f()\n", []),
        ("with pytest.raises(ValueError, **kw):\n    f()\n", []),
        ("with raises(ValueError):\n    f()\n", []),  # not pytest's (or imported by name)
        ("pytest.raises(ValueError, f)\n", ["x.py:1"]),
    ],
)
def test_the_checker_finds_pytest_raises_without_match(source: str, expected: list[str]) -> None:
    assert raises_without_match(source, "x.py") == expected


def test_every_pytest_raises_says_which_error_it_expects() -> None:
    sources = sorted(TESTS.rglob("*.py"))
    found = [
        v
        for path in sources
        for v in raises_without_match(path.read_text(), str(path.relative_to(TESTS)))
    ]

    assert len(sources) > 50  # the scan really reads the suite
    assert found == [], (
        "give each pytest.raises a match= (the message, or the fragment naming what went "
        "wrong), so it cannot pass on another error of the same type: " + ", ".join(found)
    )
