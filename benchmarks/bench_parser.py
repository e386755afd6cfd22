"""How fast polymagic reads Kaniko's log, on real executor logs.

The logs of ordinary builds in ``tests/fixtures/kaniko-logs/`` (all but the hostile one),
repeated to a million lines; each repetition is one build: a parser is made for it (inside the
timed loop) with the instructions and destinations of that run, and its lines are fed as a
followed build feeds them (``feed_lines`` per batch that arrived together; here one batch per
log) or one at a time (``feed``). Prints lines per second (median and best of ``--runs``) and the peak
memory traced while parsing (one more pass, under ``tracemalloc``).

``--against REF`` runs the same on ``polymagic/outcome/kaniko_log.py`` as of a git revision (e.g.
``main``), for a before/after figure; an old parser without ``feed_lines`` gets ``feed`` only.

Run: .venv/bin/python benchmarks/bench_parser.py [--lines N] [--runs N] [--against REF]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.kaniko_logs import REALISTIC, CapturedLog, captured  # noqa: E402

Run = tuple[CapturedLog, list[str]]


def _workload(count: int) -> list[Run]:
    logs = [(log, log.lines()) for log in map(captured, REALISTIC)]
    runs: list[Run] = []
    total = 0
    while total < count:
        for run in logs:
            runs.append(run)
            total += len(run[1])
    return runs


def _module_at(revision: str) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:polymagic/outcome/kaniko_log.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="bench-parser-")) / "progress_at_revision.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("progress_at_revision", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _parser(module: ModuleType, log: CapturedLog) -> Any:
    try:
        return module.KanikoLogParser(log.instructions, destinations=log.destinations)
    except TypeError:  # before the parser knew the destinations
        return module.KanikoLogParser(log.instructions)


def _by_batch(module: ModuleType, runs: list[Run]) -> int:
    count = 0
    for log, lines in runs:
        _parser(module, log).feed_lines(lines)
        count += len(lines)
    return count


def _by_line(module: ModuleType, runs: list[Run]) -> int:
    count = 0
    for log, lines in runs:
        feed = _parser(module, log).feed
        for line in lines:
            feed(line)
        count += len(lines)
    return count


def _measure(way: Callable[[ModuleType, list[Run]], int], module: ModuleType, runs: list[Run], times: int) -> tuple[list[float], int]:  # fmt: skip
    rates = []
    count = 0
    for _ in range(times):
        gc.collect()
        started = time.perf_counter()
        count = way(module, runs)
        rates.append(count / (time.perf_counter() - started))
    return rates, count


def _peak(way: Callable[[ModuleType, list[Run]], int], module: ModuleType, runs: list[Run]) -> int:
    tracemalloc.start()
    way(module, runs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def report(label: str, module: ModuleType, runs: list[Run], times: int) -> None:
    ways = [("feed", _by_line)]
    if hasattr(module.KanikoLogParser, "feed_lines"):
        ways.insert(0, ("feed_lines", _by_batch))
    for name, way in ways:
        rates, count = _measure(way, module, runs, times)
        peak = _peak(way, module, runs)
        # The best run is the one the machine's other work disturbed least (as timeit
        # advises); on this shared VM the median moves by a third from one minute to the next.
        print(
            f"{label} {name:<10}: {count:,} lines of {len(runs):,} real logs, median"
            f" {statistics.median(rates):,.0f} lines/s (best {max(rates):,.0f}) over {times}"
            f" runs; peak traced memory {peak / 1024:.0f} KiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", metavar="REF", help="also measure progress.py at REF")
    args = parser.parse_args()
    runs = _workload(args.lines)
    import polymagic.outcome.kaniko_log

    report("this tree  ", polymagic.outcome.kaniko_log, runs, args.runs)
    if args.against:
        report(f"{args.against:<11}", _module_at(args.against), runs, args.runs)


if __name__ == "__main__":
    main()
