"""A private package index through a build secret, and pip's cache through a cache volume, with
the real executor on the Debian-made Python base.

The index (:mod:`tests.real_executor.package_index`) answers only ``team:<token>``; the token
reaches the build as ``/etc/pip.conf`` from a Kubernetes Secret that a connection mounts
(``RUN --mount=type=secret,id=pip-conf,target=/etc/pip.conf``). With it pip installs into a venv;
without it pip's 401 fails the build at that step; and the token is found nowhere: not in the
registry's blobs for the image (manifest, config with its history, every file of every layer),
the ConfigMap, the pod, the executor's log or what ``polymagic build`` printed. A cache mount of
pip's folder kept by a ``host_path`` volume makes the second build's pip say ``Using cached``;
without a volume the build works and polymagic says the cache is not kept.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from polymagic.errors import BuildFailed
from polymagic.kube.client import connect
from polymagic.kube.session import BuildOptions, build_image
from polymagic.render.compiler import compile_operation
from polymagic.render.run_mounts import EXECUTOR_CACHE_DIR
from polymagic.spec.loader import load_connections
from tests.cluster import admin
from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.helpers import (
    catalog,
    leftovers,
    polymagic_build,
    seed_with_base,
    write_inputs,
)
from tests.real_executor.package_index import PackageIndex
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryServer

DESTINATION = "private/app"
SECRET_MOUNT = "--mount=type=secret,id=pip-conf,target=/etc/pip.conf"
CACHE_MOUNT = "--mount=type=cache,target=/root/.cache/pip"
WHEEL = "six-1.16.0-py2.py3-none-any.whl"
INSTALL = "python3 -m venv /venv && /venv/bin/pip install --no-input --progress-bar off six"


def _operation(
    base: str, run: str, connections: list[str], destination: str = DESTINATION
) -> dict[str, Any]:
    op = seed_with_base(base)
    op["params"]["destination"]["value"] = destination
    op["runPatch"]["init"][0]["dockerfile"]["run"] = [run]
    if connections:
        op["runPatch"]["connections"] = connections
    return op


def _pip_conf_secret(kubeconfig: Path, namespace: str, index: PackageIndex) -> None:
    admin.core(kubeconfig).create_namespaced_secret(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "pip-conf"},
            "type": "Opaque",
            "data": {"pip.conf": base64.b64encode(index.pip_conf().encode()).decode()},
        },
    )


def _catalog(registry: RegistryServer, cache: Path | None = None) -> list[dict[str, Any]]:
    pip_conf = {
        "name": "pip-conf",
        "kind": "custom",
        "secret": {"name": "pip-conf", "mountPath": "/secrets/pip", "items": ["pip.conf"]},
    }
    connections = [*catalog(registry), pip_conf]
    if cache is not None:
        connections.append(
            {
                "name": "pip-cache",
                "kind": "host_path",
                "schema": {"hostPath": str(cache), "mountPath": EXECUTOR_CACHE_DIR},
            }
        )
    return connections


def _build(
    kubeconfig: Path,
    namespace: str,
    op: dict[str, Any],
    connections: list[dict[str, Any]],
    **options: Any,
) -> Any:
    build = compile_operation(op, connections=load_connections(connections))
    cluster = connect(kubeconfig, namespace=namespace)
    try:
        return build_image(
            cluster, build, BuildOptions(namespace=namespace, timeout=300, **options)
        )
    finally:
        cluster.close()


def _log(node: SimulatedNode, namespace: str, index: int = -1) -> str:
    seen = [p for p in node.seen_pods if p.namespace == namespace][index]
    return "\n".join(line for state in seen.containers.values() for line in state.log.lines())


def test_pip_installs_from_the_private_index_with_the_secret_and_the_token_is_nowhere(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    python_base: str,
    sim_node: SimulatedNode,
    index: PackageIndex,
    tmp_path: Path,
) -> None:
    _pip_conf_secret(admin_kubeconfig, real_namespace, index)
    op = _operation(python_base, f"{SECRET_MOUNT} {CACHE_MOUNT} {INSTALL}", ["pip-conf"])
    inputs = write_inputs(tmp_path, op, _catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert done.returncode == 0, done

    # pip came with the token, and what it installed is in the image's venv.
    assert index.requests, "pip never reached the index"
    assert all(r.authorized for r in index.requests), index.requests
    assert any(r.path.startswith("/files/six-") and r.status == 200 for r in index.requests)
    view = RegistryView(plain_registry)
    digest = view.digest(DESTINATION, "latest")
    assert digest is not None
    image = view.image(DESTINATION, digest)
    files = image.all_files()
    assert "venv/lib/python3.11/site-packages/six.py" in files
    # No volume at the executor's cache folder: the build works and polymagic says so.
    assert "not kept for the next one" in done.stderr

    # The token is nowhere: every blob the registry holds for the image (manifest, config with
    # its history, each layer compressed and each of its files), the ConfigMap, the pod, the
    # executor's log, and what `polymagic build` printed.
    needle = index.token.encode()
    layers = [view.blob(DESTINATION, layer["digest"]) for layer in image.manifest["layers"]]
    blobs = [json.dumps(image.manifest).encode(), json.dumps(image.config).encode(), *layers]
    assert [b[:40] for b in blobs if needle in b] == []
    for number in range(len(image.manifest["layers"])):
        holding = [name for name, data in image.layer_files(number).items() if needle in data]
        assert holding == [], f"layer {number} holds the token in {holding}"
    (seen,) = [p for p in sim_node.seen_pods if p.namespace == real_namespace]
    assert index.token not in json.dumps(seen.pod)
    assert index.token not in json.dumps(seen.configmaps)
    args = seen.pod["spec"]["containers"][0]["args"]
    assert "--secret=id=pip-conf,src=/secrets/pip/pip.conf" in args
    log = _log(sim_node, real_namespace)
    assert "Successfully installed six-1.16.0" in log
    assert index.token not in log
    assert index.token not in done.stdout + done.stderr
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_without_the_secret_pips_401_fails_the_build_at_its_step(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    python_base: str,
    sim_node: SimulatedNode,
    index: PackageIndex,
) -> None:
    run = INSTALL.replace("pip install", f"pip install --index-url {index.url}")
    op = _operation(python_base, run, [])
    with pytest.raises(
        BuildFailed, match=r"failed at step \d+/\d+ \(RUN python3 -m venv /venv"
    ) as failed:
        _build(admin_kubeconfig, real_namespace, op, _catalog(plain_registry))
    assert failed.value.failed_step is not None
    assert "pip install" in failed.value.failed_step.instruction
    # pip asked, the index answered 401 to every request, and pip found nothing to install
    # (pip logs the 401 itself only with -vv; the index's record shows it).
    assert index.requests
    assert {(r.authorized, r.status) for r in index.requests} == {(False, 401)}
    log = _log(sim_node, real_namespace)
    assert "No matching distribution found for six" in log
    assert "Successfully installed" not in log
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_a_cache_volume_lets_the_second_build_use_pips_cached_wheel(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    python_base: str,
    sim_node: SimulatedNode,
    index: PackageIndex,
    tmp_path: Path,
) -> None:
    _pip_conf_secret(admin_kubeconfig, real_namespace, index)
    cache = tmp_path / "node-cache"
    cache.mkdir()
    # Its own repository: the first test's image has the same spec (the registry would reuse it).
    op = _operation(
        python_base,
        f"{SECRET_MOUNT} {CACHE_MOUNT} {INSTALL}",
        ["pip-conf", "pip-cache"],
        "private/cached",
    )
    connections = _catalog(plain_registry, cache)
    options = {"allowed_pod_fields": ("hostPath",)}
    _build(admin_kubeconfig, real_namespace, op, connections, **options)
    first = _log(sim_node, real_namespace, 0)
    assert re.search(rf"Downloading \S*/{WHEEL} ", first), first
    assert "Using cached" not in first
    # One package more: the step changes, so Kaniko's layer cache cannot answer it; pip runs
    # again and finds six in the cache folder the volume kept.
    added = _operation(
        python_base,
        f"{SECRET_MOUNT} {CACHE_MOUNT} {INSTALL} toolz",
        ["pip-conf", "pip-cache"],
        "private/cached",
    )
    _build(admin_kubeconfig, real_namespace, added, connections, **options)
    second = _log(sim_node, real_namespace, 1)
    assert re.search(rf"Using cached \S*/{WHEEL} ", second), second
    assert re.search(r"Downloading \S*/toolz-", second), second
    assert "Successfully installed six-1.16.0 toolz-" in second
    # six was fetched once: the second build's pip found it in the kept cache.
    files = [r.path for r in index.requests if r.path.startswith("/files/")]
    assert files == [f"/files/{WHEEL}", "/files/toolz-0.12.1-py3-none-any.whl"]
    assert index.token not in first + second
    # What the volume kept is pip's cache, and the token is not in it either.
    kept = [f for f in cache.rglob("*") if f.is_file()]
    assert kept
    assert [f for f in kept if index.token.encode() in f.read_bytes()] == []
    assert leftovers(admin_kubeconfig, real_namespace) == []
