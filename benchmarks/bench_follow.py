"""How fast polymagic follows a build.

Prints:
  * progress parser: lines per second and peak traced memory on a 1,000,000-line Kaniko log
    (coloured lines as Kaniko writes them, with RUN output between);
  * against the real test cluster (kube-apiserver + simulated kubelet, started here): the time
    from the executor container's termination becoming visible on the API to ``build_image``
    returning the result, over several builds.

Run: .venv/bin/python benchmarks/bench_follow.py [--lines N] [--builds N] [--no-cluster]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from polymagic.outcome.kaniko_log import KanikoLogParser  # noqa: E402
from polymagic.render.dockerfile import dockerfile_instructions  # noqa: E402

DOCKERFILE = (ROOT / "tests" / "conformance" / "dockerfile" / "quick-start.Dockerfile").read_text()


def _lines(count: int) -> list[str]:
    steps = [s for s in dockerfile_instructions(DOCKERFILE) if not s.startswith("FROM")]
    head = [f"\x1b[36mINFO\x1b[0m[0001] {s:<44} " for s in steps]
    body = [f"Collecting package-{i % 997}==1.{i % 13}.0" for i in range(count - len(head) - 2)]
    tail = [
        "\x1b[36mINFO\x1b[0m[0090] Pushing image to registry.example.com/org/app ",
        "\x1b[36mINFO\x1b[0m[0091] Pushed registry.example.com/org/app@sha256:" + "a" * 64 + " ",
    ]
    return head + body + tail


def bench_parser(count: int) -> None:
    lines = _lines(count)
    parser = KanikoLogParser(dockerfile_instructions(DOCKERFILE))
    tracemalloc.start()
    start = time.perf_counter()
    for line in lines:
        parser.feed(line)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert parser.digest == "sha256:" + "a" * 64
    print(
        f"progress parser: {count:,} lines in {elapsed:.2f} s = {count / elapsed:,.0f} lines/s;"
        f" peak traced memory while parsing {peak / 1024:.0f} KiB (tail kept: {len(parser.tail)} lines)"
    )


def bench_cluster(builds: int) -> None:
    from polymagic.kube.client import connect
    from polymagic.kube.session import BuildOptions, build_image
    from polymagic.render.compiler import compile_operation
    from polymagic.spec.loader import load_connections
    from tests.cluster import admin
    from tests.cluster.control_plane import ControlPlane, ensure_binaries
    from tests.cluster.simulated_node import SimulatedNode

    catalog = load_connections(
        [{"name": "docker-connection", "kind": "registry", "schema": {"url": "registry.example.com/org"},
          "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"}}]
    )  # fmt: skip
    operation = (ROOT / "notebooks" / "quick-start.yaml").read_text()
    with (
        tempfile.TemporaryDirectory() as workdir,
        ControlPlane(ensure_binaries(), Path(workdir)) as plane,
        SimulatedNode(plane.admin_kubeconfig),
    ):
        cluster = connect(plane.admin_kubeconfig, namespace="bench")
        core = admin.core(plane.admin_kubeconfig)
        core.create_namespace({"metadata": {"name": "bench"}})
        _wait_for_service_account(core)
        auth = base64.b64encode(json.dumps({"auths": {}}).encode()).decode()
        core.create_namespaced_secret(
            "bench",
            {
                "metadata": {"name": "regcred"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": auth},
            },
        )
        latencies = []
        for index in range(builds):
            build = compile_operation(
                operation, params=[f"destination=polyaxon/bench:{index}"], connections=catalog
            )
            seen: dict[str, float] = {}
            watcher = threading.Thread(target=_watch_termination, args=(core, seen), daemon=True)
            watcher.start()
            build_image(cluster, build, BuildOptions(namespace="bench"))
            returned = time.monotonic()
            watcher.join(timeout=10)
            latencies.append(returned - seen["terminated"])
        cluster.close()
    print(
        f"termination visible on the API -> result returned: median {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms over {len(latencies)} builds"
    )


def _wait_for_service_account(core: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            account = core.read_namespaced_service_account("default", "bench")  # type: ignore[attr-defined]
            if account.secrets:
                return
        except Exception:
            pass
        time.sleep(0.2)


def _watch_termination(core: object, seen: dict[str, float]) -> None:
    from kubernetes import watch

    for event in watch.Watch().stream(core.list_namespaced_pod, "bench", timeout_seconds=120):  # type: ignore[attr-defined]
        statuses = event["object"].status.container_statuses or []
        if any(s.state.terminated for s in statuses):
            seen["terminated"] = time.monotonic()
            return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--builds", type=int, default=5)
    parser.add_argument("--no-cluster", action="store_true")
    args = parser.parse_args()
    bench_parser(args.lines)
    if not args.no_cluster:
        bench_cluster(args.builds)


if __name__ == "__main__":
    main()
