"""Where people wait for polymagic to start: the issue 11 targets, measured side by side in one run.

Prints, as medians of fresh processes (wall time; user+system CPU time beside it, which other
work on the machine disturbs less):

* ``polymagic render`` of the quick start, whole process, and ``polyaxon check -f`` of the same
  operation with the real Polyaxon package (the oracle venv the tests build, see
  ``tests/oracle/harness.py``), and the ratio. Polyaxon resolves ``hubRef: kaniko`` over the
  network, so both tools are given the operation with ``pathRef:`` to the same component file
  polymagic ships; ``polymagic render notebooks/quick-start.yaml`` itself is printed too.
* The floor under ``render``: a bare interpreter, and one that only imports what ``render``
  cannot do without (pydantic with its plugin discovery, PyYAML, Jinja2), so polymagic's own
  share is visible.
* ``%load_ext polymagic`` on top of starting IPython, and whether loading imported
  ``kubernetes`` or ``ipywidgets``.
* The first ``%%polybuild --dry-run`` of the quick start in a fresh kernel (a real ipykernel
  through ``jupyter_client``, ``%load_ext polymagic`` already run): from sending the cell to
  the kernel going idle with every view displayed.

Child processes may write bytecode caches (``PYTHONDONTWRITEBYTECODE`` is dropped), as an
installed package has them; one warm-up run comes before each series. Figures, not a test.

Run: .venv/bin/python benchmarks/bench_start.py [--runs N] [--polyaxon-runs N] [--kernels N]
[--python PATH] [--skip-polyaxon] [--skip-kernel]
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUICK_START = ROOT / "notebooks" / "quick-start.yaml"
KANIKO = ROOT / "polymagic" / "spec" / "hub" / "kaniko-1.2.yaml"
FLOOR = (
    "import pydantic, pydantic.main, pydantic.fields, pydantic.types, yaml, jinja2, jinja2.sandbox\n"
    "from pydantic.plugin._loader import get_plugins\n"
    "list(get_plugins())\n"
)
IPYTHON = "from IPython.core.interactiveshell import InteractiveShell; shell = InteractiveShell.instance()"
LOAD_EXT = IPYTHON + "; shell.run_line_magic('load_ext', 'polymagic')"
LOADED_MODULES = (
    LOAD_EXT + "\nimport sys\n"
    "print(','.join(m for m in ('kubernetes', 'ipywidgets', 'pydantic', 'polymagic.spec.models')"
    " if m in sys.modules) or 'none')"
)


def _env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONDONTWRITEBYTECODE" and not key.startswith(("POLYMAGIC_", "POLYAXON_"))
    }
    env.update(extra)
    return env


class Series:
    """Fresh processes of one command, warmed once, run in turns with the other series."""

    def __init__(self, label: str, argv: Sequence[str], cwd: Path = ROOT) -> None:
        self.label = label
        self.argv = list(argv)
        self.cwd = cwd
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def warm(self) -> None:
        _run_measured(self.argv, _env(), self.cwd)

    def run(self) -> None:
        wall, cpu = _run_measured(self.argv, _env(), self.cwd)
        self.walls.append(wall)
        self.cpus.append(cpu)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    def line(self) -> str:
        return (
            f"{self.label:<52} median {self.wall * 1000:6.0f} ms (min {min(self.walls) * 1000:.0f}),"
            f" CPU {self.cpu * 1000:.0f} ms  [{len(self.walls)} runs]"
        )


def _run_measured(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed ({child.returncode}):\n{stderr.decode()[-2000:]}"
        )
    return wall, usage.ru_utime + usage.ru_stime


def _in_turns(series: Sequence[Series], runs: int) -> None:
    for each in series:
        each.warm()
    for _ in range(runs):
        for each in series:
            each.run()


def _polyaxon() -> Path | None:
    from tests.oracle.harness import oracle_python

    polyaxon = oracle_python().parent / "polyaxon"
    return polyaxon if polyaxon.exists() else None


CPU_NOW = "import resource; _u = resource.getrusage(resource.RUSAGE_SELF)"
CPU_SINCE = (
    "_v = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(_v.ru_utime + _v.ru_stime - _u.ru_utime - _u.ru_stime)"
)


def _kernel_output(client: Any, code: str) -> str:
    texts: list[str] = []

    def hook(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            texts.append(message["content"]["text"])

    client.execute_interactive(code, timeout=60, output_hook=hook)
    return "".join(texts)


def _kernel_dry_runs(kernels: int, python: str) -> tuple[list[float], list[float]]:
    """Seconds from sending the first ``%%polybuild --dry-run`` cell to the kernel going idle,
    and the kernel's CPU seconds for it (read from the kernel before and after)."""
    from jupyter_client.manager import KernelManager

    cell = "%%polybuild --dry-run\n" + QUICK_START.read_text(encoding="utf-8")
    timings = []
    cpus = []
    for _ in range(kernels + 1):  # the first kernel warms the caches and is not counted
        manager = KernelManager(kernel_name="python3")
        spec = manager.kernel_spec
        if spec is None:
            raise RuntimeError("no `python3` kernelspec: install ipykernel in the venv")
        spec.argv[0] = python
        manager.start_kernel(
            cwd=str(QUICK_START.parent),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            client.execute_interactive("%load_ext polymagic", timeout=60)
            _kernel_output(client, CPU_NOW)
            outputs: list[str] = []
            started = time.perf_counter()
            msg_id = client.execute(cell)
            while True:
                try:
                    message = client.get_iopub_msg(timeout=60)
                except queue.Empty as exc:
                    raise SystemExit("the kernel did not finish the dry run in 60 s") from exc
                if message["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = message["msg_type"]
                if kind in ("display_data", "execute_result"):
                    outputs.append(kind)
                elif kind == "error":
                    raise SystemExit(f"the dry run failed: {message['content']['evalue']}")
                elif kind == "status" and message["content"]["execution_state"] == "idle":
                    break
            took = time.perf_counter() - started
            if len(outputs) < 3:
                raise SystemExit(f"the dry run displayed {len(outputs)} views, expected 3 or more")
            timings.append(took)
            cpus.append(float(_kernel_output(client, CPU_SINCE)))
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    return timings[1:], cpus[1:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15, help="processes per polymagic series")
    parser.add_argument("--polyaxon-runs", type=int, default=5)
    parser.add_argument("--kernels", type=int, default=5, help="fresh kernels for the dry run")
    parser.add_argument("--python", default=sys.executable, help="interpreter running polymagic")
    parser.add_argument("--skip-polyaxon", action="store_true")
    parser.add_argument("--skip-kernel", action="store_true")
    args = parser.parse_args()
    python = args.python

    with tempfile.TemporaryDirectory(prefix="bench-start-") as scratch:
        work = Path(scratch)
        # The same operation, with the component by path: Polyaxon cannot reach its hub offline.
        by_path = work / "quick-start.yaml"
        by_path.write_text(
            QUICK_START.read_text(encoding="utf-8").replace("hubRef: kaniko", f"pathRef: {KANIKO}"),
            encoding="utf-8",
        )
        bare = Series("bare interpreter (python -c pass)", [python, "-c", "pass"])
        floor = Series("floor: pydantic + PyYAML + Jinja2 imported", [python, "-c", FLOOR])
        render = Series(
            "polymagic render notebooks/quick-start.yaml",
            [python, "-m", "polymagic", "render", str(QUICK_START)],
        )
        render_path = Series(
            "polymagic render (pathRef)",
            [python, "-m", "polymagic", "render", str(by_path)],
            cwd=work,
        )
        ipython = Series("IPython start", [python, "-c", IPYTHON])
        load_ext = Series("IPython start + %load_ext polymagic", [python, "-c", LOAD_EXT])
        _in_turns([bare, floor, render, render_path, ipython, load_ext], args.runs)

        check = render_again = None
        if not args.skip_polyaxon:
            polyaxon = _polyaxon()
            if polyaxon is None:
                print("polyaxon: the oracle venv has no `polyaxon` command; skipped")
            else:
                check = Series(
                    "polyaxon check -f (pathRef), Polyaxon 2.18",
                    [str(polyaxon), "check", "-f", str(by_path)],
                    cwd=work,
                )
                # Polyaxon is run in turns with polymagic so both see the same machine.
                render_again = Series(
                    "polymagic render (pathRef), beside it", render_path.argv, work
                )
                _in_turns([check, render_again], args.polyaxon_runs)

    loaded = subprocess.run(
        [python, "-c", LOADED_MODULES], env=_env(), cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    for each in (bare, floor, render, render_path):
        print(each.line())
    print(
        f"  polymagic's own share of render: {(render.wall - floor.wall) * 1000:.0f} ms over the floor"
        f" (CPU {(render.cpu - floor.cpu) * 1000:.0f} ms)"
    )
    if check is not None and render_again is not None:
        print(check.line())
        print(render_again.line())
        print(
            f"  ratio polyaxon check / polymagic render: {check.wall / render_again.wall:.1f}x"
            f" (CPU {check.cpu / render_again.cpu:.1f}x); against render of notebooks/quick-start.yaml"
            f" {check.wall / render.wall:.1f}x; target >= 8x"
        )
    print(ipython.line())
    print(load_ext.line())
    print(
        f"  %load_ext polymagic adds {(load_ext.wall - ipython.wall) * 1000:.0f} ms"
        f" (CPU {(load_ext.cpu - ipython.cpu) * 1000:.0f} ms; target < 30 ms);"
        f" of kubernetes, ipywidgets, pydantic, polymagic.spec.models it imported: {loaded}"
    )
    if not args.skip_kernel:
        timings, cpus = _kernel_dry_runs(args.kernels, python)
        print(
            f"first %%polybuild --dry-run in a fresh kernel: median {statistics.median(timings) * 1000:.0f} ms"
            f" (min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}), kernel CPU"
            f" {statistics.median(cpus) * 1000:.0f} ms, over {len(timings)} kernels; target <= 400 ms"
        )


if __name__ == "__main__":
    main()
