"""Helpers of the real-executor tests: operations, catalogs, secrets and `polymagic build` runs."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from polymagic.kube.client import Cluster, connect
from polymagic.kube.session import BuildOptions, build_image
from polymagic.render.compiler import compile_operation
from polymagic.spec.examples import QUICK_START
from polymagic.spec.loader import load_connections
from tests.cluster import admin
from tests.cluster.runc_runtime import ContainerRun, RuncEngine
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG
from tests.registry.server import RegistryMode, RegistryServer
from tests.test_build_cluster import _leftovers
from tests.test_cli_cluster import _env as cli_env

__all__ = [
    "DESTINATION",
    "LOG_DIR",
    "CliRun",
    "build_argv",
    "build_in",
    "catalog",
    "cli_env",
    "create_registry_secret",
    "finished_run",
    "leftovers",
    "op_running",
    "polymagic_build",
    "seed_with_base",
    "summary_durations",
    "summary_steps",
    "wait_clean",
    "write_inputs",
]

DESTINATION = "polyaxon/polyaxon-quick-start"
"""The seed's destination repository (under the connection's registry)."""

LOG_DIR = Path(__file__).resolve().parents[2] / "test-output" / "kaniko-logs"
"""Where each real build's pod log is saved (by the ``real_namespace`` fixture)."""


def seed_with_base(base: str) -> dict[str, Any]:
    """The seed operation with only its base image swapped."""
    op: dict[str, Any] = yaml.safe_load(QUICK_START)
    op["runPatch"]["init"][0]["dockerfile"]["image"] = base
    return op


def op_running(registry: RegistryServer, destination: str, run: list[str]) -> dict[str, Any]:
    """The seed on the tests' base image in ``registry``, pushing to ``destination`` (under the
    connection's registry), with ``run`` as its RUN steps."""
    op = seed_with_base(registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = destination
    op["runPatch"]["init"][0]["dockerfile"]["run"] = run
    return op


def build_in(
    kubeconfig: Path, namespace: str, op: dict[str, Any], registry: RegistryServer, **options: Any
) -> Any:
    """``op`` built from Python (``build_image``) in ``namespace``, pushing to ``registry``;
    ``options`` go to ``BuildOptions`` beside the namespace and a 300 s deadline."""
    build = compile_operation(op, connections=load_connections(catalog(registry)))
    cluster = connect(kubeconfig, namespace=namespace)
    try:
        return build_image(
            cluster, build, BuildOptions(namespace=namespace, timeout=300, **options)
        )
    finally:
        cluster.close()


def finished_run(engine: RuncEngine, namespace: str) -> ContainerRun:
    """The namespace's one container, once the runtime has cleaned it up."""
    runs = [r for r in engine.runs if r.pod.namespace == namespace]
    assert len(runs) == 1, runs
    deadline = time.monotonic() + 15
    while runs[0].id in engine.active():
        assert time.monotonic() < deadline, "the container was not cleaned up in 15 s"
        time.sleep(0.1)
    return runs[0]


def catalog(registry: RegistryServer, secret: str | None = None) -> list[dict[str, Any]]:
    """The seed's `docker-connection`, pointing at ``registry`` (plain HTTP: ``insecure``)."""
    connection: dict[str, Any] = {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": registry.host},
    }
    if registry.mode is RegistryMode.HTTP:
        connection["schema"]["insecure"] = True
    if secret:
        connection["secret"] = {"name": secret, "mountPath": "/kaniko/.docker"}
    return [connection]


def write_inputs(
    directory: Path, op: dict[str, Any] | str, connections: list[dict[str, Any]]
) -> tuple[Path, Path]:
    """``op.yaml`` and ``connections.yaml`` in ``directory`` (the op's folder is the context)."""
    op_path, catalog_path = directory / "op.yaml", directory / "connections.yaml"
    op_path.write_text(op if isinstance(op, str) else yaml.safe_dump(op, sort_keys=False))
    catalog_path.write_text(yaml.safe_dump(connections))
    return op_path, catalog_path


def create_registry_secret(
    kubeconfig: Path,
    namespace: str,
    registry: RegistryServer,
    *,
    name: str,
    shape: str,
    password: str | None = None,
) -> None:
    """A registry secret for ``registry``: ``config.json`` (Polyaxon's generic secret) or
    ``dockerconfigjson`` (``kubectl create secret docker-registry``)."""
    config = json.dumps(registry.docker_config("auth", password=password)).encode()
    encoded = base64.b64encode(config).decode()
    if shape == "config.json":
        body = {"type": "Opaque", "data": {"config.json": encoded}}
    elif shape == "dockerconfigjson":
        body = {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": encoded}}
    else:
        raise ValueError(shape)
    admin.core(kubeconfig).create_namespaced_secret(
        namespace, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **body}
    )


class CliRun:
    """A finished `polymagic build`: exit status, stdout, stderr and wall time."""

    def __init__(self, done: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.returncode = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        self.seconds = seconds

    @property
    def last_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def __repr__(self) -> str:
        return (
            f"CliRun(exit {self.returncode}, {self.seconds:.1f} s)\n--- stdout\n{self.stdout}"
            f"\n--- stderr\n{self.stderr}"
        )


def build_argv(op: Path, connections: Path, namespace: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "polymagic",
        "build",
        str(op),
        "--connections",
        str(connections),
        "--namespace",
        namespace,
        "--timeout",
        "300",
        *extra,
    ]


def polymagic_build(
    kubeconfig: Path, inputs: tuple[Path, Path], namespace: str, *extra: str, timeout: float = 300
) -> CliRun:
    started = time.monotonic()
    done = subprocess.run(
        build_argv(*inputs, namespace, *extra),
        env=cli_env(kubeconfig),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliRun(done, time.monotonic() - started)


def leftovers(kubeconfig: Path, namespace: str) -> list[str]:
    cluster: Cluster = connect(kubeconfig, namespace=namespace)
    try:
        return _leftovers(cluster)
    finally:
        cluster.close()


def wait_clean(kubeconfig: Path, namespace: str, seconds: float) -> list[str]:
    """Leftover pods/ConfigMaps, polled until none are left or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        left = leftovers(kubeconfig, namespace)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


_SUMMARY_STEP = re.compile(r"^polymagic: \[(\d+)/(\d+)\] (.*?) +(CACHED|-|\d+\.\ds)$")


def summary_steps(stderr: str) -> list[tuple[str, bool]]:
    """(instruction, cached) of each step in the summary `polymagic build` printed."""
    found = (_SUMMARY_STEP.match(line) for line in stderr.splitlines())
    return [(m.group(3), m.group(4) == "CACHED") for m in found if m]


def summary_durations(stderr: str) -> list[float | None]:
    """Each summary step's duration in seconds (None: cached or unknown)."""
    found = (_SUMMARY_STEP.match(line) for line in stderr.splitlines())
    return [float(m.group(4)[:-1]) if m.group(4).endswith("s") else None for m in found if m]
