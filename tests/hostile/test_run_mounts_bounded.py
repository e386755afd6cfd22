"""A hostile Dockerfile's ``RUN --mount`` options are read in bounded time and memory: a RUN
line of hundreds of thousands of mount options, or one huge option, is read within the bound of
a child process and refused or passed in one line."""

from __future__ import annotations

import json

import pytest

from tests.hostile.bounded import run_bounded

CODE = """
import json, sys
from polymagic.errors import SpecError
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from tests.data import SEED
import yaml
op = yaml.safe_load(SEED)
op["runPatch"]["init"][0]["dockerfile"]["run"] = [sys.stdin.read()]
try:
    build_manifests(compile_operation(op))
except SpecError as exc:
    print("refused:", str(exc)[:200])
else:
    print("built")
"""

CASES = {
    "many-mounts": "--mount=type=cache,target=/c " * 200_000 + "true",
    "huge-option": "--mount=type=secret,id=" + "a" * 8_000_000 + " true",
    "many-commas": "--mount=type=cache" + ",x=y" * 1_000_000 + " true",
    "unbalanced-quotes": "--mount=type=cache,target='/c " + "'x" * 500_000,
}


@pytest.mark.parametrize("line", CASES.values(), ids=CASES.keys())
def test_a_hostile_mount_line_ends_in_time(line: str) -> None:
    result = run_bounded(CODE, stdin=line.encode())
    assert not result.timed_out, result.explain()
    assert result.returncode == 0, result.explain()
    said = result.stdout.strip()
    assert said == "built" or said.startswith("refused: "), json.dumps(said[:300])
