"""Fixtures for builds with the real Kaniko executor (marker ``real_executor``).

- ``executor_image`` (session): the executor built by ``.ci/kaniko-executor.sh``; when it is
  not there (or runc, or root), every test here is skipped with the reason (shown in pytest's
  summary), and fails with it under CI, which provisions all of it;
- ``runc_engine`` (session): the :class:`RuncEngine` the node runs real containers with; at
  the end of the session it must find nothing left (containers, rootfs copies, cgroups);
- ``plain_registry`` / ``auth_registry`` (session): Debian's ``docker-registry`` on loopback,
  plain HTTP and TLS + htpasswd, each holding the busybox base image as ``base/busybox:1``;
- ``python_base`` (session): the Debian-made Python base (``.ci/python-base.sh``) made into an
  OCI layout once and pushed to ``plain_registry`` as ``base/python:3.11``; skipped with the
  reason when it is missing (failed instead under CI);
- ``real_namespace`` (function): a fresh namespace whose pods the node runs with runc; at
  teardown every container of it has ended and been removed, and each pod's log (the bytes
  the node's log endpoint served) is saved under ``test-output/kaniko-logs/``;
- ``shell`` (function): an IPython shell with polymagic loaded that builds in
  ``real_namespace``, pushing to ``plain_registry``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cluster.runc_runtime import ExecutorImage, ExecutorUnavailable, RuncEngine
from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.base_image import (
    BASE_REPOSITORY,
    BASE_TAG,
    make_base_layout,
    missing_tools,
    push_base,
)
from tests.real_executor.helpers import LOG_DIR, catalog
from tests.real_executor.package_index import PackageIndex
from tests.real_executor.python_base import (
    PythonBaseUnavailable,
    make_python_layout,
    push_python_base,
    wheels_dir,
)
from tests.registry.server import RegistryMode, RegistryServer
from tests.registry.server import missing_tools as registry_missing_tools
from tests.tiers import unavailable

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture(scope="session")
def executor_image() -> ExecutorImage:
    missing = missing_tools() + registry_missing_tools()
    if missing:
        unavailable(f"real-executor tests need {', '.join(missing)}: run .ci/setup")
    try:
        return ExecutorImage.from_cache()
    except ExecutorUnavailable as why:
        unavailable(str(why))


@pytest.fixture(scope="session")
def runc_engine(
    executor_image: ExecutorImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RuncEngine]:
    engine = RuncEngine(executor_image, tmp_path_factory.mktemp("runc-bundles")).start()
    left: list[str] = []
    try:
        yield engine
    finally:
        left = engine.close()
    assert left == [], f"left behind after the session (now removed): {left}"


@pytest.fixture(scope="session")
def base_layout(executor_image: ExecutorImage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_base_layout(tmp_path_factory.mktemp("base-image"))


def _registry_with_base(
    tmp_path_factory: pytest.TempPathFactory, mode: RegistryMode, layout: Path
) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp(f"real-registry-{mode.value}"), mode)
    try:
        server.start()
        push_base(layout, server, BASE_REPOSITORY, BASE_TAG)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def plain_registry(
    tmp_path_factory: pytest.TempPathFactory, base_layout: Path
) -> Iterator[RegistryServer]:
    """Plain HTTP, open to anyone (Kaniko's ``--insecure-registry``)."""
    yield from _registry_with_base(tmp_path_factory, RegistryMode.HTTP, base_layout)


@pytest.fixture(scope="session")
def auth_registry(
    tmp_path_factory: pytest.TempPathFactory, base_layout: Path
) -> Iterator[RegistryServer]:
    """HTTPS with a throwaway CA (Kaniko's ``--skip-tls-verify-registry``) and htpasswd users."""
    yield from _registry_with_base(tmp_path_factory, RegistryMode.TLS_BASIC, base_layout)


@pytest.fixture(scope="session")
def python_layout(executor_image: ExecutorImage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return make_python_layout(tmp_path_factory.mktemp("python-base"))
    except PythonBaseUnavailable as why:
        unavailable(str(why))


@pytest.fixture(scope="session")
def python_base(python_layout: Path, plain_registry: RegistryServer) -> str:
    """The Python base's reference in ``plain_registry``."""
    return push_python_base(python_layout, plain_registry)


@pytest.fixture
def index() -> Iterator[PackageIndex]:
    """The tests' token-protected package index over the Python base's wheels (a test file may
    define its own)."""
    try:
        wheels = wheels_dir()
    except PythonBaseUnavailable as why:
        unavailable(str(why))
    with PackageIndex(wheels) as served:
        yield served


@pytest.fixture
def real_namespace(
    runc_engine: RuncEngine,  # first: without the executor, skip before starting a cluster
    namespace: str,
    sim_node: SimulatedNode,
    request: pytest.FixtureRequest,
) -> Iterator[str]:
    sim_node.run_containers_with(namespace, runc_engine)
    try:
        yield namespace
    finally:
        sim_node.run_containers_with(namespace, None)
        runs = [r for r in runc_engine.runs if r.pod.namespace == namespace]
        deadline = time.monotonic() + 15
        while any(r.id in runc_engine.active() for r in runs) and time.monotonic() < deadline:
            time.sleep(0.1)
        _save_logs(sim_node, namespace, request.node.name)
        still = [r.id[:12] for r in runs if r.id in runc_engine.active()]
        assert still == [], f"containers of {namespace} still running 15 s after the test: {still}"


@pytest.fixture
def shell(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
) -> Iterator[InteractiveShell]:
    from tests.notebook.shell import cluster_shell  # IPython only for the tests that ask

    yield from cluster_shell(
        tmp_path, monkeypatch, admin_kubeconfig, real_namespace, catalog(plain_registry)
    )


def _save_logs(node: SimulatedNode, namespace: str, test_name: str) -> None:
    """Each pod's log as the node's ``/containerLogs`` endpoint serves it (lines + newline),
    and beside it the container's args and exit code (``.json``)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")
    for number, seen in enumerate(p for p in node.seen_pods if p.namespace == namespace):
        containers = {c["name"]: c for c in seen.pod["spec"]["containers"]}
        for name, state in seen.containers.items():
            data = b"".join(
                line.encode(errors="surrogateescape") + b"\n" for line in state.log.lines()
            )
            stem = f"{slug}.{number}.{name}"
            (LOG_DIR / f"{stem}.log").write_bytes(data)
            about = {
                "image": containers[name]["image"],
                "args": containers[name].get("args") or [],
                "exit_code": seen.exit_codes.get(name),
            }
            (LOG_DIR / f"{stem}.json").write_text(json.dumps(about, indent=1) + "\n")
