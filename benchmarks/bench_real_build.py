"""polymagic's own time around a real build: the whole ``polymagic build`` minus the container's run.

Starts the local stack of ``./.ci/quickstart --local`` (the control plane, the node running the
real Kaniko executor under runc, Debian's docker-registry with a busybox base image), then runs
``polymagic build`` of the quick start ``--builds`` times (each to its own repository, with
``--force``: a real build every time) as a user runs it: a new process, from its start to its
exit. The node records when ``runc run`` started and returned; polymagic's overhead is the
whole time minus that. Also printed, per build: where the rest went (before the node started
preparing the container: polymagic's start, preflight, registry check and submission, plus
the scheduler; the node's preparation: the rootfs copy and volumes; after the container
exited: the status reaching polymagic, the image's size, cleanup, the process's exit).

Then the reuse path: the same spec again, without ``--force`` (no pod: the registry already
holds it), ``--builds`` times. And the same builds from Python in this process (``build_image``
with everything imported: what a notebook's next build pays), for polymagic's own time
without the start of a new process.

``--python`` runs ``polymagic`` with another interpreter, e.g. a venv holding polymagic and its
runtime dependencies only (``python -m venv v && v/bin/pip install -e .``): the development
venv also holds the test tools, and one of them (kubernetes-validate) is imported by the
kubernetes client whenever it is installed, which costs about a second per process here.

Run (as root, after .ci/setup): .venv/bin/python benchmarks/bench_real_build.py [--builds N]
[--python PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.real_executor.local_stack import LocalStack  # noqa: E402


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"`polymagic build` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return took, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--builds", type=int, default=5)
    parser.add_argument("--python", help="the interpreter that runs `polymagic build`")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-real-build-") as workdir:
        stack = LocalStack(Path(workdir))
        with stack:
            assert stack.engine is not None
            op, catalog = stack.write_inputs(Path(workdir) / "inputs")
            env = stack.build_env()
            if args.python:
                polymagic = Path(args.python).with_name("polymagic")
                stack.build_argv = _with_command(stack.build_argv, [str(polymagic)])  # type: ignore[method-assign]
            # One build first, not measured: imports compiled, the base image in the registry's
            # cache, the layer cache filled (the measured builds then use it, as a rebuild would).
            _run(stack.build_argv(op, catalog, "-P", "destination=bench/warm"), env)
            overheads, wholes, runs = [], [], []
            for index in range(args.builds):
                argv = stack.build_argv(op, catalog, "-P", f"destination=bench/b{index}", "--force")
                before = len(stack.engine.runs)
                started = time.monotonic()
                whole, _ = _run(argv, env)
                ended = started + whole
                (run,) = stack.engine.runs[before:]
                times = run.times
                container = times["exited"] - times["started"]
                overheads.append(whole - container)
                wholes.append(whole)
                runs.append(container)
                print(
                    f"build {index + 1}: whole {whole:.2f} s = until the node prepares"
                    f" {times['prepare'] - started:.2f} + node preparing"
                    f" {times['started'] - times['prepare']:.2f} + container {container:.2f}"
                    f" + after it exited {ended - times['exited']:.2f}"
                    f" -> overhead {whole - container:.2f} s"
                )
            reuses = []
            last = stack.build_argv(op, catalog, "-P", f"destination=bench/b{args.builds - 1}")
            for _ in range(args.builds):
                took, stderr = _run(last, env)
                assert "not building it again" in stderr, stderr
                reuses.append(took)
            warm = _in_process(stack, op, catalog, args.builds)
    print(
        f"polymagic build (whole process) median {statistics.median(wholes):.2f} s; container"
        f" (runc run) median {statistics.median(runs):.2f} s; overhead median"
        f" {statistics.median(overheads):.2f} s (min {min(overheads):.2f}, max"
        f" {max(overheads):.2f}) over {args.builds} builds"
    )
    print(
        f"reuse path (same spec again, no pod): median {statistics.median(reuses):.2f} s"
        f" (min {min(reuses):.2f}, max {max(reuses):.2f}) over {args.builds} runs"
    )
    print(
        f"in process (build_image, everything imported): overhead median"
        f" {statistics.median(warm):.2f} s (min {min(warm):.2f}, max {max(warm):.2f})"
        f" over {args.builds} builds"
    )


def _with_command(build_argv: Any, command: list[str]) -> Any:
    def argv(*parts: Any) -> list[str]:
        full: list[str] = build_argv(*parts)
        return [*command, *full[full.index("build") :]]

    return argv


def _in_process(stack: LocalStack, op: Path, catalog: Path, builds: int) -> list[float]:
    """Overheads of ``build_image`` in this process (imports and connection made before)."""
    import yaml

    from polymagic.kube.client import connect
    from polymagic.kube.session import BuildOptions, build_image
    from polymagic.render.compiler import compile_operation
    from polymagic.spec.loader import load_connections

    assert stack.engine is not None
    operation = yaml.safe_load(op.read_text())
    connections = load_connections(yaml.safe_load(catalog.read_text()))
    cluster = connect(stack.kubeconfig, namespace=stack.namespace)
    overheads = []
    try:
        for index in range(builds):
            build = compile_operation(
                operation, params=[f"destination=bench/warm{index}"], connections=connections
            )
            before = len(stack.engine.runs)
            started = time.monotonic()
            build_image(cluster, build, BuildOptions(namespace=stack.namespace, force=True))
            whole = time.monotonic() - started
            (run,) = stack.engine.runs[before:]
            overheads.append(whole - (run.times["exited"] - run.times["started"]))
    finally:
        cluster.close()
    return overheads


if __name__ == "__main__":
    main()
