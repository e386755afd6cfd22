"""Hostile ``.dockerignore`` files: backtracking patterns, many lines, an oversized file.

Each case ends well inside the child's bound (10 s, 1 GiB) with the right answer, or with exit
status 2 and one line on stderr.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from tests.data import REGISTRY, SEED
from tests.hostile.bounded import Bounded, run_bounded, run_cli_bounded

CORPUS = Path(__file__).parent / "context"


def write_operation(folder: Path, copy: list[object]) -> list[str]:
    """An operation in ``folder`` that copies ``copy`` from it; the ``render`` arguments."""
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["copy"] = copy
    (folder / "op.yaml").write_text(yaml.safe_dump(op))
    (folder / "connections.yaml").write_text(yaml.safe_dump(REGISTRY))
    return ["render", str(folder / "op.yaml"), "--connections", str(folder / "connections.yaml")]


def one_error_line(result: Bounded) -> str:
    """The single ``polymagic: error:`` line of a child that refused its input."""
    assert not result.timed_out, result.explain()
    assert result.returncode == 2, result.explain()
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.explain()
    assert lines[0].startswith("polymagic: error: "), result.explain()
    return lines[0]


MATCH_CORPUS = """
import json, sys
from polymagic.render.dockerignore import parse_dockerignore
ignore = parse_dockerignore(open(sys.argv[1]).read())
paths = json.loads(sys.argv[2])
print(json.dumps([ignore.excludes(p) for p in paths]))
"""

DEEP = "/".join(["a"] * 40)
PATHS = ["a" * 40, "a" * 39 + "b", DEEP, DEEP + "/x", "a/" + "/".join(["b"] * 40) + "/x"]


@pytest.mark.parametrize(
    ("corpus", "expected"),
    [
        ("star-run.dockerignore", [False, True, False, False, False]),
        ("doublestar-run.dockerignore", [False, False, False, True, True]),
        ("mixed.dockerignore", [False, True, False, False, False]),
    ],
    ids=["star-run", "doublestar-run", "mixed"],
)
def test_backtracking_patterns_are_matched_in_linear_time(
    corpus: str, expected: list[bool]
) -> None:
    code = MATCH_CORPUS.replace("sys.argv[1]", repr(str(CORPUS / corpus))).replace(
        "sys.argv[2]", repr(json.dumps(PATHS))
    )

    result = run_bounded(code)

    assert not result.timed_out, result.explain()
    assert result.returncode == 0, result.explain()
    assert json.loads(result.stdout) == expected
    assert result.cpu_seconds < 5, result.explain()


@pytest.mark.parametrize(
    "corpus", ["star-run.dockerignore", "doublestar-run.dockerignore", "mixed.dockerignore"]
)
def test_a_cloned_folder_with_a_backtracking_dockerignore_renders(
    tmp_path: Path, corpus: str
) -> None:
    (tmp_path / ".dockerignore").write_text((CORPUS / corpus).read_text())
    (tmp_path / ("a" * 40)).write_text("x")
    (tmp_path / DEEP).mkdir(parents=True)
    (tmp_path / DEEP / "x").write_text("x")
    argv = write_operation(tmp_path, ["."])

    result = run_cli_bounded([*argv, "--only", "manifests"])

    assert not result.timed_out, result.explain()
    assert result.returncode == 0, result.explain()
    assert "kind: ConfigMap" in result.stdout


def test_a_dockerignore_with_six_thousand_patterns_ends_in_time(tmp_path: Path) -> None:
    rng = random.Random(8)
    words = ["".join(rng.choice("abcdefgh") for _ in range(3)) for _ in range(6_000)]
    lines = [f"*{w[0]}*{w[1]}*{w[2]}*" if i % 2 else f"**/{w}*.py" for i, w in enumerate(words)]
    (tmp_path / ".dockerignore").write_text("\n".join(lines))
    for n in range(2_000):
        name = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 12)))
        folder = tmp_path / f"d{n % 20}"
        folder.mkdir(exist_ok=True)
        (folder / f"{name}{n}.py").write_text("")
    argv = write_operation(tmp_path, ["."])

    result = run_cli_bounded([*argv, "--only", "manifests"])

    if result.returncode == 0:
        assert "kind: ConfigMap" in result.stdout
    else:
        assert "takes more than 10,000,000 steps" in one_error_line(result)
    assert result.cpu_seconds < 8, result.explain()


def test_an_oversized_dockerignore_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*a*a*a*a*a*a*a*a*a*b\n" * 4_000)  # 84 KB
    (tmp_path / "app.py").write_text("")
    argv = write_operation(tmp_path, ["app.py"])

    line = one_error_line(run_cli_bounded(argv))

    assert "is larger than 64 KiB, more than polymagic reads" in line
