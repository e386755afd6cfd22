"""The bound itself works: a runaway child is stopped and reported, a quick one is not."""

from __future__ import annotations

from tests.hostile.bounded import run_bounded, run_cli_bounded


def test_a_busy_loop_is_stopped_at_the_time_bound() -> None:
    result = run_bounded("while True: pass", seconds=1.5)
    assert result.returncode != 0
    assert result.timed_out, result.explain()
    # RLIMIT_CPU (2 s soft) stops it by its CPU time, however loaded the machine is.
    assert 1.5 <= result.cpu_seconds < 3.5, result.explain()


def test_a_child_hanging_idle_is_killed_by_the_wall_clock() -> None:
    result = run_bounded("import time; time.sleep(60)", seconds=0.5)
    assert result.timed_out, result.explain()
    assert result.cpu_seconds < 1.0, result.explain()
    assert result.seconds < 30, result.explain()


def test_the_children_are_measured_by_their_cpu_time_not_the_wall_clock() -> None:
    result = run_bounded("import time; time.sleep(1.0)", seconds=5)
    assert result.returncode == 0, result.explain()
    assert result.seconds >= 1.0, result.explain()
    assert result.cpu_seconds < 0.9, result.explain()  # an interpreter's start-up, no more


def test_a_memory_hog_fails_with_memory_error() -> None:
    result = run_bounded("x = bytearray(2 << 30)")
    assert result.returncode != 0
    assert result.out_of_memory, result.explain()


def test_polymagic_runs_inside_the_bound() -> None:
    result = run_cli_bounded(["render", "notebooks/quick-start.yaml", "--only", "dockerfile"])
    assert result.returncode == 0, result.explain()
    assert "FROM tensorflow/tensorflow:2.0.1-py3" in result.stdout
