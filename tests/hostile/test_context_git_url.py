"""A git URL carrying a token, from the operation file or from ``-P``: ``polymagic render``
refuses it with one line on stderr, and the token appears nowhere in its output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.data import REGISTRY, SEED
from tests.hostile.bounded import run_cli_bounded
from tests.hostile.test_context_dockerignore import one_error_line

TOKEN = "ghp_0123456789abcdefTOKEN"


def render_args(folder: Path, url: str, params: list[str]) -> list[str]:
    op = yaml.safe_load(SEED)
    op["params"]["repo"] = {"value": "github.com/acme/app", "contextOnly": True}
    op["runPatch"]["init"].insert(0, {"git": {"url": url, "revision": "main"}})
    (folder / "op.yaml").write_text(yaml.safe_dump(op))
    (folder / "connections.yaml").write_text(yaml.safe_dump(REGISTRY))
    connections = str(folder / "connections.yaml")
    return ["render", str(folder / "op.yaml"), "--connections", connections, *params]


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (f"https://alice:{TOKEN}@github.com/acme/app", [], "runPatch.init[0].git.url"),
        ("{{ repo }}", ["-P", f"repo=https://{TOKEN}@github.com/acme/app"], "run.init[0].git.url"),
    ],
    ids=["in-the-file", "from-P"],
)
def test_a_token_in_a_git_url_is_refused_and_never_printed(
    tmp_path: Path, url: str, params: list[str], field: str
) -> None:
    result = run_cli_bounded(render_args(tmp_path, url, params))

    line = one_error_line(result)
    assert f"{field}: `https://***@github.com/acme/app` carries credentials" in line
    assert "GIT_USERNAME and GIT_PASSWORD" in line
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"https://robot:{TOKEN}@registry.example.com/org",
        f"robot:{TOKEN}@registry.example.com/org",
    ],
    ids=["with-scheme", "bare"],
)
def test_a_password_in_a_registry_connection_url_is_refused_and_never_printed(
    tmp_path: Path, url: str
) -> None:
    catalog = [{**REGISTRY[0], "schema": {"url": url}}]
    (tmp_path / "op.yaml").write_text(SEED)
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(catalog))
    argv = [
        "render",
        str(tmp_path / "op.yaml"),
        "--connections",
        str(tmp_path / "connections.yaml"),
    ]
    result = run_cli_bounded(argv)

    line = one_error_line(result)
    assert "***@registry.example.com/org` carries credentials" in line
    assert "kubectl create secret docker-registry" in line
    assert TOKEN not in result.stdout + result.stderr
