"""How long a user waits for the cluster commands: whole processes, from start to exit.

Starts the test cluster itself (the real control plane, the simulated node) and Debian's
docker-registry on plain HTTP, then times, as new processes:

  * ``polymagic status NAME`` of a build the node holds running (target: at most 0.6 s);
  * ``polymagic build`` of a spec whose hash tag the registry already holds: the reuse path
    (compile, preflight, one registry question, no pod; target: at most 0.7 s);
  * a bare interpreter (``python -c pass``) and ``python -c "import kubernetes.config"``: the
    ``kubernetes`` package's own import, the floor under every cluster command, printed as its
    own line so polymagic's share above it is visible.

The interpreter is a venv holding polymagic's runtime dependencies only (the development venv
also holds kubernetes-validate, a test tool the ``kubernetes`` package imports whenever it is
installed: about a second more per process), created and kept under
``~/.cache/polymagic/bench-venv`` (``pip install <repo>``, without extras; made again when
``pyproject.toml``'s dependencies change). polymagic's code comes from a checkout through
``PYTHONPATH``: this one, and with ``--against REF`` (default ``main``) the tree of that git
revision (``git archive``), run side by side in one run, printed with the ratio.

Run: .venv/bin/python benchmarks/bench_cluster_commands.py [--runs N] [--against REF | --no-against]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VENV = Path.home() / ".cache" / "polymagic" / "bench-venv"
NAMESPACE = "bench"
STATUS_TARGET = 0.6
REUSE_TARGET = 0.7


def _dependencies_stamp() -> str:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the project supports 3.10, where tomli is a dependency
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return hashlib.sha256(json.dumps(project["dependencies"]).encode()).hexdigest()


def ensure_venv() -> Path:
    """The runtime-only venv's interpreter, made (or made again) when needed."""
    python = VENV / "bin" / "python"
    stamp = VENV / "polymagic-dependencies.sha256"
    wanted = _dependencies_stamp()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"making {VENV} (polymagic's runtime dependencies only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    stamp.write_text(wanted)
    return python


def checkout_of(ref: str, into: Path) -> Path:
    """The tree of git revision ``ref`` under ``into`` (no worktree: an archive, unpacked)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "polymagic"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True)
    archive_path = into / "tree.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(into, filter="data")
    archive_path.unlink()
    return into


def _timed(argv: list[str], env: dict[str, str], cwd: Path, check: Callable[[str], None]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[2:4])} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    check(done.stderr)
    return took


def _wait_for_service_account(core: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            account = core.read_namespaced_service_account("default", NAMESPACE)  # type: ignore[attr-defined]
            if account.secrets:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit("the default service account got no token")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--against", default="main", help="also time this git revision")
    parser.add_argument("--no-against", action="store_true", help="time this checkout only")
    args = parser.parse_args()
    python = ensure_venv()

    import yaml

    from polymagic.kube.client import connect
    from polymagic.kube.session import BuildOptions, start_build
    from polymagic.render.compiler import compile_operation
    from polymagic.render.manifests import build_manifests
    from polymagic.spec.examples import QUICK_START
    from polymagic.spec.loader import load_connections
    from tests.cluster import admin
    from tests.cluster.control_plane import ControlPlane, ensure_binaries
    from tests.cluster.simulated_node import Scenario, SimulatedNode
    from tests.registry.server import RegistryMode, RegistryServer, push_test_image

    with tempfile.TemporaryDirectory(prefix="bench-cluster-commands-") as scratch:
        work = Path(scratch)
        checkouts = {"this": ROOT}
        if not args.no_against:
            checkouts[args.against] = checkout_of(args.against, work / "against")
        registry = RegistryServer(work / "registry", RegistryMode.HTTP)
        with (
            ControlPlane(ensure_binaries(), work / "cluster") as plane,
            SimulatedNode(plane.admin_kubeconfig) as node,
        ):
            registry.start()
            try:
                core = admin.core(plane.admin_kubeconfig)
                core.create_namespace({"metadata": {"name": NAMESPACE}})
                _wait_for_service_account(core)
                auth = base64.b64encode(json.dumps({"auths": {}}).encode()).decode()
                core.create_namespaced_secret(NAMESPACE, {
                    "metadata": {"name": "regcred"},
                    "type": "kubernetes.io/dockerconfigjson",
                    "data": {".dockerconfigjson": auth},
                })  # fmt: skip
                catalog = [{
                    "name": "docker-connection", "kind": "registry",
                    "schema": {"url": registry.host, "insecure": True},
                    "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"},
                }]  # fmt: skip
                connections = load_connections(catalog)
                (work / "connections.yaml").write_text(yaml.safe_dump(catalog))
                operations = {}
                for name in ("reused", "held"):
                    op = yaml.safe_load(QUICK_START)
                    op["params"]["destination"]["value"] = f"bench/{name}:1"
                    operations[name] = yaml.safe_dump(op)
                    (work / f"{name}.yaml").write_text(operations[name])
                reused = compile_operation(operations["reused"], connections=connections)
                spec_hash = build_manifests(reused, namespace=NAMESPACE).spec_hash
                push_test_image(registry, "bench/reused", f"spec-{spec_hash[:20]}")
                # A build the node holds running: what `status NAME` reports on.
                node.set_scenario(NAMESPACE, Scenario.SUCCESS, hold_running=True)
                cluster = connect(plane.admin_kubeconfig, namespace=NAMESPACE)
                held = compile_operation(operations["held"], connections=connections)
                session = start_build(cluster, held, BuildOptions(namespace=NAMESPACE))
                cluster.close()
                figures = _measure(
                    python, checkouts, plane.admin_kubeconfig, work, session.name, args.runs
                )
            finally:
                registry.stop()
    _report(python, figures, list(checkouts), args.runs)


def _measure(
    python: Path,
    checkouts: dict[str, Path],
    kubeconfig: Path,
    work: Path,
    held: str,
    runs: int,
) -> dict[str, list[float]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMAGIC_", "PYTHON"))}
    base["KUBECONFIG"] = str(kubeconfig)
    cwd = work / "cwd"
    cwd.mkdir()

    def nothing(stderr: str) -> None:
        pass

    def reused(stderr: str) -> None:
        if "not building it again" not in stderr:
            raise SystemExit(f"the build was not reused:\n{stderr[-3000:]}")

    commands: dict[str, tuple[list[str], dict[str, str], Callable[[str], None]]] = {
        "bare": ([str(python), "-c", "pass"], base, nothing),
        "kubernetes": ([str(python), "-c", "import kubernetes.config"], base, nothing),
    }
    for label, checkout in checkouts.items():
        env = {**base, "PYTHONPATH": str(checkout)}
        polymagic = [str(python), "-m", "polymagic"]
        commands[f"status {label}"] = (
            [*polymagic, "status", held, "--namespace", NAMESPACE],
            env,
            nothing,
        )
        build = [*polymagic, "build", str(work / "reused.yaml"), "--connections",
                 str(work / "connections.yaml"), "--namespace", NAMESPACE]  # fmt: skip
        commands[f"reuse {label}"] = (build, env, reused)
    for argv, env, check in commands.values():  # once, not timed: files in the page cache
        _timed(argv, env, cwd, check)
    figures: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(runs):  # interleaved, so other work on the machine hits every command alike
        for key, (argv, env, check) in commands.items():
            figures[key].append(_timed(argv, env, cwd, check))
    return figures


def _report(python: Path, figures: dict[str, list[float]], labels: list[str], runs: int) -> None:
    version = subprocess.run(
        [str(python), "-c", "import kubernetes; print(kubernetes.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    median = {key: statistics.median(values) for key, values in figures.items()}

    def spread(key: str) -> str:
        return f"{median[key]:.3f} s ({min(figures[key]):.3f}-{max(figures[key]):.3f})"

    print(f"whole processes, medians of {runs} (min-max), {python} (runtime dependencies only)")
    print(f"bare interpreter (python -c pass):        {spread('bare')}")
    floor = median["kubernetes"] - median["bare"]
    print(
        f"import kubernetes.config (kubernetes {version}): {spread('kubernetes')}:"
        f" {floor:.3f} s above the bare interpreter"
    )
    this = labels[0]
    for name, key, target in (
        ("polymagic status NAME", "status", STATUS_TARGET),
        ("reused polymagic build", "reuse", REUSE_TARGET),
    ):
        mine = median[f"{key} {this}"]
        verdict = "met" if mine <= target else "NOT met"
        line = (
            f"{name:<24} {this}: {spread(f'{key} {this}')}; target <= {target} s {verdict};"
            f" above the kubernetes import: {mine - median['kubernetes']:.3f} s"
        )
        for other in labels[1:]:
            theirs = median[f"{key} {other}"]
            line += f"; {other}: {spread(f'{key} {other}')} = {theirs / mine:.2f}x this"
        print(line)


if __name__ == "__main__":
    main()
