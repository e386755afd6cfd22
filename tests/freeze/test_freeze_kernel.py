"""``%polybuild freeze`` in a real kernel of a throwaway venv with known packages in every shape.

The kernel runs the venv's own Python (ipykernel), so it sees exactly what is installed there:
index packages, an editable local package, a package installed from a local git repository, and
the notebook tooling. The command line is checked against the same interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.freeze.kernel_client import Kernel
from tests.freeze.kernel_venv import FreezeKernel

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).parent / "golden"
DESTINATION = "registry.example.com/org/frozen"


def _requirements(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _operation(next_input: str | None) -> str:
    assert next_input is not None
    assert next_input.startswith("%%polybuild\n"), next_input
    return next_input[len("%%polybuild\n") :]


def test_default_freeze_pins_the_packages_and_leaves_out_the_tooling(
    kernel: Kernel, venv: FreezeKernel, tmp_path: Path
) -> None:
    done = kernel.run(f"%polybuild freeze --destination {DESTINATION}")
    assert done.error is None, done.error
    written = (tmp_path / "work" / "requirements.txt").read_text()
    pinned = _requirements(written)
    for package in ("attrs==23.2.0", "cattrs==23.2.3", "six==1.16.0"):
        assert package in pinned
    names = {line.split("==")[0].split(" @ ")[0].lower() for line in pinned}
    tooling = {"ipykernel", "ipython", "polymagic", "pip", "setuptools", "kubernetes", "pydantic",
               "debugpy", "comm", "jedi"}  # fmt: skip
    assert not names & tooling, names & tooling
    # A local git repository is not where the image can clone from: flagged, never active.
    assert "gitpkg" not in names
    assert f"# gitpkg==0.1.0: installed from a local repository ({venv.git_repository})" in written
    # The editable package is flagged, listed, and never pinned as if it came from an index.
    assert "localpkg" not in names
    assert f"# localpkg==0.1.0: an editable install ({venv.local_package})" in written
    assert any("localpkg==0.1.0: an editable install" in text for text in done.texts)
    summary = next(text for text in done.texts if text.startswith("polymagic freeze:"))
    assert summary.startswith("polymagic freeze: ")
    assert "5 needing attention" in summary  # localpkg, hatchpkg, flitpkg, pdmpkg, gitpkg


def test_imported_gives_exactly_the_imported_package_and_its_closure(
    kernel: Kernel, tmp_path: Path
) -> None:
    assert kernel.run("import cattrs").error is None
    done = kernel.run(f"%polybuild freeze --imported --destination {DESTINATION}")
    assert done.error is None, done.error
    requirements = _requirements((tmp_path / "work" / "requirements.txt").read_text())
    expected = {"attrs==23.2.0", "cattrs==23.2.3"}
    if sys.version_info < (3, 11):  # cattrs' own markers: only older Pythons need these two
        expected |= {line for line in requirements if line.startswith(("exceptiongroup", "typing"))}
    assert set(requirements) == expected, done.texts


def test_markers_are_evaluated_for_the_target_python(kernel: Kernel, tmp_path: Path) -> None:
    """gitpkg requires six only on Python < 3.0: importing gitpkg must not bring six (gitpkg
    itself, from a local repository, is a comment and a warning; what it requires is pinned)."""
    assert kernel.run("import gitpkg").error is None
    done = kernel.run(f"%polybuild freeze --imported --destination {DESTINATION}")
    assert done.error is None, done.error
    written = (tmp_path / "work" / "requirements.txt").read_text()
    assert _requirements(written) == ["attrs==23.2.0"]
    assert "# gitpkg==0.1.0: installed from a local repository" in written


def test_the_generated_cell_renders_the_golden_dockerfile(kernel: Kernel) -> None:
    done = kernel.run(f"%polybuild freeze --destination {DESTINATION} --base python:3.11-slim")
    assert done.error is None, done.error
    operation = _operation(done.next_input)
    rendered = kernel.run("%%polybuild --dry-run --show dockerfile\n" + operation)
    assert rendered.error is None, rendered.error
    golden = (GOLDEN / "freeze.Dockerfile").read_text()
    # The whole view: the golden Dockerfile, then the linter's one finding (no USER line).
    view = f"# Dockerfile\n{golden}\nlint findings (1):\nPM004 no USER line: the image runs as root"
    assert view in rendered.texts, rendered.texts
    # The view the freeze itself showed is the same Dockerfile.
    assert view in done.texts, done.texts


def test_an_existing_requirements_file_is_kept_without_force(
    kernel: Kernel, tmp_path: Path
) -> None:
    (tmp_path / "work" / "requirements.txt").write_text("mine==1\n")
    done = kernel.run("%polybuild freeze")
    assert done.error is not None
    assert "already exists: pass --force" in done.error
    assert (tmp_path / "work" / "requirements.txt").read_text() == "mine==1\n"
    assert done.next_input is None


def test_the_command_line_gives_the_same_operation_for_the_same_interpreter(
    kernel: Kernel, venv: FreezeKernel, tmp_path: Path
) -> None:
    done = kernel.run(f"%polybuild freeze --destination {DESTINATION} --connection reg")
    assert done.error is None, done.error
    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMAGIC_", "PYTHONPATH"))}
    command = subprocess.run(
        [str(venv.python), "-m", "polymagic", "freeze", "--destination", DESTINATION,
         "--connection", "reg"],
        cwd=cli_dir, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert command.returncode == 0, command.stderr
    assert command.stdout == _operation(done.next_input)
    assert (cli_dir / "requirements.txt").read_text() == (
        tmp_path / "work" / "requirements.txt"
    ).read_text()
    assert "localpkg==0.1.0: an editable install" in command.stderr
    assert "gitpkg==0.1.0: installed from a local repository" in command.stderr
    document = yaml.safe_load(command.stdout)
    assert document["params"]["destination"] == {"connection": "reg", "value": DESTINATION}


def test_the_form_starts_from_the_kernel(kernel: Kernel, tmp_path: Path) -> None:
    done = kernel.run(
        "form = %polybuild form --freeze\n"
        "print(form.fields['image'].value, form.fields['run'].value, sorted(form.errors))"
    )
    assert done.error is None, done.error
    assert done.stdout.startswith("python:")
    assert "pip install -r /tmp/requirements.txt" in done.stdout
    assert "'destination'" in done.stdout  # no value yet: the form flags it
    assert (tmp_path / "work" / "requirements.txt").is_file()
