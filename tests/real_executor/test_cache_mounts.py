"""Cache mounts with the real executor: ``RUN --mount=type=cache`` keeps its folder between
builds when a volume connection is mounted at the executor's cache folder (here a ``host_path``
one, allowed with ``--allow-pod-field hostPath``), and the cached files never enter the image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polymagic.kube.client import connect
from polymagic.kube.session import BuildOptions, build_image
from polymagic.render.compiler import compile_operation
from polymagic.render.run_mounts import EXECUTOR_CACHE_DIR
from polymagic.spec.loader import load_connections
from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.helpers import catalog, leftovers, op_running
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryServer

DESTINATION = "cache/app"
RUN = (
    "--mount=type=cache,target=/cache sh -c 'if [ -f /cache/seen ];"
    " then echo cache-was-kept; else echo first-build > /cache/seen; echo cache-was-empty; fi'"
)


def _build(
    kubeconfig: Path, namespace: str, registry: RegistryServer, cache: Path, *, force: bool
) -> Any:
    volume = {
        "name": "build-cache",
        "kind": "host_path",
        "schema": {"hostPath": str(cache), "mountPath": EXECUTOR_CACHE_DIR},
    }
    op = op_running(registry, DESTINATION, [RUN])
    op["runPatch"]["connections"] = ["build-cache"]
    build = compile_operation(op, connections=load_connections([*catalog(registry), volume]))
    cluster = connect(kubeconfig, namespace=namespace)
    try:
        options = BuildOptions(
            namespace=namespace, timeout=300, force=force, allowed_pod_fields=("hostPath",)
        )
        return build_image(cluster, build, options)
    finally:
        cluster.close()


def _log(node: SimulatedNode, namespace: str, index: int) -> str:
    seen = [p for p in node.seen_pods if p.namespace == namespace][index]
    return "\n".join(line for state in seen.containers.values() for line in state.log.lines())


def test_a_cache_volume_keeps_the_cache_folder_for_the_next_build(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
    tmp_path: Path,
) -> None:
    cache = tmp_path / "node-cache"
    cache.mkdir()
    first = _build(admin_kubeconfig, real_namespace, plain_registry, cache, force=False)
    assert "cache-was-empty" in _log(sim_node, real_namespace, 0)
    second = _build(admin_kubeconfig, real_namespace, plain_registry, cache, force=True)
    assert "cache-was-kept" in _log(sim_node, real_namespace, 1)
    # The cache lives on the node's folder, not in the image.
    assert any(cache.rglob("seen"))
    image = RegistryView(plain_registry).image(DESTINATION, second.digest)
    assert not [name for name in image.all_files() if name.endswith("seen")]
    assert first.digest.startswith("sha256:")
    assert leftovers(admin_kubeconfig, real_namespace) == []
