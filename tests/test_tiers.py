"""The test tiers and CI's rule that nothing is skipped (:mod:`tests.tiers`), and the executor
script's refusals (``.ci/kaniko-executor.sh``), each run for real in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiers import TESTS, ci_is_set, tiers_of

REPO = TESTS.parent
SCRIPT = REPO / ".ci" / "kaniko-executor.sh"

SKIPPING = """
import pytest

def test_skipped() -> None:
    pytest.skip("the widget is not installed")

def test_passes() -> None:
    assert 1 + 1 == 2
"""


MODULE_SKIP = 'import pytest\npytest.skip("no widget here", allow_module_level=True)\n'
TWO_TIERS = """
import pytest

@pytest.fixture
def control_plane() -> int:
    return 1

def test_needs_a_cluster(control_plane: int) -> None:
    assert control_plane == 1

def test_fast() -> None:
    assert True is not False
"""


def _pytest(folder: Path, ci: str | None, *args: str) -> str:
    """What a pytest run with the tiers plugin prints, in ``folder``."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    # Only the tiers plugin: the child starts in a fraction of the time.
    env.update(PYTHONPATH=str(REPO), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    if ci is not None:
        env["CI"] = ci
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.tiers", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return f"exit {run.returncode}\n{run.stdout}"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("suite")
    (folder / "test_skipping.py").write_text(SKIPPING)
    (folder / "test_module_skip.py").write_text(MODULE_SKIP)
    (folder / "tiers").mkdir()
    (folder / "tiers" / "test_two.py").write_text(TWO_TIERS)
    return folder


def test_under_ci_a_skip_is_a_failure_with_its_reason(suite: Path) -> None:
    shown = _pytest(
        suite,
        "true",
        "-rA",
        "--continue-on-collection-errors",
        "test_skipping.py",
        "test_module_skip.py",
    )

    assert shown.startswith("exit 1"), shown
    assert "1 failed, 1 passed, 1 error" in shown, shown
    assert "skipped under CI" in shown
    assert "the widget is not installed" in shown
    assert "a module skipped under CI" in shown
    assert "no widget here" in shown


def test_outside_ci_a_skip_stays_a_skip_with_its_reason(suite: Path) -> None:
    shown = _pytest(suite, "false", "-rs", "test_skipping.py", "test_module_skip.py")

    assert shown.startswith("exit 0"), shown
    assert "1 passed, 2 skipped" in shown, shown
    assert "the widget is not installed" in shown
    assert "no widget here" in shown


def test_plain_pytest_leaves_the_infrastructure_tiers_out_and_all_tiers_runs_them(
    suite: Path,
) -> None:
    plain = _pytest(suite / "tiers", None)
    every = _pytest(suite / "tiers", None, "--all-tiers")
    named = _pytest(suite / "tiers", None, "test_two.py")

    assert "1 passed, 1 deselected" in plain, plain
    assert "the fast tier only" in plain
    assert "2 passed" in every, every
    assert "2 passed" in named, named  # a file named on the command line runs whole


@pytest.mark.parametrize(
    ("fixtures", "path", "expected"),
    [
        (["namespace", "control_plane", "tmp_path"], "test_build_cluster.py", {"cluster"}),
        (["tls_registry"], "registry/test_registry.py", {"registry"}),
        (["tmp_path"], "real_executor/test_failures.py", {"real_executor"}),
        (["tmp_path"], "oracle/test_oracle_goldens.py", {"oracle"}),
        (["tmp_path"], "differential/test_differential.py", {"oracle"}),
        (
            ["chromium", "offline_kernel_env"],
            "notebook/test_browser_form.py",
            {"browser", "kernel"},
        ),
        (["tmp_path"], "hostile/test_spec_yaml.py", {"hostile"}),
        (["tmp_path", "seed"], "test_compiler.py", set()),
    ],
    ids=[
        "cluster",
        "registry",
        "executor",
        "oracle-dir",
        "oracle-file",
        "browser",
        "hostile",
        "fast",
    ],
)
def test_a_test_is_in_the_tiers_its_fixtures_and_file_bring_up(
    fixtures: list[str], path: str, expected: set[str]
) -> None:
    assert tiers_of(fixtures, TESTS / path) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("false", False), ("0", False), ("no", False), ("true", True),
     ("1", True), ("TRUE", True), ("yes", True)],
)  # fmt: skip
def test_what_counts_as_ci(value: str | None, expected: bool) -> None:
    assert ci_is_set(value) is expected


def _executor_script(
    tmp_path: Path, ci: str | None, source: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(POLYMAGIC_CACHE=str(tmp_path / "cache"), POLYMAGIC_KANIKO_SRC=str(source))
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("ci", [None, "true"])
def test_the_executor_script_refuses_a_source_with_the_wrong_sha256(
    tmp_path: Path, ci: str | None
) -> None:
    altered = tmp_path / "kaniko-1.28.3-src.tar.xz"
    altered.write_bytes(b"not the release")

    run = _executor_script(tmp_path, ci, altered)

    assert run.returncode == 1, run.stdout + run.stderr
    assert "has SHA-256" in run.stderr, run.stderr
    assert "expected a854ebe6" in run.stderr
    reason = (tmp_path / "cache" / "kaniko-v1.28.3" / "UNAVAILABLE").read_text()
    assert "has SHA-256" in reason


@pytest.mark.parametrize(("ci", "code"), [(None, 0), ("true", 1)], ids=["outside-ci", "ci"])
def test_a_missing_executor_source_fails_setup_only_under_ci(
    tmp_path: Path, ci: str | None, code: int
) -> None:
    run = _executor_script(tmp_path, ci, tmp_path / "absent.tar.xz")

    assert run.returncode == code, run.stdout + run.stderr
    assert "absent.tar.xz is not a file" in run.stdout + run.stderr
