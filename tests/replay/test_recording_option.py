"""Recording the API traffic is asked for on the command line, never by an exported variable."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.replay import record
from tests.replay.tape import Tape
from tests.tiers import TESTS


def test_the_recording_command_passes_the_option_and_no_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[tuple[list[str], dict[str, Any]]] = []

    def call(command: list[str], **options: Any) -> int:
        started.append((command, options))
        return 0

    monkeypatch.setattr(subprocess, "call", call)

    assert record.main(["-k", "cancel"]) == 0

    [(command, options)] = started
    assert "--record-api-traffic" in command
    assert command[-2:] == ["-k", "cancel"]
    assert "env" not in options  # the child inherits the environment as it is


def test_a_tape_is_kept_only_when_asked() -> None:
    assert Tape("s").keep is False
    assert Tape("s", keep=True).keep is True


def test_the_old_variable_is_refused_saying_what_to_run() -> None:
    env = {**os.environ, "POLYMAGIC_RECORD_API_TRAFFIC": "1", "PYTHONPATH": str(TESTS.parent)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_tiers.py"],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "python -m tests.replay.record" in run.stderr
