"""Run a piece of polymagic in a child process with a hard time and memory bound.

A hostile input that makes a reader hang or grow must fail its test, not hang CI: the child gets
``RLIMIT_AS`` (address space) and ``RLIMIT_CPU`` from ``resource.setrlimit`` before it starts.
Tests then look at its exit status and output like any command's.

The bound is on the work done, so it is measured as work: ``cpu_seconds`` is the child's user +
system time (``RUSAGE_CHILDREN``), which does not grow when six engineers share two cores, and
``RLIMIT_CPU`` is what stops a runaway. The wall clock only catches a child that hangs without
using CPU (blocked on a read): it is killed after ``WALL_FACTOR`` times its CPU bound, so a busy
machine that slows a child down does not turn into a false "timed out".
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LIMIT_MEMORY", "LIMIT_SECONDS", "Bounded", "run_bounded", "run_cli_bounded"]

LIMIT_SECONDS = 10.0
"""The child's CPU-time bound (``RLIMIT_CPU``)."""
LIMIT_MEMORY = 1 << 30  # 1 GiB of address space
WALL_FACTOR = 4
"""The wall-clock kill, as a multiple of the CPU bound: only for a child that hangs idle."""

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Bounded:
    """What a bounded child did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    """Wall-clock seconds (grows with the machine's load)."""
    timed_out: bool
    """Stopped by its CPU bound (``SIGXCPU``/``SIGKILL`` from ``RLIMIT_CPU``) or the wall kill."""
    cpu_seconds: float = 0.0
    """User + system CPU seconds of the child: the work it did, whatever the machine's load."""

    @property
    def out_of_memory(self) -> bool:
        return "MemoryError" in self.stderr

    def explain(self) -> str:
        """A line for an assertion message."""
        tail = self.stderr[-600:]
        how = "timed out" if self.timed_out else f"exit {self.returncode}"
        return (
            f"{how} after {self.cpu_seconds:.2f} s of CPU ({self.seconds:.2f} s wall); "
            f"stderr tail: {tail!r}"
        )


def _limits(seconds: float, memory: int) -> None:
    cpu = int(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _run(
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    seconds: float,
    memory: int,
    cwd: Path | None,
    env: dict[str, str] | None,
) -> Bounded:
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("PYTHONPATH", str(ROOT))
    child_env["PYTHONHASHSEED"] = "0"
    # RUSAGE_CHILDREN counts reaped children only; the difference is this child's (tests run one
    # at a time in this process).
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd or ROOT,
        env=child_env,
        preexec_fn=lambda: _limits(seconds, memory),  # the child has no threads yet
    )
    try:
        out, err = process.communicate(stdin, timeout=seconds * WALL_FACTOR)
        timed_out = process.returncode in (-signal.SIGXCPU, -signal.SIGKILL)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        timed_out = True
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Bounded(
        returncode=process.returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        seconds=elapsed,
        timed_out=timed_out,
        cpu_seconds=cpu,
    )


def run_bounded(
    code: str,
    *,
    stdin: bytes | None = None,
    seconds: float = LIMIT_SECONDS,
    memory: int = LIMIT_MEMORY,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Bounded:
    """Run Python ``code`` in a bounded child interpreter."""
    return _run(
        [sys.executable, "-c", code],
        stdin=stdin,
        seconds=seconds,
        memory=memory,
        cwd=cwd,
        env=env,
    )


def run_cli_bounded(
    argv: Sequence[str],
    *,
    stdin: bytes | None = None,
    seconds: float = LIMIT_SECONDS,
    memory: int = LIMIT_MEMORY,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Bounded:
    """Run ``polymagic <argv>`` (as ``python -m polymagic``) in a bounded child."""
    return _run(
        [sys.executable, "-m", "polymagic", *argv],
        stdin=stdin,
        seconds=seconds,
        memory=memory,
        cwd=cwd,
        env=env,
    )
