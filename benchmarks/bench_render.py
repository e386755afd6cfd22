"""How long polymagic takes to turn an operation into what it submits.

Prints two figures:
  * in-process: compile + render Dockerfile + build manifests, per operation (median of runs);
  * whole process: `polymagic render FILE` from start to exit (median of runs), which is what a
    user or a script waits for, interpreter start and imports included (with bytecode caches,
    as an installed package has them).

`benchmarks/bench_start.py` puts the whole process beside `polyaxon check` and the floor of
the libraries it imports.

Run: .venv/bin/python benchmarks/bench_render.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from polymagic.render.compiler import compile_operation  # noqa: E402
from polymagic.render.manifests import build_manifests  # noqa: E402
from polymagic.spec.loader import load_connections  # noqa: E402

OPERATION = (ROOT / "notebooks" / "quick-start.yaml").read_text()
CATALOG = load_connections(
    [
        {
            "name": "docker-connection",
            "kind": "registry",
            "schema": {"url": "registry.example.com/org"},
            "secret": {"name": "docker-conf", "mountPath": "/kaniko/.docker"},
        }
    ]
)


def in_process(runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        build = compile_operation(OPERATION, connections=CATALOG)
        build_manifests(build, namespace="ml")
        timings.append(time.perf_counter() - start)
    return timings


def whole_process(runs: int) -> list[float]:
    command = [
        sys.executable,
        "-m",
        "polymagic",
        "render",
        str(ROOT / "notebooks" / "quick-start.yaml"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(command, check=True, capture_output=True, env=env)  # writes the caches
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--process-runs", type=int, default=10)
    args = parser.parse_args()
    in_process(5)  # warm imports and caches
    fast = in_process(args.runs)
    slow = whole_process(args.process_runs)
    print(
        f"in-process compile+render+manifests: median {statistics.median(fast) * 1000:.2f} ms, "
        f"p95 {sorted(fast)[int(len(fast) * 0.95) - 1] * 1000:.2f} ms over {len(fast)} runs"
    )
    print(
        f"whole process `polymagic render`:   median {statistics.median(slow) * 1000:.0f} ms, "
        f"min {min(slow) * 1000:.0f} ms over {len(slow)} runs"
    )


if __name__ == "__main__":
    main()
