"""Hostile files the settings and the cluster configuration are read from (a cloned
repository's pyproject.toml, a kubeconfig), each read in a bounded child: refused with one
line, never a hang or a memory blow-up."""

from __future__ import annotations

import os
from pathlib import Path

from tests.hostile.bounded import run_cli_bounded

CORPUS = Path(__file__).parent / "spec"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMAGIC_", "KUBE"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), **extra)
    return env


def test_a_billion_laughs_kubeconfig_is_refused_at_once(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes((CORPUS / "billion-laughs.yaml").read_bytes())
    result = run_cli_bounded(
        ["build", str(Path("notebooks/quick-start.yaml").resolve())],
        env=_env(tmp_path, KUBECONFIG=str(kubeconfig)),
    )
    assert not result.timed_out, result.explain()
    # No usable cluster configuration: shown what it would submit, and why it did not.
    assert result.returncode == 3, result.explain()
    assert f"not submitted: cannot use the kubeconfig {kubeconfig}" in result.stderr
    assert "YAML_MAX_NODES" in result.stderr, result.explain()


def test_a_huge_project_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    project = tmp_path / "repo"
    project.mkdir()
    with (project / "pyproject.toml").open("w") as stream:
        stream.write("[tool.polymagic]\n")
        stream.write('show = "' + "x" * (200 * 1024 * 1024) + '"\n')
    result = run_cli_bounded(
        ["build", str(Path("notebooks/quick-start.yaml").resolve()), "--dry-run"],
        env=_env(tmp_path),
        cwd=project,
    )
    assert not result.timed_out, result.explain()
    assert result.returncode == 2, result.explain()
    assert "larger than 1,048,576 bytes" in result.stderr, result.explain()
