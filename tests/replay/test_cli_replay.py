"""``polymagic build`` on a replayed cluster: what the terminal shows of a build's warnings and
of its failure (the recorded traffic of ``tests/fixtures/api-traffic/``, no cluster)."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import pytest
import yaml

from polymagic.cli import cluster as cli_cluster
from polymagic.cli.main import main
from polymagic.kube.session import build_image
from tests.data import SEED
from tests.replay.replay import NoRegistry, ReplayCluster, VirtualClock
from tests.replay.tape import Tape
from tests.replay.test_session_replay import CATALOG, _digest_of


def _polymagic_build(
    scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str = SEED
) -> tuple[int, str, str]:
    """Run ``polymagic build`` with the connection and the build going to the replay."""
    tape = Tape.load(scenario)
    clock = VirtualClock()
    replay = ReplayCluster(tape, clock)
    # A kubeconfig as a user has one; logging in with it gives the replayed cluster.
    (tmp_path / "kubeconfig").write_text(
        "current-context: c\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setattr(cli_cluster, "connect_for", lambda plan: replay)
    replayed = functools.partial(build_image, registry=NoRegistry(), clock=clock)
    monkeypatch.setattr(cli_cluster, "build_image", replayed)
    (tmp_path / "op.yaml").write_text(operation)
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(CATALOG))
    out, err = io.StringIO(), io.StringIO()
    argv = ["build", str(tmp_path / "op.yaml"), "--connections", str(tmp_path / "connections.yaml")]
    code = main([*argv, "--namespace", replay.namespace], out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_context_warning_is_printed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["copy"] = ["src"]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n")
    (tmp_path / "src" / ".env").write_text("TOKEN=x\n")
    code, out, err = _polymagic_build("success", tmp_path, monkeypatch, yaml.safe_dump(op))
    assert code == 0, err
    assert out.strip().endswith("@" + _digest_of(Tape.load("success")))
    assert err.count("left out of the build context") == 1
    assert "polymagic: warning: left out of the build context" in err


def test_a_failed_run_prints_the_summary_and_the_last_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _polymagic_build("run-fails", tmp_path, monkeypatch)
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("polymagic: error: "))
    assert "failed at step " in lines[error]
    assert "the executor exited with code 3 (Error): error building image" in lines[error]
    assert lines[error + 1] == "polymagic: last log lines:"
    assert 1 <= len(lines[error + 2 :]) <= 15
    assert all(line.startswith("  ") for line in lines[error + 2 :])


def test_a_stuck_pod_prints_the_fix_and_the_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _polymagic_build("image-pull-backoff", tmp_path, monkeypatch)
    assert code == 1
    assert "polymagic: fix: the executor image `" in err
    assert "polymagic: events:\n" in err
    assert "Warning Failed" in err or "Warning BackOff" in err
