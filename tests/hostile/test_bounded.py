"""The bound itself works: a runaway child is stopped and reported, a quick one is not."""

from __future__ import annotations

from tests.hostile.bounded import run_bounded, run_cli_bounded


def test_a_busy_loop_is_stopped_at_the_time_bound() -> None:
    result = run_bounded("while True: pass", seconds=1.5)
    assert result.returncode != 0
    assert result.seconds < 5


def test_a_memory_hog_fails_with_memory_error() -> None:
    result = run_bounded("x = bytearray(2 << 30)")
    assert result.returncode != 0
    assert result.out_of_memory, result.explain()


def test_polymagic_runs_inside_the_bound() -> None:
    result = run_cli_bounded(["render", "notebooks/quick-start.yaml", "--only", "dockerfile"])
    assert result.returncode == 0, result.explain()
    assert "FROM tensorflow/tensorflow:2.0.1-py3" in result.stdout
