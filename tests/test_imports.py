"""What a command imports, by module name in a fresh interpreter (not by timing): the costly
libraries load only for the work that needs them (issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data import SEED

ROOT = Path(__file__).resolve().parent.parent

# An operation whose inline component holds no `{{ ... }}` anywhere.
PLAIN = """
version: 1.1
kind: operation
name: build
component:
  kind: component
  name: plain
  run:
    kind: job
    container:
      image: gcr.io/kaniko-project/executor:latest
      args: ["-c", "/plx-context/artifacts", "-d", "registry.example.com/org/img:1"]
runPatch:
  init:
  - dockerfile:
      image: "python:3.11-slim"
      run: ["pip install requests"]
"""

WATCHED = (
    "jinja2",
    "subprocess",
    "polymagic.render.lint",
    "kubernetes",
    "ipywidgets",
    "pydantic",
    "yaml",
)


def loaded_after(code: str, cwd: Path) -> set[str]:
    """Which of ``WATCHED`` a new interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {WATCHED!r} if m in sys.modules))\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMAGIC_", "KUBE"))}
    env["HOME"] = str(cwd)
    env["XDG_CONFIG_HOME"] = str(cwd / "config")
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=True,
        timeout=120,
    )
    return set(done.stdout.split())


def compile_code(operation: str) -> str:
    return (
        "from polymagic.render.compiler import compile_operation\n"
        f"build = compile_operation({operation!r})\n"
        "assert build.dockerfiles\n"
    )


def test_an_operation_without_templates_compiles_without_jinja2(tmp_path: Path) -> None:
    assert "jinja2" not in loaded_after(compile_code(PLAIN), tmp_path)


def test_an_operation_with_templates_still_renders_them_with_jinja2(tmp_path: Path) -> None:
    # The hub's kaniko component is full of templates: the sandbox must be there for it.
    assert "jinja2" in loaded_after(compile_code(SEED), tmp_path)


def cli_code(*argv: str) -> str:
    return (
        "import contextlib, io\n"
        "from polymagic.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main({list(argv)!r}) == 0\n"
    )


@pytest.fixture
def op_file(tmp_path: Path) -> Path:
    path = tmp_path / "op.yaml"
    path.write_text(SEED)
    return path


def test_render_without_lint_loads_neither_the_linter_nor_subprocess(
    tmp_path: Path, op_file: Path
) -> None:
    loaded = loaded_after(cli_code("render", str(op_file)), tmp_path)
    assert loaded.isdisjoint({"polymagic.render.lint", "subprocess", "kubernetes", "ipywidgets"})


def test_render_with_lint_loads_the_linter(tmp_path: Path, op_file: Path) -> None:
    loaded = loaded_after(cli_code("render", str(op_file), "--lint"), tmp_path)
    assert {"polymagic.render.lint", "subprocess"} <= loaded


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["render", "--help"]])
def test_help_and_version_load_neither_pydantic_nor_yaml(tmp_path: Path, argv: list[str]) -> None:
    # argparse ends these with SystemExit(0); the command modules are imported per command.
    code = (
        "import contextlib, io\n"
        "from polymagic.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
    )
    assert loaded_after(code, tmp_path).isdisjoint({"pydantic", "yaml", "jinja2", "kubernetes"})
