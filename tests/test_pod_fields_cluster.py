"""On the real control plane: a build whose operation widens its pod is refused before anything
is created, and runs (the pod carrying the field) once the field is allowed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.kube.client import Cluster, connect
from polymagic.kube.session import build_image
from polymagic.render.compiler import compile_operation
from polymagic.render.pod_fields import PodFieldRefused
from polymagic.spec.loader import load_connections
from tests.cluster.simulated_node import SimulatedNode
from tests.data import SEED
from tests.test_build_cluster import CATALOG, FAST, _leftovers, _secret

pytestmark = pytest.mark.cluster

PATCH = {
    "environment": {"hostPID": True, "hostNetwork": True},
    "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
}


@pytest.fixture
def cluster(admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode) -> Iterator[Cluster]:
    connected = connect(admin_kubeconfig, namespace=namespace)
    yield connected
    connected.close()


def _build() -> Any:
    op: dict[str, Any] = yaml.safe_load(SEED)
    op["runPatch"].update(PATCH)
    return compile_operation(op, connections=load_connections(CATALOG))


def test_a_widening_build_is_refused_before_anything_is_created(
    cluster: Cluster, sim_node: SimulatedNode
) -> None:
    _secret(cluster)
    with pytest.raises(
        PodFieldRefused, match=r"^environment\.hostPID: .* --allow-pod-field hostPID$"
    ):
        build_image(
            cluster, _build(), replace(FAST, allowed_pod_fields=("hostNetwork", "hostPath"))
        )
    assert _leftovers(cluster) == []
    assert [p for p in sim_node.seen_pods if p.namespace == cluster.namespace] == []


def test_the_allowed_fields_reach_the_pod(cluster: Cluster, sim_node: SimulatedNode) -> None:
    _secret(cluster)
    options = replace(FAST, allowed_pod_fields=("hostPID", "hostNetwork", "hostPath"))
    result = build_image(cluster, _build(), options)
    assert result.digest.startswith("sha256:")
    (seen,) = [p for p in sim_node.seen_pods if p.namespace == cluster.namespace]
    spec = seen.pod["spec"]
    assert (spec["hostPID"], spec["hostNetwork"]) == (True, True)
    assert spec["volumes"][0]["hostPath"]["path"] == "/"
