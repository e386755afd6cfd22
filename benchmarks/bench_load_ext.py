"""What `%load_ext polymagic` costs on top of starting IPython.

Prints the median wall time of fresh processes that (a) start an IPython shell and (b) start
one and run `%load_ext polymagic`, and the difference. Loading must stay cheap: the compiler
and the Kubernetes client are imported only when a magic runs.

Run: .venv/bin/python benchmarks/bench_load_ext.py [--runs N]
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
BARE = "from IPython.core.interactiveshell import InteractiveShell; InteractiveShell.instance()"
LOADED = BARE + "; InteractiveShell.instance().run_line_magic('load_ext', 'polymagic')"


def _median(code: str, runs: int) -> float:
    # Bytecode caches may be written, as an installed package has them.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    _median(LOADED, 2)  # warm the file cache
    bare = _median(BARE, args.runs)
    loaded = _median(LOADED, args.runs)
    print(
        f"IPython start: median {bare * 1000:.0f} ms; with %load_ext polymagic: {loaded * 1000:.0f} ms;"
        f" the extension adds {(loaded - bare) * 1000:.0f} ms ({args.runs} runs each)"
    )


if __name__ == "__main__":
    main()
