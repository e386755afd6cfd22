"""Reusing an image built from the same spec, against a real registry and the real cluster:
a cached build returns without a pod; --force builds anyway; can't-tell builds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from polymagic.builder import BuildOptions, build_image, start_build
from polymagic.cluster import Cluster, connect
from polymagic.compiler import compile_operation
from polymagic.loader import load_connections
from polymagic.manifests import KanikoOptions, build_manifests
from polymagic.progress import EventKind
from tests.cluster.simulated_node import SimulatedNode
from tests.conftest import SEED
from tests.registry.server import RegistryServer, push_test_image
from tests.test_build_cluster import _leftovers, _secret

pytestmark = pytest.mark.cluster


@pytest.fixture
def cluster(admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode) -> Iterator[Cluster]:
    connected = connect(admin_kubeconfig, namespace=namespace)
    _secret(connected)
    yield connected
    connected.close()


def _build(registry_host: str, repository: str):  # type: ignore[no-untyped-def]
    op = yaml.safe_load(SEED)
    op["params"]["destination"]["value"] = f"{repository}:1"
    catalog = [{
        "name": "docker-connection", "kind": "registry",
        "schema": {"url": registry_host, "insecure": True},
        "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"},
    }]  # fmt: skip
    return compile_operation(op, connections=load_connections(catalog))


OPTIONS = BuildOptions(
    timeout=120, start_timeout=60, stuck_grace=3, watch_timeout=2, kaniko=KanikoOptions()
)


def _pods(sim_node: SimulatedNode, namespace: str) -> int:
    return len([p for p in sim_node.seen_pods if p.namespace == namespace])


def test_cached_build_returns_the_existing_digest_without_a_pod(
    cluster: Cluster, sim_node: SimulatedNode, http_registry: RegistryServer, repository: str
) -> None:
    build = _build(http_registry.host, repository)
    manifests = build_manifests(build, namespace=cluster.namespace)
    # An earlier build of the same spec pushed its hash tag.
    digest = push_test_image(http_registry, repository, f"spec-{manifests.image_hash[:20]}")
    events = []
    result = build_image(cluster, build, OPTIONS, on_event=events.append)
    assert result.digest == digest
    assert result.image == f"{http_registry.host}/{repository}:1@{digest}"
    assert "not building it again" in events[0].message
    assert _pods(sim_node, cluster.namespace) == 0
    assert _leftovers(cluster) == []
    # --force builds anyway.
    forced = build_image(cluster, build, replace(OPTIONS, force=True))
    assert _pods(sim_node, cluster.namespace) == 1
    assert forced.digest != digest  # the simulated executor's own digest
    assert _leftovers(cluster) == []


def test_missing_image_is_built(
    cluster: Cluster, sim_node: SimulatedNode, http_registry: RegistryServer, repository: str
) -> None:
    build_image(cluster, _build(http_registry.host, repository), OPTIONS)
    assert _pods(sim_node, cluster.namespace) == 1


def test_registry_that_cannot_tell_means_build_with_a_warning(
    cluster: Cluster, sim_node: SimulatedNode, closed_port: str
) -> None:
    session = start_build(cluster, _build(closed_port, "team/app"), OPTIONS)
    events = list(session.events())
    warnings = [e.message for e in events if e.kind is EventKind.WARNING]
    assert any("could not tell" in w for w in warnings)
    assert events[-1].kind is EventKind.SUCCEEDED
    assert _pods(sim_node, cluster.namespace) == 1
