"""The failure fix reads Kaniko's error line, which a RUN step can forge (an unprefixed line that
starts like Kaniko's fatal errors): hostile lines get an answer within the bound."""

from __future__ import annotations

import pytest

from tests.hostile.bounded import run_bounded

SETUP = """
from polymagic.outcome.pod_state import executor_fix
from polymagic.render.compiler import compile_operation
from polymagic.spec.loader import load_connections
from polymagic.render.manifests import build_manifests
from tests.data import REGISTRY, SEED
manifests = build_manifests(compile_operation(SEED, connections=load_connections(REGISTRY)))
"""

LINES = {
    "many registry URLs": "'error building image: UNAUTHORIZED ' + 'https://a/v2/' * 100_000",
    "many manifest URLs": "'error building image: ' + 'https://a/v2/b/manifests/' * 50_000 + 'x'",
    "a long path before MANIFEST_UNKNOWN": (
        "'error building image: https://h/v2/' + 'a/' * 500_000 + 'manifests/1 MANIFEST_UNKNOWN'"
    ),
    "no spaces at all": "'https://' + 'x' * 2_000_000 + '/v2/' + 'y/manifests/' * 1000",
}


@pytest.mark.parametrize("expression", LINES.values(), ids=LINES.keys())
def test_a_hostile_error_line_gets_an_answer_in_time(expression: str) -> None:
    result = run_bounded(SETUP + f"print(repr(executor_fix({expression}, manifests))[:80])")
    assert result.returncode == 0, result.explain()
    assert result.seconds < 5, result.explain()
